#!/usr/bin/env bash
# HTTP benchmark of reco-web (BENCHMARKS.md, "HTTP API"): GET /api/recommendations/{uid} under
# 2 concurrent connections (wrk, uid random over all users), beside pgbench in the same run on
#   a. SELECT * FROM reco.recommend(uid, 10)                  (the SQL-level number of BENCHMARKS.md)
#   b. the statement reco-web runs for that endpoint, as its role (recommend + names + JSON)
# so the HTTP overhead is visible.
#
#   bash scripts/web/bench.sh [M|small] [PKG_DIR]
#
# M (default) loads tier M (100k users, 20k shoes, 2M interactions; scripts/load_tier.sh, a few
# minutes); small loads data/. PKG_DIR defaults to ${CARGO_TARGET_DIR:-target}/release/reco-pg15
# (`cargo pgrx package`: release build of the extension); reco-web and reco-datagen are built with
# --release. Private cluster as scripts/web/test.sh (scripts/web/cluster.sh), removed on exit;
# results in $RECO_WEB_BENCH_DIR/results-<UTC>/ (default /tmp/reco-web-bench).
# Environment: RECO_WEB_BENCH_SECONDS (30 per measurement), RECO_WEB_BENCH_WARMUP (5),
# RECO_WEB_BENCH_ROUNDS (2: each round runs (a), (b) and wrk once),
# RECO_WEB_BENCH_FACTORS (64, as scripts/bench/run.sh, so the numbers compare with its runs).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"
TIER=${1:-M}
case "$TIER" in M|m) TIER=M ;; small) ;; *) echo "usage: $0 [M|small] [PKG_DIR]" >&2; exit 2 ;; esac
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
PKG=${2:-$TARGET_DIR/release/reco-pg15}
DIR=${RECO_WEB_BENCH_DIR:-/tmp/reco-web-bench}
SECS=${RECO_WEB_BENCH_SECONDS:-30}
WARMUP=${RECO_WEB_BENCH_WARMUP:-5}
FACTORS=${RECO_WEB_BENCH_FACTORS:-64}
ROUNDS=${RECO_WEB_BENCH_ROUNDS:-2}
DB=reco_web_bench
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RES="$DIR/results-$STAMP"
source "$ROOT/scripts/web/cluster.sh"
command -v wrk >/dev/null || { echo "web bench: wrk missing (Debian package wrk; scripts/setup.sh installs it)" >&2; exit 1; }

WEB_PID=""
cleanup() {
  local rc=$?
  if [ -n "$WEB_PID" ]; then kill "$WEB_PID" 2>/dev/null || true; wait "$WEB_PID" 2>/dev/null || true; fi
  web_cluster_stop
  rm -rf "$DIR/data"
  [ $rc -eq 0 ] || echo "web bench: FAILED (exit $rc)" >&2
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cargo build --release --quiet -p reco-web -p reco-datagen
mkdir -p "$RES"
SUM="$RES/summary.txt"
{
  echo "reco-web HTTP benchmark $STAMP, tier $TIER"
  echo "host: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GB RAM; git $(git rev-parse --short HEAD)"
  echo "uptime at start: $(uptime)"
} | tee "$SUM"

web_cluster_start "$PKG" "$DIR" "shared_buffers = 1GB" "work_mem = 64MB" "maintenance_work_mem = 1GB" "max_wal_size = 8GB"
web_load_shop "$ROOT" "$DB"
web_psql "$DB" -c "ALTER DATABASE $DB SET reco.factors = $FACTORS"
if [ "$TIER" = M ]; then
  echo "== loading tier M (scripts/load_tier.sh M) =="
  PGHOST="$PGHOST_WEB" PGPORT="$PGPORT_WEB" PGUSER=postgres PGDATABASE="$DB" bash scripts/load_tier.sh M > "$RES/load.log" 2>&1
  web_psql "$DB" -c "VACUUM (ANALYZE) reco.users, reco.shoes, reco.interactions"
fi
web_psql "$DB" -At -c "SELECT 'refresh(): model ' || model_id || ', ' || users || ' users, ' || shoes || ' shoes, ' || interactions || ' interactions' FROM reco.refresh()" | tee -a "$SUM"
MAX_UID=$(web_psql "$DB" -At -c "SELECT max(user_id) FROM reco.users")

PORT=$(for p in $(seq 58280 58379); do (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; break; }; done)
# No rate limit for the benchmark (one client IP at thousands of requests/s); 4 connections,
# twice wrk's 2.
PGHOST="$PGHOST_WEB" PGPORT="$PGPORT_WEB" PGUSER=reco_web PGDATABASE="$DB" \
  "$TARGET_DIR/release/reco-web" --listen "127.0.0.1:$PORT" --read-rate 0 --pool-size 4 > "$RES/web.log" 2>&1 &
WEB_PID=$!
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
URL="http://127.0.0.1:$PORT"
curl -fsS "$URL/api/recommendations/7" > "$RES/sample.json"

pgb() {  # label script role
  local label=$1 script=$2 role=$3
  (cd "$RES" && sudo -u postgres "$PG_BIN/pgbench" -n -M prepared -h "$PGHOST_WEB" -p "$PGPORT_WEB" -U "$role" -c 2 -j 2 \
     -T $((WARMUP + SECS)) -D max_uid="$MAX_UID" -f "$script" -l --log-prefix="$label" "$DB" > "$RES/pgbench_$label.out" 2>&1) \
    || { cat "$RES/pgbench_$label.out"; exit 1; }
  python3 scripts/bench/latency.py --skip "$WARMUP" --label "$label" "$RES"/"$label".* | tee -a "$SUM"
}
chmod -R a+rX "$RES"
cp scripts/bench/recommend.sql scripts/web/recommend_http.sql "$RES"/
chown -R postgres "$RES"

echo "-- 2 clients each, uid random 1..$MAX_UID, $SECS s after $WARMUP s of warm-up; $ROUNDS rounds of (a), (b), wrk --" | tee -a "$SUM"
# Rounds alternate the three measurements, so a change of the machine's load (other people's
# builds) shows up as a difference between rounds rather than between the measurements.
for r in $(seq 1 "$ROUNDS"); do
  echo "round $r, uptime: $(uptime)" | tee -a "$SUM"
  pgb "sql_recommend_r$r" "$RES/recommend.sql" reco_web
  pgb "sql_http_statement_r$r" "$RES/recommend_http.sql" reco_web
  RECO_MAX_UID="$MAX_UID" wrk -t 2 -c 2 -d "${WARMUP}s" -s scripts/web/users.lua "$URL" > "$RES/wrk_warmup_r$r.txt"
  RECO_MAX_UID="$MAX_UID" wrk -t 2 -c 2 -d "${SECS}s" --latency -s scripts/web/users.lua "$URL" > "$RES/wrk_r$r.txt"
  W="$RES/wrk_r$r.txt"
  NON2XX=$(awk '/Non-2xx/ {print $NF}' "$W")
  echo "wrk_r$r GET /api/recommendations/{uid}: $(awk '/Requests\/sec/ {print $2}' "$W") req/s, latency p50 $(awk '$1 == "50%" {print $2}' "$W"), p90 $(awk '$1 == "90%" {print $2}' "$W"), p99 $(awk '$1 == "99%" {print $2}' "$W"); non-2xx responses: ${NON2XX:-0}" | tee -a "$SUM"
done
{
  echo "uptime at the end: $(uptime)"
  echo "results: $RES"
} | tee -a "$SUM"
