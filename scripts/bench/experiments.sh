#!/usr/bin/env bash
# Step 5 of scripts/bench/run.sh on tier M: what the A/B-test calls cost (issue #13 item 9).
#   a. serve() with an experiment running beside recommend(), pgbench in the same session;
#   b. log_event() of a click on a shown shoe;
#   c. experiment_results() over 10 million logged events (1M impressions of 10 shoes, 100k users).
# Runs against the benchmark cluster and database run.sh set up (PGHOST, PGPORT, PGDATABASE);
# $1 = output directory, $2 = the summary file. WARMUP / DURATION as in run.sh.
set -euo pipefail
out=$1 summary=$2
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PG_BIN=/usr/lib/postgresql/15/bin
WARMUP=${RECO_BENCH_WARMUP:-10}
DURATION=${RECO_BENCH_DURATION:-30}
PSQL=("$PG_BIN/psql" -X -v ON_ERROR_STOP=1)
max_uid=$("${PSQL[@]}" -At -c "SELECT max(user_id) FROM reco.users")

echo "-- A/B tests: serve() with an experiment (popularity 50 / hybrid 50) vs recommend(), pgbench -M prepared -c 2 -j 2 -T $((WARMUP + DURATION)) each, first $WARMUP s dropped --" | tee -a "$summary"
"${PSQL[@]}" -q <<'SQL'
DELETE FROM reco.experiments;
SELECT reco.create_experiment('bench-serve', '[{"name": "control", "strategy": "popularity", "weight": 50},
                                               {"name": "treatment", "strategy": "hybrid", "weight": 50}]');
SELECT reco.start_experiment('bench-serve');
SQL
# serve() commits a write (the impression): also measured with synchronous_commit = off for the
# session, which separates the WAL flush at commit from the work of the call.
for run in recommend serve serve_async; do
  script=${run%_async}
  opts=""; [ "$run" = serve_async ] && opts="-c synchronous_commit=off"
  (cd "$out" && PGOPTIONS="$opts" "$PG_BIN/pgbench" -n -M prepared -c 2 -j 2 -T $((WARMUP + DURATION)) -D max_uid="$max_uid" \
     -f "$HERE/$script.sql" -l --log-prefix="ab_$run" > "pgbench_ab_$run.out" 2>&1) || { cat "$out/pgbench_ab_$run.out"; exit 1; }
  python3 "$HERE/latency.py" --skip "$WARMUP" --label "ab_$run" --json "$out/pgbench.json" "$out"/ab_$run.* | tee -a "$summary"
done
"${PSQL[@]}" -At -c "SELECT 'impressions recorded by serve(): ' || count(*) || ', arms ' || string_agg(DISTINCT arm, '/') FROM reco.impressions WHERE experiment_id IS NOT NULL" | tee -a "$summary"

max_rid=$("${PSQL[@]}" -At -c "SELECT max(request_id) FROM reco.impressions")
echo "-- log_event(request, shown shoe, 'click'): pgbench -M prepared -c 2 -j 2 -T $((WARMUP + DURATION)), first $WARMUP s dropped, requests 1..$max_rid --" | tee -a "$summary"
for run in log_event log_event_async; do
  opts=""; [ "$run" = log_event_async ] && opts="-c synchronous_commit=off"
  (cd "$out" && PGOPTIONS="$opts" "$PG_BIN/pgbench" -n -M prepared -c 2 -j 2 -T $((WARMUP + DURATION)) -D max_rid="$max_rid" \
     -f "$HERE/log_event.sql" -l --log-prefix="ab_$run" > "pgbench_ab_$run.out" 2>&1) || { cat "$out/pgbench_ab_$run.out"; exit 1; }
  python3 "$HERE/latency.py" --skip "$WARMUP" --label "ab_$run" --json "$out/pgbench.json" "$out"/ab_$run.* | tee -a "$summary"
done

