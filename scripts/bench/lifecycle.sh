#!/usr/bin/env bash
# Step 6 of scripts/bench/run.sh: what the model lifecycle and monitoring cost (issue #14 item 8:
# "the quality and drift steps add at most 20% to refresh() on tier M and tier L; serving
# statistics add at most 0.05 ms to a recommend() call at p50 on tier M").
#   a. refresh() interleaved A/B/A/B..., each in a new session:
#        A = SET reco.quality_users = 0 and no interaction since the active version (no quality
#            measurement, no drift windows);
#        B = the defaults (reco.quality_users = 1000) after inserting NEW_SHARE (1%) new
#            interactions (the newest rows copied one day later), so drift is measured too.
#      Per run: read/svd/tfidf/write/quality/drift seconds returned by refresh(), the wall time in
#      the session (clock_timestamp) and of psql end to end; then the B/A ratio of the medians
#      and (quality + drift) / total of B. Drift *counting* runs inside the read loop, so it shows
#      in read_seconds (B also reads 1% more rows), not in drift_seconds.
#   b. reco.refresh_progress read from another session every PROGRESS_INTERVAL (1 s) while each
#      of these refreshes runs (psql \watch; the same for A and B), saved per run.
#   c. (tier M, or any tier with RECO_BENCH_LIFECYCLE_SERVING=1) recommend() under pgbench
#      (recommend.sql, -M prepared -c 2 -j 2, WARMUP + DURATION s, warm-up dropped) with
#      shared_preload_libraries = 'reco' (serving statistics counted) against the same cluster
#      restarted without it (nothing counted), ON/OFF interleaved SERVING_PAIRS (2) times, a
#      restart and pg_prewarm before each; after each ON run, reco.serving_stats beside pgbench's
#      own p50 over the same calls; then LOOP_CALLS (10,000) recommend() calls in one backend
#      (generate_series + LATERAL, no client round trip), ms per call. The cluster is left
#      running preloaded, as run.sh started it.
# Runs against the cluster and database run.sh set up (PGHOST, PGPORT, PGDATABASE) and needs its
# RECO_BENCH_SERVER_BIN, RECO_BENCH_PGDATA and RECO_BENCH_SERVER_LOG (exported by run.sh) to
# restart it. $1 = tier (M|L), $2 = output directory, $3 = the summary file.
# Environment: RECO_BENCH_LIFECYCLE_PAIRS (A/B pairs: M 3, L 1), RECO_BENCH_NEW_SHARE (0.01),
#   RECO_BENCH_PROGRESS_INTERVAL (1 s), RECO_BENCH_SERVING_PAIRS (2), RECO_BENCH_LOOP_CALLS (10000),
#   WARMUP / DURATION as run.sh.
set -euo pipefail
tier=$1 out=$2 summary=$3
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PG_BIN=/usr/lib/postgresql/15/bin
SERVER_BIN=${RECO_BENCH_SERVER_BIN:?set by run.sh}
PGDATA=${RECO_BENCH_PGDATA:?set by run.sh}
SERVER_LOG=${RECO_BENCH_SERVER_LOG:?set by run.sh}
WARMUP=${RECO_BENCH_WARMUP:-10}
DURATION=${RECO_BENCH_DURATION:-30}
if [ "$tier" = M ]; then PAIRS=${RECO_BENCH_LIFECYCLE_PAIRS:-3}; else PAIRS=${RECO_BENCH_LIFECYCLE_PAIRS:-1}; fi
NEW_SHARE=${RECO_BENCH_NEW_SHARE:-0.01}
INTERVAL=${RECO_BENCH_PROGRESS_INTERVAL:-1}
SERVING_PAIRS=${RECO_BENCH_SERVING_PAIRS:-2}
LOOP_CALLS=${RECO_BENCH_LOOP_CALLS:-10000}
PSQL=("$PG_BIN/psql" -X -v ON_ERROR_STOP=1)
out="$out/lifecycle"
mkdir -p "$out"
load() { cut -d' ' -f1-3 /proc/loadavg; }
WATCH_PID=""
trap 'if [ -n "$WATCH_PID" ]; then kill "$WATCH_PID" 2>/dev/null || true; fi' EXIT

echo "-- lifecycle (issue #14 item 8): refresh() A = reco.quality_users 0, no new rows / B = defaults after $NEW_SHARE new rows, interleaved x $PAIRS; load $(load) --" | tee -a "$summary"

