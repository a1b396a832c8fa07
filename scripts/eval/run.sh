#!/usr/bin/env bash
# Accuracy evaluation of reco against peer recommenders on the same time split
# (scripts/eval/peers.py says exactly what is trained and how it is scored).
#
#   bash scripts/eval/run.sh --throwaway [peers.py options]
#       starts its own PostgreSQL 15 cluster (owned by postgres, in $RECO_EVAL_PGDIR, default
#       /tmp/reco-eval-pg, on the first free loopback port from 55466; never 5432, never another
#       cluster), creates the extension, loads MovieLens ml-latest-small, runs peers.py, then stops
#       and deletes that cluster. reco must already be installed in the system PostgreSQL 15:
#       cargo pgrx install --release --pg-config /usr/lib/postgresql/15/bin/pg_config
#   PGHOST=... PGPORT=... PGDATABASE=... bash scripts/eval/run.sh [--load] [peers.py options]
#       uses an existing database that has CREATE EXTENSION reco; --load first replaces its
#       users, shoes and interactions with MovieLens (scripts/eval/load_movielens.sh, TRUNCATE
#       ... CASCADE).
#   peers.py options: --k 10 --test-fraction 0.2 --tune --check-evaluate --methods a,b,...
#                     --out DIR (default /tmp/reco-eval: train.csv, test.csv, rankings.csv, results.md)
#
# Python: a venv in $RECO_EVAL_VENV (default /tmp/reco-eval-venv), created on first use with the
# pinned packages below (pip is pinned to 24.3.1 because lightfm 1.17 only builds with the legacy
# --no-use-pep517 install, which newer pip removed). BLAS runs single-threaded
# (OPENBLAS_NUM_THREADS=1 etc.) and so do implicit and LightFM, for repeatable timings; reco itself
# runs inside the server with its own thread pool.
#
# Data: MovieLens ml-latest-small, read in place from $RECO_MOVIELENS_DIR (default
# ../shared/datasets/ml-latest-small next to the repository), never copied into the repository.
# Acknowledgement (required by its licence): F. Maxwell Harper and Joseph A. Konstan. 2015. The
# MovieLens Datasets: History and Context. ACM Transactions on Interactive Intelligent Systems
# (TiiS) 5, 4: 19:1-19:19. https://doi.org/10.1145/2827872
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
VENV="${RECO_EVAL_VENV:-/tmp/reco-eval-venv}"
PG_BIN=/usr/lib/postgresql/15/bin

THROWAWAY=0
LOAD=0
DATASET=movielens
HOLDOUT=0
PEER_ARGS=()
for a in "$@"; do
  case "$a" in
    --throwaway) THROWAWAY=1 ;;
    --load) LOAD=1 ;;
    --amazon) DATASET=amazon ;;
    --validation) HOLDOUT=1 ;;
    *) PEER_ARGS+=("$a") ;;
  esac
done
# Amazon Toys is scored leave-last-out: a test fraction below 1 / (longest sequence) holds out
# exactly each user's last item (scripts/eval/load_amazon.py); --validation drops that item
# first, so the second-to-last is scored. MovieLens --validation deletes the test part of the
# time split (test fraction 0.2) after loading, so the same split of what is left is scored.
if [ "$DATASET" = amazon ]; then
  PEER_ARGS=(--test-fraction 1e-9 --item-features description "${PEER_ARGS[@]}")
fi

# ---- the venv ------------------------------------------------------------------------------
PINS=(numpy==2.4.6 scipy==1.17.1 scikit-learn==1.9.1 implicit==0.7.3 "psycopg[binary]==3.3.9")
STAMP="pip==24.3.1 setuptools==65.5.0 wheel==0.48.0 ${PINS[*]} lightfm==1.17"
if [ ! -f "$VENV/.reco-eval-stamp" ] || [ "$(cat "$VENV/.reco-eval-stamp")" != "$STAMP" ]; then
  echo "== creating the Python venv in $VENV ==" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check pip==24.3.1
  "$VENV/bin/pip" install -q setuptools==65.5.0 wheel==0.48.0 numpy==2.4.6 scipy==1.17.1
  "$VENV/bin/pip" install -q "${PINS[@]}"
  "$VENV/bin/pip" install -q --no-use-pep517 --no-build-isolation lightfm==1.17
  echo "$STAMP" > "$VENV/.reco-eval-stamp"
fi
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

# ---- the database ----------------------------------------------------------------------------
if [ "$THROWAWAY" = 1 ]; then
  PGDIR="${RECO_EVAL_PGDIR:-/tmp/reco-eval-pg}"
  port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
  PORT=""
  for p in $(seq 55466 55566); do
    if ! port_busy "$p"; then PORT=$p; break; fi
  done
  [ -n "$PORT" ] || { echo "run.sh: no free port in 55466-55566" >&2; exit 1; }
  if [ -f "$PGDIR/pgdata/postmaster.pid" ]; then
    sudo -u postgres "$PG_BIN/pg_ctl" -D "$PGDIR/pgdata" -m fast stop || true
  fi
  rm -rf "$PGDIR"
  mkdir -p "$PGDIR"
  chown postgres "$PGDIR"
  cleanup() {
    sudo -u postgres "$PG_BIN/pg_ctl" -D "$PGDIR/pgdata" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$PGDIR"
  }
  trap cleanup EXIT
  echo "== throwaway cluster in $PGDIR on 127.0.0.1:$PORT ==" >&2
  sudo -u postgres "$PG_BIN/initdb" -D "$PGDIR/pgdata" -A trust -U postgres >/dev/null
  sudo -u postgres "$PG_BIN/pg_ctl" -D "$PGDIR/pgdata" -l "$PGDIR/server.log" -w \
    -o "-p $PORT -c listen_addresses=127.0.0.1 -k $PGDIR" start >/dev/null
  export PGHOST="$PGDIR" PGPORT="$PORT" PGUSER=postgres PGDATABASE=reco_eval
  psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE reco_eval"
  psql -X -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION reco"
  LOAD=1
fi
if [ "$LOAD" = 1 ]; then
  if [ "$DATASET" = amazon ]; then
    "$VENV/bin/python" "$HERE/load_amazon.py" --holdout "$HOLDOUT" >&2
  else
    bash "$HERE/load_movielens.sh" >&2
    if [ "$HOLDOUT" = 1 ]; then
      psql -X -q -v ON_ERROR_STOP=1 -f "$HERE/ml_validation.sql" >&2
      echo "validation: the test part of the 0.2 time split deleted; scoring the split of the rest" >&2
    fi
  fi
fi

echo "== peers.py on $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc --all) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB RAM ==" >&2
"$VENV/bin/python" "$HERE/peers.py" "${PEER_ARGS[@]}"
