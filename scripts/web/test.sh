#!/usr/bin/env bash
# Tests of reco-web (issue #15): API tests over real HTTP and browser tests in headless Chromium,
# against a throwaway cluster serving the reco build in PKG_DIR.
#
#   bash scripts/web/test.sh [PKG_DIR]
#
# PKG_DIR defaults to ${CARGO_TARGET_DIR:-target}/debug/reco-pg15, which the test command's
# `cargo pgrx test` leaves behind (or `cargo pgrx package --debug`). It
#   1. starts a private cluster from PKG_DIR (scripts/web/cluster.sh: a private copy of the
#      PostgreSQL tree, postgres OS user, loopback port 55900-55999, removed on exit);
#   2. loads data/, refreshes twice with an evaluate() after each (two points of model quality),
#      runs a small experiment with a week of synthetic traffic (scripts/web/experiment.sql), and
#      creates the roles reco_web (reco.grant_dashboard) and reco_app (reco.grant_app only);
#   3. starts reco-web twice as those roles: the main instance with a token, and a "limited"
#      one without a token and with a read limit of 1/s, burst 5; and chromedriver;
#   4. runs `cargo test -p reco-web`: unit tests, tests/api.rs, tests/lifecycle.rs,
#      tests/browser.rs (screenshots into docs/screenshots/).
# Exits non-zero on any failure; prints cargo's `test result:` lines. Environment:
# RECO_WEB_TEST_DIR (/tmp/reco-web-test), RECO_WEB_KEEP_SCREENSHOTS=0 to write the screenshots
# under RECO_WEB_TEST_DIR instead of docs/screenshots/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
PKG=${1:-$TARGET_DIR/debug/reco-pg15}
DIR=${RECO_WEB_TEST_DIR:-/tmp/reco-web-test}
DB=reco_web_test
EXPERIMENT=web-test
TOKEN="test-token-$RANDOM$RANDOM"
SHOTS="$ROOT/docs/screenshots"
[ "${RECO_WEB_KEEP_SCREENSHOTS:-1}" = 1 ] || SHOTS="$DIR/screenshots"
source "$ROOT/scripts/web/cluster.sh"

for b in /usr/bin/chromium /usr/bin/chromedriver; do
  [ -x "$b" ] || { echo "web: $b missing (Debian packages chromium chromium-driver; scripts/setup.sh installs them)" >&2; exit 1; }
done

PIDS=()
cleanup() {
  local rc=$? p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  # Browsers a failed test left behind: only those with our profile directory.
  for p in $(pgrep -f -- "--user-data-dir=$DIR/chrome" || true); do kill "$p" 2>/dev/null || true; done
  web_cluster_stop
  rm -rf "$DIR/chrome" "$DIR/data"
  [ $rc -eq 0 ] || echo "web tests: FAILED (exit $rc); logs in $DIR" >&2
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  local p
  for p in $(seq "$1" "$2"); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}
wait_http() {
  local i
  for i in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "web: nothing listens on $1" >&2; return 1
}

echo "== reco-web tests: building reco-web and its tests =="
cargo build -p reco-web --tests --bins --quiet

echo "== throwaway cluster from $PKG =="
# Preloaded, so reco.serving_stats counts (and the health view has serving numbers).
web_cluster_start "$PKG" "$DIR" "shared_preload_libraries = 'reco'"
echo "   127.0.0.1:$PGPORT_WEB, socket in $DIR"
web_load_shop "$ROOT" "$DB"
web_psql "$DB" -At -c "SELECT model_id FROM reco.refresh()" -c "SELECT count(*) FROM reco.evaluate()" >/dev/null
web_psql "$DB" -At -c "SELECT model_id FROM reco.refresh()" -c "SELECT count(*) FROM reco.evaluate()" >/dev/null
web_psql "$DB" -v name="$EXPERIMENT" -f - < scripts/web/experiment.sql >/dev/null
web_psql "$DB" -c "CREATE ROLE reco_app LOGIN" -c "SELECT reco.grant_app('reco_app')" \
  -c "GRANT EXECUTE ON FUNCTION reco.dashboard_health(), reco.shoe_summaries(bigint[]) TO reco_app" >/dev/null
echo "   loaded data/, 2 model versions with evaluations, experiment $EXPERIMENT; roles reco_web, reco_app"

WEB_BIN="$TARGET_DIR/debug/reco-web"
PORT1=$(free_port 58080 58179)
RECO_WEB_TOKEN="$TOKEN" PGHOST="$DIR" PGPORT="$PGPORT_WEB" PGUSER=reco_web PGDATABASE="$DB" \
  "$WEB_BIN" --listen "127.0.0.1:$PORT1" --read-rate 2000 --read-burst 4000 > "$DIR/web.log" 2>&1 &
PIDS+=($!)
wait_http "$PORT1"
PORT2=$(free_port $((PORT1 + 1)) 58199)
env -u RECO_WEB_TOKEN PGHOST="$DIR" PGPORT="$PGPORT_WEB" PGUSER=reco_app PGDATABASE="$DB" \
  "$WEB_BIN" --listen "127.0.0.1:$PORT2" --read-rate 1 --read-burst 5 > "$DIR/web-limited.log" 2>&1 &
PIDS+=($!)
wait_http "$PORT2"
WDPORT=$(free_port 59515 59600)
rm -rf "$DIR/chrome"
chromedriver --port="$WDPORT" --allowed-ips=127.0.0.1 > "$DIR/chromedriver.log" 2>&1 &
PIDS+=($!)
wait_http "$WDPORT"
echo "   reco-web http://127.0.0.1:$PORT1/ (reco_web), http://127.0.0.1:$PORT2/ (reco_app, limited), chromedriver :$WDPORT"

echo "== cargo test -p reco-web =="
RECO_WEB_URL="http://127.0.0.1:$PORT1" RECO_WEB_TOKEN="$TOKEN" \
RECO_WEB_LIMITED_URL="http://127.0.0.1:$PORT2" \
RECO_WEB_PG="host=$DIR port=$PGPORT_WEB user=reco_web dbname=$DB" \
RECO_WEBDRIVER_URL="http://127.0.0.1:$WDPORT" RECO_WEB_CHROME_PROFILE="$DIR/chrome" \
RECO_WEB_SCREENSHOTS="$SHOTS" RECO_WEB_EXPERIMENT="$EXPERIMENT" \
  cargo test -p reco-web --quiet --no-fail-fast 2>&1 | tee "$DIR/cargo-test.log"
echo "web tests: screenshots in $SHOTS"
