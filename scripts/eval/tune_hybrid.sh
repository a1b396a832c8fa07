#!/usr/bin/env bash
# Chooses the hybrid's defaults on VALIDATION splits of both real datasets, then reports the test
# splits with the chosen settings. reco only (its own reco.evaluate(), metrics in Rust); the peers
# on the same splits are scripts/eval/run.sh.
#
#   bash scripts/eval/tune_hybrid.sh [GRID_FILE]
#
# Starts a throwaway cluster (postgres, /tmp/reco-tune-pg, first free loopback port from 55570),
# loads four databases and deletes the cluster at exit:
#   ml_val   MovieLens ml-latest-small minus the test part of reco's 0.2 time split: the same
#            split of what is left is the validation split (scripts/eval/run.sh --validation)
#   ml_test  MovieLens, the 0.2 time split (the test split of BENCHMARKS.md)
#   amz_val  Amazon Toys minus each user's last item: leave-last-out scores the second-to-last
#   amz_test Amazon Toys, leave-last-out (each user's last item)
# GRID_FILE has one setting combination a line, as `name=value name=value ...` (reco.* settings);
# the default grid is below. Each line is evaluated on both validation databases; the table
# prints nDCG@10 and HR@10 and their ratio to the best line of each dataset. reco must be
# installed in the system PostgreSQL 15 (cargo pgrx install --release), or RECO_PG_BIN names the
# bin/ of another PostgreSQL 15 tree that has it (e.g. the private copy scripts/bench/run.sh makes,
# /tmp/reco-bench/inst/usr/lib/postgresql/15/bin, so a build can be scored without installing it).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PG_BIN="${RECO_PG_BIN:-/usr/lib/postgresql/15/bin}"
VENV="${RECO_EVAL_VENV:-/tmp/reco-eval-venv}"
PGDIR="${RECO_TUNE_PGDIR:-/tmp/reco-tune-pg}"
[ -x "$VENV/bin/python" ] || { echo "tune_hybrid: make the venv first (bash scripts/eval/run.sh --help)" >&2; exit 1; }

GRID="${1:-}"
DEFAULT_GRID='reco.knn_weight=0
reco.knn_weight=0.3
reco.knn_weight=0.5
reco.knn_weight=0.7
reco.knn_weight=0.9
reco.knn_weight=1'

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT=""
for p in $(seq 55570 55670); do
  if ! port_busy "$p"; then PORT=$p; break; fi
done
[ -n "$PORT" ] || { echo "tune_hybrid: no free port" >&2; exit 1; }
if [ -f "$PGDIR/pgdata/postmaster.pid" ]; then
  sudo -u postgres "$PG_BIN/pg_ctl" -D "$PGDIR/pgdata" -m fast stop || true
fi
rm -rf "$PGDIR"; mkdir -p "$PGDIR"; chown postgres "$PGDIR"
cleanup() {
  sudo -u postgres "$PG_BIN/pg_ctl" -D "$PGDIR/pgdata" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$PGDIR"
}
trap cleanup EXIT
sudo -u postgres "$PG_BIN/initdb" -D "$PGDIR/pgdata" -A trust -U postgres >/dev/null
sudo -u postgres "$PG_BIN/pg_ctl" -D "$PGDIR/pgdata" -l "$PGDIR/server.log" -w \
  -o "-p $PORT -c listen_addresses=127.0.0.1 -k $PGDIR -c shared_buffers=1GB" start >/dev/null
export PGHOST="$PGDIR" PGPORT="$PORT" PGUSER=postgres
for db in ml_val ml_test amz_val amz_test; do
  psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $db"
  psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "CREATE EXTENSION reco"
done
PGDATABASE=ml_test bash "$HERE/load_movielens.sh" >/dev/null
PGDATABASE=ml_val bash "$HERE/load_movielens.sh" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d ml_val -f "$HERE/ml_validation.sql"
PGDATABASE=amz_test "$VENV/bin/python" "$HERE/load_amazon.py" --holdout 0
PGDATABASE=amz_val "$VENV/bin/python" "$HERE/load_amazon.py" --holdout 1

# evaluate(10, tf) with the settings of one grid line: "ndcg hr" of the hybrid.
score() {
  local db="$1" tf="$2" line="$3" sets=""
  for kv in $line; do sets+="SET ${kv%%=*} = '${kv#*=}'; "; done
  psql -X -q -At -d "$db" -c "$sets SELECT round(ndcg_at_k::numeric, 4) || ' ' || round(hit_rate_at_k::numeric, 4) FROM reco.evaluate(10, $tf) WHERE method = 'hybrid'" | tail -1
}
[ -n "$GRID" ] && LINES="$(cat "$GRID")" || LINES="$DEFAULT_GRID"
echo "| settings | MovieLens val nDCG@10 | HR@10 | Amazon val nDCG@10 | HR@10 | seconds |"
echo "|---|---:|---:|---:|---:|---:|"
while IFS= read -r line; do
  [ -n "$line" ] || continue
  t0=$(date +%s.%N)
  ml=$(score ml_val 0.2 "$line")
  amz=$(score amz_val 1e-9 "$line")
  t1=$(date +%s.%N)
  printf '| %s | %s | %s | %s | %s | %.1f |\n' "$line" ${ml% *} ${ml#* } ${amz% *} ${amz#* } "$(echo "$t1 - $t0" | bc)"
done <<< "$LINES"
if [ -n "${RECO_TUNE_TEST:-}" ]; then
  echo
  echo "test splits with: $RECO_TUNE_TEST"
  echo "MovieLens test (nDCG HR): $(score ml_test 0.2 "$RECO_TUNE_TEST")"
  echo "Amazon test (nDCG HR): $(score amz_test 1e-9 "$RECO_TUNE_TEST")"
  for m in hybrid cf itemknn content popularity; do
    printf '%s: ML %s, Amazon %s\n' "$m" \
      "$(psql -X -q -At -d ml_test -c "SELECT round(ndcg_at_k::numeric, 4) FROM reco.evaluations WHERE method = '$m' ORDER BY evaluation_id DESC LIMIT 1")" \
      "$(psql -X -q -At -d amz_test -c "SELECT round(ndcg_at_k::numeric, 4) FROM reco.evaluations WHERE method = '$m' ORDER BY evaluation_id DESC LIMIT 1")"
  done
fi