# The active version must cover every interaction, or A would measure drift: one priming refresh
# (not counted) when rows were added since the last refresh (or there was none).
pending=$("${PSQL[@]}" -At -c "SELECT coalesce((SELECT max(interaction_id) FROM reco.interactions) > (SELECT last_interaction_id FROM reco.models WHERE status = 'active'), true)")
if [ "$pending" = t ]; then
  "${PSQL[@]}" -At -c "SELECT 'priming refresh() (not counted), sum of its phases: ' || round((read_seconds + svd_seconds + tfidf_seconds + write_seconds + quality_seconds + drift_seconds)::numeric, 1) || ' s' FROM reco.refresh()" | tee -a "$summary"
fi

start_watch() {  # $1 = file
  "${PSQL[@]}" -q > "$1" 2>&1 <<SQL &
\pset footer off
SELECT to_char(clock_timestamp(), 'HH24:MI:SS.MS') AS at, pid, datname, phase, rows_read, rows_estimate, round(elapsed_seconds) AS s, phase_seconds FROM reco.refresh_progress
\watch $INTERVAL
SQL
  WATCH_PID=$!
}
stop_watch() {
  if [ -n "$WATCH_PID" ]; then kill "$WATCH_PID" 2>/dev/null || true; wait "$WATCH_PID" 2>/dev/null || true; fi
  WATCH_PID=""
}

printf '%-5s %-2s %8s %7s %7s %7s %7s %8s %7s %9s %9s %7s %6s %8s  %s\n' run ab rows read svd tfidf write quality drift wall_sql wall_psql ndcg10 drift# quality# load | tee -a "$summary"
run_refresh() {  # $1 = A|B, $2 = run number
  local ab=$1 i=$2 n=0 set_q="" t0 t1 log="$out/refresh_$1$2.log"
  if [ "$ab" = B ]; then
    n=$("${PSQL[@]}" -At -c "SELECT greatest(1, round(count(*) * $NEW_SHARE))::bigint FROM reco.interactions")
    "${PSQL[@]}" -qc "INSERT INTO reco.interactions (user_id, shoe_id, action, occurred_at)
      SELECT user_id, shoe_id, action, occurred_at + interval '1 day' FROM reco.interactions ORDER BY interaction_id DESC LIMIT $n"
  else
    set_q="SET reco.quality_users = 0;"
  fi
  local l0; l0=$(load)
  start_watch "$out/progress_$ab$i.txt"
  sleep 0.3
  t0=$(date +%s.%N)
  "${PSQL[@]}" -q > "$log" 2>&1 <<SQL
$set_q
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
SELECT * FROM reco.refresh() \gset r_
SELECT round((extract(epoch FROM clock_timestamp()) - :t0)::numeric, 3) AS wall \gset
SELECT (SELECT count(*) FROM reco.model_drift WHERE model_id = :r_model_id) AS ndrift,
       (SELECT count(*) FROM reco.model_quality WHERE model_id = :r_model_id) AS nquality \gset
\echo RESULT model=:r_model_id status=:r_status interactions=:r_interactions read=:r_read_seconds svd=:r_svd_seconds tfidf=:r_tfidf_seconds write=:r_write_seconds quality=:r_quality_seconds drift=:r_drift_seconds ndcg=:r_ndcg_at_10 wall=:wall ndrift=:ndrift nquality=:nquality
SQL
  t1=$(date +%s.%N)
  sleep 0.3
  stop_watch
  local line; line=$(grep '^RESULT' "$log") || { cat "$log"; exit 1; }
  kv() { echo "$line" | tr ' ' '\n' | awk -F= -v k="$1" '$1==k{print $2}'; }
  local ndcg; ndcg=$(kv ndcg); case "$ndcg" in ""|:*) ndcg=NaN ;; esac   # NULL: \gset leaves the variable unset
  printf '%-5s %-2s %8s %7.2f %7.2f %7.2f %7.2f %8.2f %7.3f %9.2f %9.2f %7.4f %6s %8s  %s\n' "$ab$i" "$ab" "$n" "$(kv read)" "$(kv svd)" "$(kv tfidf)" "$(kv write)" \
    "$(kv quality)" "$(kv drift)" "$(kv wall)" "$(echo "$t1 - $t0" | bc)" "$ndcg" "$(kv ndrift)" "$(kv nquality)" "$l0" | tee -a "$summary" "$out/refresh.table" >/dev/null
  tail -1 "$out/refresh.table"
  echo "$line ab=$ab new_rows=$n wall_psql=$(echo "$t1 - $t0" | bc) load=${l0// /,}" >> "$out/refresh.kv"
}
rm -f "$out/refresh.table" "$out/refresh.kv"
for i in $(seq 1 "$PAIRS"); do
  run_refresh A "$i"
  run_refresh B "$i"