echo "-- experiment_results() over 10M events: 100k users x 10 visits (1M impressions of 10 shoes), 8M clicks, 1.5M cart adds, 0.5M purchases, written straight into the log --" | tee -a "$summary"
"${PSQL[@]}" -q > "$out/experiment_results.log" 2>&1 <<'SQL'
SELECT reco.stop_experiment('bench-serve');
SELECT reco.create_experiment('bench-10m', '[{"name": "A", "strategy": "popularity", "weight": 1},
                                             {"name": "B", "strategy": "hybrid", "weight": 1}]');
SELECT reco.start_experiment('bench-10m');
SET synchronous_commit = off;
SELECT clock_timestamp() AS t0 \gset
INSERT INTO reco.impressions (experiment_id, arm, placement, user_id, shown_at, shoe_ids)
SELECT e.experiment_id, CASE WHEN reco.experiment_bucket(e.seed, u) < 5000 THEN 'A' ELSE 'B' END, 'home', u,
       now() - interval '10 days' + v * interval '1 day', ARRAY(SELECT 1 + (u * 31 + v * 7 + s) % 20000 FROM generate_series(1, 10) s)
FROM reco.experiments e, generate_series(1, 100000) u, generate_series(1, 10) v
WHERE e.name = 'bench-10m';
INSERT INTO reco.events (request_id, shoe_id, kind, order_value, occurred_at)
SELECT i.request_id, i.shoe_ids[p], k.kind, CASE WHEN k.kind = 'purchase' THEN 20 + (i.request_id % 180) END, i.shown_at
FROM reco.impressions i
JOIN reco.experiments e ON e.experiment_id = i.experiment_id AND e.name = 'bench-10m',
     generate_series(1, 10) p,
     LATERAL (SELECT 'click' AS kind WHERE p <= 8
              UNION ALL SELECT 'add_to_cart' WHERE p = 9 OR (p = 10 AND i.request_id % 2 = 0)
              UNION ALL SELECT 'purchase' WHERE p = 10 AND i.request_id % 2 = 1) k;
SELECT format('log written in %s s: %s impressions, %s events', round(extract(epoch FROM clock_timestamp() - :'t0')::numeric, 1),
              (SELECT count(*) FROM reco.impressions i JOIN reco.experiments e USING (experiment_id) WHERE e.name = 'bench-10m'),
              (SELECT count(*) FROM reco.events));
VACUUM ANALYZE reco.impressions, reco.events;
SELECT clock_timestamp() AS t0 \gset
SELECT count(*) FROM reco.experiment_results('bench-10m');
SELECT format('experiment_results, run 1: %s s', round(extract(epoch FROM clock_timestamp() - :'t0')::numeric, 2));
SELECT clock_timestamp() AS t0 \gset
SELECT count(*) FROM reco.experiment_results('bench-10m');
SELECT format('experiment_results, run 2: %s s', round(extract(epoch FROM clock_timestamp() - :'t0')::numeric, 2));
SELECT clock_timestamp() AS t0 \gset
SELECT count(*) FROM reco.experiment_results('bench-10m');
SELECT format('experiment_results, run 3: %s s', round(extract(epoch FROM clock_timestamp() - :'t0')::numeric, 2));
-- The plan of the one query experiment_results() runs (src/experiments.rs, totals()).
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT i.arm, count(*) AS impressions, sum(t.clicks)::int8 AS clicks, sum(t.orders)::int8 AS orders,
       sum(t.revenue)::float8 AS revenue
FROM reco.impressions i LEFT JOIN reco.request_totals t USING (request_id)
WHERE i.experiment_id = (SELECT experiment_id FROM reco.experiments WHERE name = 'bench-10m')
GROUP BY i.arm, i.user_id, i.visitor;
SELECT arm, users, impressions, clicks, round(ctr::numeric, 4) AS ctr, conversions, orders, round(revenue::numeric) AS revenue,
       round(aov::numeric, 2) AS aov, round(ctr_p_value::numeric, 4) AS ctr_p, round(srm_p_value::numeric, 4) AS srm_p, verdict
FROM reco.experiment_results('bench-10m');
SQL
cat "$out/experiment_results.log"
grep -E 'log written|experiment_results, run' "$out/experiment_results.log" | sed 's/^ *//' | tee -a "$summary"
sed -n '/QUERY PLAN/,/Execution Time/p' "$out/experiment_results.log" | tee -a "$summary"
