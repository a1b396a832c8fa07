#!/usr/bin/env bash
# The test command (README "Run the tests"; CI runs it through .ci/run).
# 1. set-up (idempotent), 2. pure-Rust unit tests of the algorithm crates, 3. the extension's
# SQL-level tests with `cargo pgrx test` in a throwaway cluster run by the postgres OS user,
# 4. the hot standby check, 5. reco-web's API and browser tests (scripts/web/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

# Both test runs are logged so a single summary line can close the output (cargo's own last
# line is the empty doc-test run of the extension crate, "0 passed").
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT

echo "== unit tests: reco-core, reco-datagen, reco-sim (no Postgres) =="
cargo test --release -p reco-core -p reco-datagen -p reco-sim 2>&1 | tee -a "$LOG"

echo "== SQL tests: cargo pgrx test pg15 =="
# The upgrade tests install earlier releases first: their install scripts (as released) are kept
# in sql/archive/ and copied next to the current version's files, which cargo pgrx installs.
# Upgrade scripts (sql/reco--A--B.sql) are copied by cargo pgrx itself.
EXTDIR="$(/usr/lib/postgresql/15/bin/pg_config --sharedir)/extension"
for released in sql/archive/reco--*.sql; do
  install -m 644 "$released" "$EXTDIR/$(basename "$released")"
done
# The test backend runs as postgres and reads data/ itself (reco.load_csv): give it a copy it can
# read wherever this checkout lives. The path is compiled into the tests (option_env!).
export RECO_TEST_DATA_DIR=/tmp/reco-test-data
rm -rf "$RECO_TEST_DATA_DIR" && mkdir -p "$RECO_TEST_DATA_DIR"
cp data/*.csv "$RECO_TEST_DATA_DIR"/ && chmod -R a+rX "$RECO_TEST_DATA_DIR"
# cargo pgrx test wants a fresh data directory owned by the user it runs Postgres as.
PGDATA_DIR=/tmp/reco-pgrx-test-pgdata
rm -rf "$PGDATA_DIR" && mkdir -p "$PGDATA_DIR" && chown postgres "$PGDATA_DIR"
cargo pgrx test pg15 --runas postgres --pgdata "$PGDATA_DIR" 2>&1 | tee -a "$LOG"

echo "== SQL tests with shared_preload_libraries = 'pg_cron,reco': the lifecycle module =="
# Serving statistics and refresh progress live in shared memory, which exists only when reco is
# preloaded; the run above is without it (as in a database that loads reco per session, and the
# settings tests need that), so the lifecycle tests run again in a preloaded cluster.
rm -rf "$PGDATA_DIR" && mkdir -p "$PGDATA_DIR" && chown postgres "$PGDATA_DIR"
RECO_TEST_PRELOAD=1 cargo pgrx test pg15 --runas postgres --pgdata "$PGDATA_DIR" lifecycle 2>&1 | tee -a "$LOG"

echo "== hot standby: scripts/standby/run.sh check =="
# A primary and a pg_basebackup -R standby on loopback ports, serving the build cargo pgrx test
# just made (target/debug/reco-pg15, from a private copy of the PostgreSQL tree): pgbench on the
# standby while the primary refreshes past reco.keep_models, long standby sessions that pruning
# must not cancel. Exits non-zero on any failed transaction or cancelled session.
RECO_STANDBY_PKG="${CARGO_TARGET_DIR:-$PWD/target}/debug/reco-pg15" RECO_STANDBY_SKIP_SETUP=1 \
  bash scripts/standby/run.sh check 2>&1 | tee -a "$LOG"

echo "== web dashboard and HTTP API: scripts/web/test.sh =="
# reco-web against a throwaway cluster serving the same build (target/debug/reco-pg15, from a
# private copy of the PostgreSQL tree): API tests over real HTTP, startup and SIGTERM, and the
# dashboard in headless Chromium (screenshots into docs/screenshots/).
bash scripts/web/test.sh "${CARGO_TARGET_DIR:-$PWD/target}/debug/reco-pg15" 2>&1 | tee -a "$LOG"

# pipefail has already stopped the script on any failure; sum what ran.
echo
awk '/^test result:/ { for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "%d passed, %d failed\n", p, f }' "$LOG"