done
python3 - "$out/refresh.kv" <<'PY' | tee -a "$summary"
import statistics, sys
runs = [dict(kv.split("=", 1) for kv in l.split()[1:]) for l in open(sys.argv[1])]
def tot(r): return sum(float(r[k]) for k in ("read", "svd", "tfidf", "write", "quality", "drift"))
for ab in "AB":
    rs = [r for r in runs if r["ab"] == ab]
    print(f"{ab}: wall_sql {' '.join(r['wall'] for r in rs)} s (median {statistics.median(float(r['wall']) for r in rs):.2f}); "
          f"sum of phases (they overlap: tfidf runs beside read) median {statistics.median(tot(r) for r in rs):.2f} s; read median {statistics.median(float(r['read']) for r in rs):.2f} s")
A = [r for r in runs if r["ab"] == "A"]; B = [r for r in runs if r["ab"] == "B"]
pairs = [float(b["wall"]) / float(a["wall"]) for a, b in zip(A, B)]
ma, mb = statistics.median(float(r["wall"]) for r in A), statistics.median(float(r["wall"]) for r in B)
qd = [(float(r["quality"]) + float(r["drift"])) / float(r["wall"]) for r in B]
dread = statistics.median(float(r["read"]) for r in B) - statistics.median(float(r["read"]) for r in A)
print(f"LIFECYCLE refresh B/A (wall_sql): medians {mb:.2f} / {ma:.2f} s = {mb / ma:.3f} (+{100 * (mb / ma - 1):.1f}%); "
      f"per pair {', '.join(f'{p:.3f}' for p in pairs)}; (quality + drift) / B total: "
      f"{', '.join(f'{100 * q:.1f}%' for q in qd)}; read B - A (medians, drift counting + {B[0]['new_rows']} more rows): {dread:+.2f} s")
# The phases overlap (tfidf runs in a thread beside read, and since 0.4.0 the quality stage runs
# beside the write), so wall_sql is the total and B/A above is the cost. The line below is only an
# upper bound: what the new steps would add if they ran after the write, one after the other.
qdm = statistics.median(float(r["quality"]) + float(r["drift"]) for r in B)
print(f"LIFECYCLE serial upper bound (if quality ran after the write): (median quality + drift of B {qdm:.2f} s + read B - A {dread:+.2f} s) / median A wall {ma:.2f} s = {100 * (qdm + dread) / ma:+.1f}%")
PY
# A few progress lines of the last B run (the full samples are in $out/progress_*.txt).
echo "reco.refresh_progress during B$PAIRS (every $INTERVAL s, from another session):" | tee -a "$summary"
grep -E '^ *[0-9]{2}:[0-9]{2}:' "$out/progress_B$PAIRS.txt" | grep '|' | sed 's/^/  /' | tee -a "$summary" || true

