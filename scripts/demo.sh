#!/usr/bin/env bash
# The demo command (README "Run the demo"): set-up, build and install reco into the system
# PostgreSQL 15, start a throwaway cluster on a free loopback port (never 5432, never an existing
# cluster), load data/, refresh, and print real output of every SQL function.
# The cluster is left running so you can explore it; the last lines say how to connect and stop.
# Running the demo again stops and recreates its own cluster.
# After the data is loaded it also starts the web dashboard and HTTP API (reco-web, README "Web
# dashboard and HTTP API") on a free loopback port and prints its URL; it runs while the demo
# runs and is stopped when the demo ends or is stopped. RECO_DEMO_WEB=keep leaves it running
# after the demo (the last lines say how to stop it); RECO_DEMO_WEB=off does not start it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

PG_BIN=/usr/lib/postgresql/15/bin
DEMO_DIR=${RECO_DEMO_DIR:-/tmp/reco-demo}
DB=reco_demo

echo "== building and installing reco into PostgreSQL 15 =="
cargo pgrx install --release --pg-config "$PG_BIN/pg_config"
WEB_MODE=${RECO_DEMO_WEB:-on}
if [ "$WEB_MODE" != off ]; then
  echo "== building the web dashboard (reco-web) =="
  cargo build --release --quiet -p reco-web
fi
WEB_PID=""
stop_web() {
  if [ -n "$WEB_PID" ] && [ "$WEB_MODE" != keep ]; then
    kill "$WEB_PID" 2>/dev/null || true
    wait "$WEB_PID" 2>/dev/null || true
  fi
}
trap stop_web EXIT
trap 'exit 130' INT TERM

# Our own cluster only: stop a previous demo cluster, then start from scratch.
if [ -f "$DEMO_DIR/pgdata/postmaster.pid" ]; then
  sudo -u postgres "$PG_BIN/pg_ctl" -D "$DEMO_DIR/pgdata" -m fast stop || true
fi
rm -rf "$DEMO_DIR"
mkdir -p "$DEMO_DIR/data"
cp data/*.csv "$DEMO_DIR/data/"
chown -R postgres "$DEMO_DIR"

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT=""
for p in $(seq 55432 55532); do
  if ! port_busy "$p"; then PORT=$p; break; fi
done
[ -n "$PORT" ] || { echo "demo: no free port in 55432-55532" >&2; exit 1; }

echo "== starting a throwaway cluster in $DEMO_DIR on 127.0.0.1:$PORT =="
sudo -u postgres "$PG_BIN/initdb" -D "$DEMO_DIR/pgdata" -A trust -U postgres >/dev/null
sudo -u postgres "$PG_BIN/pg_ctl" -D "$DEMO_DIR/pgdata" -l "$DEMO_DIR/server.log" -w \
  -o "-p $PORT -c listen_addresses=127.0.0.1 -k $DEMO_DIR -c shared_preload_libraries=pg_cron,reco -c cron.database_name=$DB" start
PSQL=(sudo -u postgres psql -X -h "$DEMO_DIR" -p "$PORT" -v ON_ERROR_STOP=1)
"${PSQL[@]}" -d postgres -qc "CREATE DATABASE $DB"

echo "== the demo session =="
# On stdin: psql runs as postgres, which may not be able to read this checkout.
"${PSQL[@]}" -d "$DB" -e -v datadir="$DEMO_DIR/data" -f - < scripts/demo.sql

if [ "$WEB_MODE" != off ]; then
  # A least-privilege role (no table privileges): reco.grant_dashboard(). A build from before the
  # dashboard block of the 0.4.0 script gets the block run alone.
  if [ "$("${PSQL[@]}" -d "$DB" -At -c "SELECT to_regproc('reco.grant_dashboard') IS NULL")" = t ]; then
    sed -n '/^-- >>> web dashboard (#15)/,/^-- <<< web dashboard (#15)/p' sql/reco--0.3.0--0.4.0.sql | "${PSQL[@]}" -d "$DB" -q -f -
  fi
  "${PSQL[@]}" -d "$DB" -q -c "CREATE ROLE reco_web LOGIN" -c "SELECT reco.grant_dashboard('reco_web')" >/dev/null
  WEB_PORT=""
  for p in $(seq 58080 58179); do
    if ! port_busy "$p"; then WEB_PORT=$p; break; fi
  done
  [ -n "$WEB_PORT" ] || { echo "demo: no free port in 58080-58179 for reco-web" >&2; exit 1; }
  WEB_TOKEN=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
  RECO_WEB_TOKEN="$WEB_TOKEN" PGHOST="$DEMO_DIR" PGPORT="$PORT" PGUSER=reco_web PGDATABASE="$DB" \
    "${CARGO_TARGET_DIR:-target}/release/reco-web" --listen "127.0.0.1:$WEB_PORT" > "$DEMO_DIR/web.log" 2>&1 &
  WEB_PID=$!
  for _ in $(seq 1 50); do port_busy "$WEB_PORT" && break; sleep 0.1; done
  port_busy "$WEB_PORT" || { echo "demo: reco-web did not start:" >&2; cat "$DEMO_DIR/web.log" >&2; exit 1; }
  echo "== web dashboard: http://127.0.0.1:$WEB_PORT/ (API docs /docs/, admin token $WEB_TOKEN) =="
fi

echo "== simulated traffic through the A/B test (scripts/simulate.sh; assumptions: crates/reco-sim) =="
PGHOST="$DEMO_DIR" PGPORT="$PORT" PGUSER=postgres PGDATABASE="$DB" \
  bash scripts/simulate.sh --days 30 --visitors-per-day 300 --seed-sim 7 --experiment demo-pop-vs-hybrid --results

cat <<EOM

== the demo cluster is still running ==
connect:  sudo -u postgres psql -h $DEMO_DIR -p $PORT -d $DB
          (then: SET search_path = reco, public;  SELECT * FROM recommend(7, 10);
                 SELECT * FROM experiment_results('demo-pop-vs-hybrid');)
stop it:  sudo -u postgres $PG_BIN/pg_ctl -D $DEMO_DIR/pgdata stop
EOM
if [ -n "$WEB_PID" ]; then
  if [ "$WEB_MODE" = keep ]; then
    echo "web:      http://127.0.0.1:$WEB_PORT/ keeps running (RECO_DEMO_WEB=keep); stop it: kill $WEB_PID"
  else
    echo "web:      http://127.0.0.1:$WEB_PORT/ stops with the demo now (RECO_DEMO_WEB=keep leaves it running)"
  fi
fi