# ---- c. serving statistics: preloaded vs not ----
if [ "$tier" != M ] && [ "${RECO_BENCH_LIFECYCLE_SERVING:-0}" != 1 ]; then exit 0; fi
restart_with() {  # $1 = shared_preload_libraries value ('reco' or '')
  sudo -u postgres "$SERVER_BIN/pg_ctl" -D "$PGDATA" -l "$SERVER_LOG" -m fast -w restart -o "-c shared_preload_libraries='$1'" >/dev/null
}
max_uid=$("${PSQL[@]}" -At -c "SELECT max(user_id) FROM reco.users")
echo "-- serving statistics: recommend(uid, 10) pgbench -M prepared -c 2 -j 2 -T $((WARMUP + DURATION)), first $WARMUP s dropped; preloaded (on) vs not (off), restart + pg_prewarm before each --" | tee -a "$summary"
rm -f "$out/serving.json"
for i in $(seq 1 "$SERVING_PAIRS"); do
  for mode in on off; do
    if [ $mode = on ]; then restart_with reco; else restart_with ""; fi
    spl=$("${PSQL[@]}" -At -c "SHOW shared_preload_libraries")
    "${PSQL[@]}" -At -c "SELECT sum(pg_prewarm(c)) FROM unnest(ARRAY['reco.interactions', 'reco.interactions_user_time_idx', 'reco.users', 'reco.users_pkey', 'reco.action_weights']::regclass[]) c" >/dev/null
    l0=$(load)
    rm -f "$out"/srv_$mode$i.*
    (cd "$out" && "$PG_BIN/pgbench" -n -M prepared -c 2 -j 2 -T $((WARMUP + DURATION)) -D max_uid="$max_uid" \
       -f "$HERE/recommend.sql" -l --log-prefix="srv_$mode$i" > "pgbench_srv_$mode$i.out" 2>&1) || { cat "$out/pgbench_srv_$mode$i.out"; exit 1; }
    echo "  run $mode$i: shared_preload_libraries = '$spl', load $l0 -> $(load)" | tee -a "$summary"
    python3 "$HERE/latency.py" --skip "$WARMUP" --label "srv_$mode$i" --json "$out/serving.json" "$out"/srv_$mode$i.* | sed 's/^/  /' | tee -a "$summary"
    if [ $mode = on ]; then
      # serving_stats counts every call since the restart (the warm-up too): pgbench over all of them beside it.
      python3 "$HERE/latency.py" --label "srv_${mode}${i}_all" "$out"/srv_$mode$i.* | sed 's/^/  pgbench, warm-up included: /' | tee -a "$summary"
      "${PSQL[@]}" -c "SELECT function, model_id, calls, errors, cold_start, round(mean_ms::numeric, 3) AS mean_ms, round(p50_ms::numeric, 3) AS p50_ms, round(p90_ms::numeric, 3) AS p90_ms, round(p99_ms::numeric, 3) AS p99_ms, note FROM reco.serving_stats" \
        | sed 's/^/  /' | tee -a "$summary"
    else
      "${PSQL[@]}" -At -c "SELECT 'serving_stats when not preloaded: ' || coalesce(note, '(no note)') FROM reco.serving_stats" | sed 's/^/  /' | tee -a "$summary"
    fi
    # The same calls in one backend, no client in the loop: LOOP_CALLS recommend() calls after
    # 1,000 warm-up calls, wall time per call (server side, one core).
    "${PSQL[@]}" -At > "$out/loop_$mode$i.log" 2>&1 <<SQL
SELECT count(*) FROM generate_series(1, 1000) g, LATERAL reco.recommend(1 + (g * 7919) % $max_uid, 10) r;
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
SELECT count(*) FROM generate_series(1, $LOOP_CALLS) g, LATERAL reco.recommend(1 + (g * 104729) % $max_uid, 10) r;
SELECT format('LOOP mode=$mode run=$i calls=$LOOP_CALLS ms_per_call=%s', round(((extract(epoch FROM clock_timestamp()) - :t0) * 1000 / $LOOP_CALLS)::numeric, 4));
SQL
    grep '^LOOP' "$out/loop_$mode$i.log" | sed 's/^/  /' | tee -a "$summary" || { cat "$out/loop_$mode$i.log"; exit 1; }
  done
done
restart_with reco
python3 - "$out/serving.json" <<'PY' | tee -a "$summary"
import json, statistics, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
on = [r for r in rs if r["label"].startswith("srv_on")]; off = [r for r in rs if r["label"].startswith("srv_off")]
pon, poff = statistics.median(r["p50_ms"] for r in on), statistics.median(r["p50_ms"] for r in off)
print(f"LIFECYCLE serving stats p50: on {' '.join(str(r['p50_ms']) for r in on)} ms, off {' '.join(str(r['p50_ms']) for r in off)} ms; "
      f"median on - off = {pon - poff:+.3f} ms; per pair {', '.join('%+.3f' % (a['p50_ms'] - b['p50_ms']) for a, b in zip(on, off))} ms; "
      f"TPS on {' '.join(str(r['tps']) for r in on)}, off {' '.join(str(r['tps']) for r in off)}")
PY
grep -h '^LOOP' "$out"/loop_*.log | python3 -c '
import statistics, sys
rs = [dict(kv.split("=", 1) for kv in l.split()[1:]) for l in sys.stdin]
on = [float(r["ms_per_call"]) for r in sorted(rs, key=lambda r: r["run"]) if r["mode"] == "on"]
off = [float(r["ms_per_call"]) for r in sorted(rs, key=lambda r: r["run"]) if r["mode"] == "off"]
print(f"LIFECYCLE serving stats, one-backend loop: on {on} ms/call, off {off} ms/call; median on - off = {statistics.median(on) - statistics.median(off):+.4f} ms; "
      f"per pair {[round(a - b, 4) for a, b in zip(on, off)]}")' | tee -a "$summary"
