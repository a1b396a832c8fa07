#!/usr/bin/env bash
# Serving from a hot standby (issue #16, item 3): a primary and a streaming-replication standby
# made by `pg_basebackup -R`, pgbench on the standby calling recommend()/similar() while the
# primary runs refresh() more times than reco.keep_models (so old versions are pruned), with long
# queries open on the standby (and one on the primary) across the pruning.
#
#   scripts/standby/run.sh check   # the small shop of data/ (about 1-2 minutes after the build);
#                                  # exits non-zero on any failure below: meant for the tests
#   scripts/standby/run.sh M       # tier M (100k users, 20k shoes, 2M interactions)
#   scripts/standby/run.sh L       # tier L (1M users, 100k shoes, 20M interactions)
#
# What it does:
#   1. scripts/setup.sh, `cargo pgrx package` (release build) unless RECO_STANDBY_SKIP_BUILD=1,
#      and a PRIVATE COPY of the PostgreSQL 15 tree with that reco.so in $RECO_STANDBY_DIR/inst
#      (as scripts/bench/run.sh: never `cargo pgrx install`, which rewrites the system reco.so under
#      other clusters' running backends);
#   2. a primary (wal_level = replica, max_wal_senders, track_commit_timestamp, hot standby
#      settings) and a standby (`pg_basebackup -R -X stream -C -S reco_standby`), both owned by
#      postgres, on the first two free loopback ports of 55800-55899 (sockets in the same
#      directory; never 5432, never anyone else's cluster);
#   3. data on the primary: check = reco.load_csv() of data/, M/L = scripts/load_tier.sh; one
#      refresh(), replayed on the standby;
#   4. on the standby: pgbench -n -M prepared -c CLIENTS (recommend.sql 4 : similar.sql 1, per
#      transaction logs), and two long sessions opened before the pruning starts:
#        L1  SELECT pg_sleep(LONG) FROM reco.recommend(1, 1)          (one long statement)
#        L2  BEGIN; due_services('2027-01-01'); similar(); pg_sleep(LONG); COMMIT  (open transaction)
#      on the primary:
#        P1  BEGIN; recommend(); pg_sleep(LONG); COMMIT      (does pruning still succeed?)
#   5. REFRESHES more refresh() calls on the primary (each: wall time, WAL bytes, prune NOTICEs);
#      for each one a poller on the standby measures how long after the primary's commit
#      (pg_xact_commit_timestamp of the new reco.models row; track_commit_timestamp = on) the
#      standby sees the new active model, and when a fresh backend's recommend() has served it
#      (that call loads the new model into its cache);
#   6. reports pgbench's failed transactions, TPS, p50/p99 (scripts/bench/latency.py), the
#      replay delays, whether L1/L2/P1 were cancelled, the standby log's recovery-conflict lines,
#      and how many versions the primary kept.
# Failure (exit 1): failed transactions > 0 or pgbench aborted, the standby never served a new
# model, a long session was cancelled (or failed), or the primary kept more than reco.keep_models
# versions (pruning blocked by P1). Both clusters are stopped and removed on exit (trap), also
# on error or ^C; results stay in $RECO_STANDBY_DIR/results-<UTC time>/.
#
# Environment: RECO_STANDBY_DIR (/tmp/reco-standby), RECO_STANDBY_SKIP_SETUP=1,
#   RECO_STANDBY_SKIP_BUILD=1, RECO_STANDBY_PKG (a packaged tree to serve instead of
#   target/release/reco-pg15, e.g. a saved build of another commit), RECO_STANDBY_REFRESHES (5),
#   RECO_STANDBY_CLIENTS (2), RECO_STANDBY_MAX_DELAY (max_standby_streaming_delay in s: check 10,
#   M/L 30 = PostgreSQL's default), RECO_STANDBY_LONG (seconds the long sessions sleep; default
#   from the first refresh's time so they span the pruning and the delay),
#   RECO_STANDBY_FEEDBACK (hot_standby_feedback, on), RECO_STANDBY_KEEP=1 (leave both running).
set -euo pipefail

usage() { echo "usage: $0 check|M|L" >&2; exit 2; }
[ $# -eq 1 ] || usage
case "$1" in
  check) MODE=check ;;
  M|m) MODE=M ;;
  L|l) MODE=L ;;
  *) usage ;;
esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/scripts/standby"
PG_BIN=/usr/lib/postgresql/15/bin
DIR=${RECO_STANDBY_DIR:-/tmp/reco-standby}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RES="$DIR/results-$STAMP"
DB=reco_standby
REFRESHES=${RECO_STANDBY_REFRESHES:-5}
CLIENTS=${RECO_STANDBY_CLIENTS:-2}
if [ "$MODE" = check ]; then DELAY=${RECO_STANDBY_MAX_DELAY:-10}; SHARED=256MB
else DELAY=${RECO_STANDBY_MAX_DELAY:-30}; SHARED=2GB; fi
FEEDBACK=${RECO_STANDBY_FEEDBACK:-on}
for v in REFRESHES CLIENTS DELAY; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "standby: $v must be a non-negative integer" >&2; exit 2; }
done
export PATH="$HOME/.cargo/bin:$PATH"

cd "$ROOT"
if [ "${RECO_STANDBY_SKIP_SETUP:-0}" != 1 ]; then
  bash scripts/setup.sh
fi
for b in pgbench pg_basebackup psql; do
  [ -x "$PG_BIN/$b" ] || { echo "standby: $PG_BIN/$b missing (package postgresql-15)" >&2; exit 1; }
done
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
PKG=${RECO_STANDBY_PKG:-$TARGET_DIR/release/reco-pg15}
if [ -z "${RECO_STANDBY_PKG:-}" ] && [ "${RECO_STANDBY_SKIP_BUILD:-0}" != 1 ]; then
  echo "== building reco (release) with cargo pgrx package =="
  cargo pgrx package --pg-config "$PG_BIN/pg_config"
fi
[ -f "$PKG/usr/lib/postgresql/15/lib/reco.so" ] || { echo "standby: no build in $PKG (run without RECO_STANDBY_SKIP_BUILD)" >&2; exit 1; }
[ "$MODE" = check ] || cargo build --release --quiet -p reco-datagen

PDATA="$DIR/primary"
SDATA="$DIR/standby"
SERVER_BIN="$DIR/inst/usr/lib/postgresql/15/bin"
STARTED=0
BG_PIDS=()
stop_cluster() {
  if [ -f "$1/postmaster.pid" ] && [ -x "$SERVER_BIN/pg_ctl" ]; then
    sudo -u postgres "$SERVER_BIN/pg_ctl" -D "$1" -m fast -w stop >/dev/null 2>&1 || true
  fi
}
cleanup() {
  local rc=$? p
  for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ "$STARTED" = 1 ] && [ "${RECO_STANDBY_KEEP:-0}" != 1 ]; then
    echo "== stopping the standby and the primary =="
    stop_cluster "$SDATA"
    stop_cluster "$PDATA"
    rm -rf "$SDATA" "$PDATA" "$DIR/inst" "$DIR/data"
  fi
  [ $rc -eq 0 ] || echo "standby: FAILED (exit $rc); results in $RES" >&2
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Leftovers of an earlier run of ours that was killed hard (idempotent).
stop_cluster "$SDATA"
stop_cluster "$PDATA"
rm -rf "$SDATA" "$PDATA"
mkdir -p "$DIR" "$RES"
chown postgres "$DIR" "$RES"
chmod 755 "$DIR"

# The private PostgreSQL tree (see scripts/bench/run.sh): hard links of the system files, real
# copies of reco's files, so nobody's `cargo pgrx install` can replace reco.so under our servers.
echo "== private PostgreSQL tree with reco from $PKG: $DIR/inst =="
rm -rf "$DIR/inst"
mkdir -p "$DIR/inst/usr/lib/postgresql" "$DIR/inst/usr/share/postgresql"
cp -al /usr/lib/postgresql/15 "$DIR/inst/usr/lib/postgresql/15"
cp -al /usr/share/postgresql/15 "$DIR/inst/usr/share/postgresql/15"
rm -f "$DIR/inst/usr/lib/postgresql/15/lib/reco.so" "$DIR"/inst/usr/share/postgresql/15/extension/reco[.-]*
cp "$PKG/usr/lib/postgresql/15/lib/reco.so" "$DIR/inst/usr/lib/postgresql/15/lib/"
cp "$PKG"/usr/share/postgresql/15/extension/reco* "$DIR/inst/usr/share/postgresql/15/extension/"
[ "$("$SERVER_BIN/pg_config" --pkglibdir)" = "$DIR/inst/usr/lib/postgresql/15/lib" ] \
  || { echo "standby: the private PostgreSQL tree does not relocate" >&2; exit 1; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORTS=()
for p in $(seq 55800 55899); do
  if ! port_busy "$p" && [ ! -e "/tmp/.s.PGSQL.$p" ] && [ ! -e "$DIR/.s.PGSQL.$p" ]; then PORTS+=("$p"); fi
  [ ${#PORTS[@]} -eq 2 ] && break
done
[ ${#PORTS[@]} -eq 2 ] || { echo "standby: no two free ports in 55800-55899" >&2; exit 1; }
PPORT=${PORTS[0]}
SPORT=${PORTS[1]}

SETTINGS=(
  "listen_addresses = '127.0.0.1'"
  "port = $PPORT"
  "unix_socket_directories = '$DIR'"
  "shared_buffers = $SHARED"
  "work_mem = 64MB"
  "maintenance_work_mem = 1GB"
  "max_wal_size = 8GB"
  "checkpoint_timeout = 30min"
  "max_connections = 30"
  "wal_level = replica"
  "max_wal_senders = 5"
  "max_replication_slots = 5"
  "track_commit_timestamp = on"
  "hot_standby = on"
  "hot_standby_feedback = $FEEDBACK"
  "max_standby_streaming_delay = ${DELAY}s"
  "log_recovery_conflict_waits = on"
  "log_lock_waits = on"
  # Serving statistics in shared memory (reco.serving_stats): counted on the standby too.
  "shared_preload_libraries = 'reco'"
)
echo "== primary: $PDATA on 127.0.0.1:$PPORT =="
sudo -u postgres "$SERVER_BIN/initdb" -D "$PDATA" -A trust -U postgres >/dev/null
printf '%s\n' "# reco standby test (scripts/standby/run.sh)" "${SETTINGS[@]}" >> "$PDATA/postgresql.conf"
sudo -u postgres "$SERVER_BIN/pg_ctl" -D "$PDATA" -l "$RES/primary.log" -w start >/dev/null
STARTED=1
echo "== standby: pg_basebackup -R into $SDATA, on 127.0.0.1:$SPORT =="
sudo -u postgres "$SERVER_BIN/pg_basebackup" -h "$DIR" -p "$PPORT" -U postgres -D "$SDATA" \
  -R -X stream -C -S reco_standby -c fast
printf '%s\n' "# the standby's own port" "port = $SPORT" >> "$SDATA/postgresql.conf"
sudo -u postgres "$SERVER_BIN/pg_ctl" -D "$SDATA" -l "$RES/standby.log" -w start >/dev/null

export PGHOST="$DIR" PGUSER=postgres PGDATABASE=$DB PGPORT=$PPORT
PSQL_P=("$PG_BIN/psql" -X -v ON_ERROR_STOP=1 -p "$PPORT")
PSQL_S=("$PG_BIN/psql" -X -v ON_ERROR_STOP=1 -p "$SPORT")
SUM="$RES/summary.txt"
say() { echo "$*" | tee -a "$SUM"; }
{
  echo "reco standby run $STAMP, mode $MODE"
  echo "host: $(hostname), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GB RAM, $(uname -r)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "git: $(git -C "$ROOT" rev-parse --short HEAD), $(git -C "$ROOT" status --porcelain -- src crates sql | wc -l) modified files under src/ crates/ sql/; reco.so from $PKG, $(stat -c '%y' "$PKG/usr/lib/postgresql/15/lib/reco.so" | cut -d. -f1), md5 $(md5sum < "$PKG/usr/lib/postgresql/15/lib/reco.so" | cut -c1-12)"
  echo "primary 127.0.0.1:$PPORT, standby 127.0.0.1:$SPORT; settings: $(IFS=';'; echo "${SETTINGS[*]}")"
} | tee "$SUM"

# The standby has replayed everything the primary has written so far.
wait_replay() {
  local lsn i
  lsn=$("${PSQL_P[@]}" -d postgres -At -c "SELECT pg_current_wal_lsn()")
  for i in $(seq 1 600); do
    if [ "$("${PSQL_S[@]}" -d postgres -At -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn")" = t ]; then return 0; fi
    sleep 0.2
  done
  echo "standby: the standby did not replay up to $lsn in 120 s" >&2
  return 1
}

"${PSQL_P[@]}" -d postgres -qc "CREATE DATABASE $DB"
"${PSQL_P[@]}" -qc "CREATE EXTENSION reco"
t0=$(date +%s.%N)
if [ "$MODE" = check ]; then
  rm -rf "$DIR/data"; cp -r "$ROOT/data" "$DIR/data"; chown -R postgres "$DIR/data"
  "${PSQL_P[@]}" -At -c "SELECT format('loaded %s users, %s shoes, %s interactions', users_loaded, shoes_loaded, interactions_loaded) FROM reco.load_csv('$DIR/data')" | tee -a "$SUM"
else
  bash scripts/load_tier.sh "$MODE" 2>&1 | tee "$RES/load.log"
fi
"${PSQL_P[@]}" -qc "VACUUM (ANALYZE) reco.users, reco.shoes, reco.interactions"
say "load: $(printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc)") s"

t0=$(date +%s.%N)
"${PSQL_P[@]}" -At -c "SELECT 'first refresh(): model ' || model_id FROM reco.refresh()" | tee -a "$SUM"
FIRST_REFRESH=$(echo "$(date +%s.%N) - $t0" | bc)
say "first refresh: $(printf '%.2f' "$FIRST_REFRESH") s"
wait_replay
"${PSQL_S[@]}" -At -c "SELECT 'standby: active model ' || model_id || ', ' || (SELECT count(*) FROM reco.recommend(1, 10)) || ' recommendations for user 1, pg_is_in_recovery ' || pg_is_in_recovery() FROM reco.models WHERE status = 'active'" | tee -a "$SUM"

# ---- the cache load's subtransaction (src/cache.rs, without_lasting_locks) on its error paths:
# an error inside the load must leave the caller's transaction and exception blocks intact. Each
# case in a new backend (empty cache), on the primary; E4 also on the standby.
if [ "$MODE" = check ]; then
  say "-- errors inside the cache load (each in a new backend) --"
  ERR_OUT="$RES/error_paths.out"
  : > "$ERR_OUT"
  "${PSQL_P[@]}" -At >> "$ERR_OUT" 2>&1 <<'SQL' || { say "FAIL: E1 (reco's own error inside the load)"; cat "$ERR_OUT"; exit 1; }
BEGIN;
ALTER TABLE reco.model_segments ALTER COLUMN users TYPE bigint;
DO $$ BEGIN
  PERFORM * FROM reco.recommend(1, 3);
  RAISE EXCEPTION 'recommend() did not fail';
EXCEPTION WHEN datatype_mismatch THEN RAISE NOTICE 'E1 caught %: %', SQLSTATE, SQLERRM;
END $$;
SELECT 'E1 transaction usable: ' || count(*) FROM reco.users;
ROLLBACK;
SELECT 'E1 after rollback, recommend rows: ' || count(*) FROM reco.recommend(1, 3);
SQL
  "${PSQL_P[@]}" -At >> "$ERR_OUT" 2>&1 <<'SQL' || { say "FAIL: E2 (a Postgres error inside the load)"; cat "$ERR_OUT"; exit 1; }
BEGIN;
ALTER TABLE reco.model_vocabulary RENAME COLUMN term TO term_renamed;
DO $$ BEGIN
  PERFORM * FROM reco.similar(1, 3);
  RAISE EXCEPTION 'similar() did not fail';
EXCEPTION WHEN undefined_column THEN RAISE NOTICE 'E2 caught %: %', SQLSTATE, SQLERRM;
END $$;
SELECT 'E2 transaction usable: ' || count(*) FROM reco.users;
ROLLBACK;
SELECT 'E2 after rollback, similar rows: ' || count(*) FROM reco.similar(1, 3);
SQL
  # E3: the error not caught: the statement fails, ROLLBACK TO SAVEPOINT recovers (psql goes on).
  "$PG_BIN/psql" -X -p "$PPORT" -At >> "$ERR_OUT" 2>&1 <<'SQL'
BEGIN;
SAVEPOINT before_load;
ALTER TABLE reco.model_segments ALTER COLUMN users TYPE bigint;
SELECT count(*) FROM reco.recommend(1, 3);
ROLLBACK TO SAVEPOINT before_load;
SELECT 'E3 after ROLLBACK TO SAVEPOINT, recommend rows: ' || count(*) FROM reco.recommend(1, 3);
COMMIT;
SQL
  for port in "$PPORT" "$SPORT"; do
    "$PG_BIN/psql" -X -v ON_ERROR_STOP=1 -p "$port" -At >> "$ERR_OUT" 2>&1 <<'SQL' || { say "FAIL: E4 (a load inside an exception block)"; cat "$ERR_OUT"; exit 1; }
BEGIN;
DO $$ BEGIN
  PERFORM * FROM reco.recommend(1, 3);
  RAISE NOTICE 'E4 loaded inside an exception block, in recovery: %', pg_is_in_recovery();
EXCEPTION WHEN others THEN RAISE;
END $$;
SELECT 'E4 then in the same transaction, recommend rows: ' || count(*) FROM reco.recommend(2, 3);
COMMIT;
SQL
  done
  sed 's/^/  /' "$ERR_OUT" | tee -a "$SUM"
  [ "$(grep -c 'E[1-4] ' "$ERR_OUT")" -ge 9 ] && [ "$(grep -c 'E3 after ROLLBACK' "$ERR_OUT")" = 1 ] \
    || { say "FAIL: an error path of the cache load did not behave"; exit 1; }
fi
MAX_UID=$("${PSQL_P[@]}" -At -c "SELECT max(user_id) FROM reco.users")
MAX_SID=$("${PSQL_P[@]}" -At -c "SELECT max(shoe_id) FROM reco.shoes")
[ "$("${PSQL_P[@]}" -At -c "SELECT count(*) FROM reco.shoes")" = "$MAX_SID" ] \
  || { echo "standby: shoe ids are not dense (similar.sql picks 1..max)" >&2; exit 1; }
KEEP=$("${PSQL_P[@]}" -At -qc "LOAD 'reco'" -c "SELECT current_setting('reco.keep_models')")
[ "$REFRESHES" -ge "$KEEP" ] || say "note: $REFRESHES refreshes after the first do not reach reco.keep_models = $KEEP: nothing is pruned"

# Long sessions: they must span the first prune (refresh number KEEP+1 overall) plus the
# standby's max_standby_streaming_delay, so that a lock conflict, if any, cancels them.
per_refresh=$(printf '%.0f' "$(echo "$FIRST_REFRESH * 1.5 + 2" | bc)")
LONG=${RECO_STANDBY_LONG:-$((DELAY + KEEP * per_refresh + 15))}
P_REFRESHES=2
LONG_P=$((P_REFRESHES * per_refresh + 10))
DURATION=$((LONG + (REFRESHES - KEEP + 1 + P_REFRESHES) * per_refresh + 20))
say "long sessions sleep $LONG s; pgbench runs $DURATION s; max_standby_streaming_delay = ${DELAY}s, hot_standby_feedback = $FEEDBACK"

# ---- pgbench on the standby ----
say "-- pgbench on the standby: -n -M prepared -c $CLIENTS -j $CLIENTS -T $DURATION, recommend.sql@4 similar.sql@1 (uid 1..$MAX_UID, sid 1..$MAX_SID) --"
(cd "$RES" && exec "$PG_BIN/pgbench" -p "$SPORT" -n -M prepared -c "$CLIENTS" -j "$CLIENTS" -T "$DURATION" \
   -D max_uid="$MAX_UID" -D max_sid="$MAX_SID" -f "$HERE/recommend.sql@4" -f "$HERE/similar.sql@1" \
   -l --log-prefix=serve > pgbench.out 2>&1) &
PGBENCH_PID=$!
BG_PIDS+=("$PGBENCH_PID")
sleep 2

# ---- the long sessions ----
"${PSQL_S[@]}" -At -c "SELECT count(*) FROM (SELECT pg_sleep($LONG) FROM reco.recommend(1, 1)) s" > "$RES/long_L1.out" 2>&1 &
L1_PID=$!; BG_PIDS+=("$L1_PID")
"${PSQL_S[@]}" -At > "$RES/long_L2.out" 2>&1 <<SQL &
BEGIN;
SELECT 'due_services rows: ' || count(*) FROM reco.due_services('2027-01-01');
SELECT 'similar rows: ' || count(*) FROM reco.similar(1, 5);
SELECT pg_sleep($LONG);
SELECT 'recommend rows after the sleep: ' || count(*) FROM reco.recommend(2, 5);
COMMIT;
SQL
L2_PID=$!; BG_PIDS+=("$L2_PID")
# Until every long session has loaded its model (L2's due_services() can take a while on M/L).
for i in $(seq 1 600); do
  n=$("${PSQL_S[@]}" -d postgres -At -c "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep($LONG)%' AND wait_event = 'PgSleep'")
  [ "$n" -ge 2 ] && break
  sleep 0.2
done
say "long sessions sleeping on the standby: $n (after $(echo "$i * 0.2" | bc) s)"
"${PSQL_S[@]}" -d "$DB" -At -c "SELECT 'standby locks on the partitioned model tables, their partitions and keys, held by other sessions: ' || count(*) || coalesce(' (' || string_agg(DISTINCT a.backend_type || ' ' || l.mode, ', ') || ')', '') FROM pg_locks l JOIN pg_class c ON c.oid = l.relation LEFT JOIN pg_stat_activity a ON a.pid = l.pid WHERE c.relname ~ '^model_(shoes|users|vocabulary|segments)' AND l.pid <> pg_backend_pid()" | tee -a "$SUM"

# ---- refreshes on the primary, each replay timed on the standby ----
# refreshes N: N refresh() calls, one table row each (numbered on from the previous calls).
NEVER=0
RN=0
refreshes() {
  local r prev timeout_s lsn0 t0 model wall wal versions prune visible served
  printf '%-3s %6s %9s %10s %10s %12s %12s  %s\n' n model wall_s WAL_MB versions visible_s served_s prune | tee -a "$SUM"
  for r in $(seq $((RN + 1)) $((RN + $1))); do
    prev=$("${PSQL_S[@]}" -At -c "SELECT coalesce(max(model_id), 0) FROM reco.models WHERE status = 'active'")
    timeout_s=$((DELAY + 120))
    "${PSQL_S[@]}" -At > "$RES/poll$r.out" 2>&1 <<SQL &
DO \$\$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
  LOOP
    EXIT WHEN (SELECT model_id FROM reco.models WHERE status = 'active') > $prev;
    IF clock_timestamp() - t0 > interval '$timeout_s s' THEN
      RAISE EXCEPTION 'the standby did not show a model newer than $prev in $timeout_s s';
    END IF;
    PERFORM pg_sleep(0.005);
  END LOOP;
END
\$\$;
SELECT 'visible ' || model_id || ' ' || round(extract(epoch FROM clock_timestamp() - pg_xact_commit_timestamp(xmin))::numeric, 3)
  FROM reco.models WHERE status = 'active';
SELECT count(*) FROM reco.recommend(1, 10) \gset
SELECT 'served ' || round(extract(epoch FROM clock_timestamp() - pg_xact_commit_timestamp(xmin))::numeric, 3)
  FROM reco.models WHERE status = 'active';
SQL
    POLL_PID=$!; BG_PIDS+=("$POLL_PID")
    sleep 0.3
    lsn0=$("${PSQL_P[@]}" -At -c "SELECT pg_current_wal_lsn()")
    t0=$(date +%s.%N)
    model=$("${PSQL_P[@]}" -At -c "SELECT model_id FROM reco.refresh()" 2> "$RES/refresh$r.err")
    wall=$(echo "$(date +%s.%N) - $t0" | bc)
    wal=$("${PSQL_P[@]}" -At -c "SELECT round(pg_wal_lsn_diff(pg_current_wal_lsn(), '$lsn0') / 1048576.0, 1)")
    versions=$("${PSQL_P[@]}" -At -c "SELECT count(*) FROM reco.models")
    prune=ok
    if grep -q 'kept .* old model version' "$RES/refresh$r.err"; then prune=KEPT; fi
    [ "$versions" -le "$KEEP" ] || prune="$prune($versions>$KEEP)"
    visible=never; served=never
    if wait "$POLL_PID"; then
      visible=$(awk '/^visible /{print $3}' "$RES/poll$r.out")
      served=$(awk '/^served /{print $2}' "$RES/poll$r.out")
    else
      NEVER=1
    fi
    printf '%-3s %6s %9.2f %10s %10s %12s %12s  %s\n' "$r" "$model" "$wall" "$wal" "$versions" "$visible" "$served" "$prune" | tee -a "$SUM"
    sleep 1
  done
  RN=$((RN + $1))
}
say "-- phase 1: refresh() x $REFRESHES on the primary (reco.keep_models = $KEEP) while L1 and L2 are open on the standby --"
refreshes "$REFRESHES"
PHASE1_VERSIONS=$("${PSQL_P[@]}" -At -c "SELECT count(*) FROM reco.models")

# ---- phase 2: the primary side. A transaction on the primary that called recommend() and
# stays open: can refresh() still prune (it only tries the locks, see prune_old_versions)?
"${PSQL_P[@]}" -At > "$RES/long_P1.out" 2>&1 <<SQL &
BEGIN;
SELECT 'recommend rows: ' || count(*) FROM reco.recommend(1, 5);
SELECT pg_sleep($LONG_P);
COMMIT;
SQL
P1_PID=$!; BG_PIDS+=("$P1_PID")
for i in $(seq 1 300); do
  m=$("${PSQL_P[@]}" -d postgres -At -c "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep($LONG_P)%' AND wait_event = 'PgSleep'")
  [ "$m" -ge 1 ] && break
  sleep 0.2
done
"${PSQL_P[@]}" -At -c "SELECT 'primary locks on the partitioned model tables, their partitions and keys, held by other sessions: ' || count(*) || coalesce(' (' || string_agg(DISTINCT a.backend_type || ' ' || l.mode, ', ') || ')', '') FROM pg_locks l JOIN pg_class c ON c.oid = l.relation LEFT JOIN pg_stat_activity a ON a.pid = l.pid WHERE c.relname ~ '^model_(shoes|users|vocabulary|segments)' AND l.pid <> pg_backend_pid()" | tee -a "$SUM"
say "-- phase 2: refresh() x $P_REFRESHES on the primary while P1 (BEGIN; recommend(); pg_sleep($LONG_P)) is open there --"
refreshes "$P_REFRESHES"

# ---- results ----
FAIL=0
for s in L1 L2 P1; do
  pid_var=${s}_PID
  if wait "${!pid_var}"; then rc=0; else rc=$?; fi
  if [ "$rc" -ne 0 ] || grep -qi 'error\|conflict with recovery\|terminat' "$RES/long_$s.out"; then
    say "long session $s: FAILED (exit $rc): $(grep -i 'error\|detail' "$RES/long_$s.out" | tr '\n' ' ')"
    FAIL=1
  else
    say "long session $s: completed ($(tr '\n' ' ' < "$RES/long_$s.out"))"
  fi
done
if wait "$PGBENCH_PID"; then pgrc=0; else pgrc=$?; fi
grep -E 'tps|latency|failed|aborted' "$RES/pgbench.out" | sed 's/^/  pgbench: /' | tee -a "$SUM"
failed=$(awk -F'[: ]+' '/^number of failed transactions/{print $5; exit}' "$RES/pgbench.out")
failed=${failed:-unknown}
say "pgbench exit $pgrc, failed transactions: $failed"
python3 "$ROOT/scripts/bench/latency.py" --skip 2 --label standby --json "$RES/pgbench.json" "$RES"/serve.* | tee -a "$SUM"
[ "$pgrc" -eq 0 ] && [ "$failed" = 0 ] || { say "FAIL: pgbench on the standby had failed transactions or aborted"; FAIL=1; }
[ "$NEVER" = 0 ] || { say "FAIL: the standby never served a new model within the poll timeout"; FAIL=1; }

wait_replay
pm=$("${PSQL_P[@]}" -At -c "SELECT model_id FROM reco.models WHERE status = 'active'")
sm=$("${PSQL_S[@]}" -At -c "SELECT model_id FROM reco.models WHERE status = 'active'")
sn=$("${PSQL_S[@]}" -At -c "SELECT count(*) FROM reco.recommend(3, 10)")
say "active model: primary $pm, standby $sm (recommend(3, 10) on the standby: $sn rows)"
[ "$pm" = "$sm" ] && [ "$sn" -gt 0 ] || { say "FAIL: the standby does not serve the primary's active model"; FAIL=1; }
# Serving statistics live in shared memory, so the read-only standby counts its own calls.
stats=$("${PSQL_S[@]}" -At -c "SELECT coalesce(sum(calls), 0) || ' ' || coalesce(sum(errors), 0) || ' ' || coalesce(round(max(p99_ms)::numeric, 2)::text, '-') FROM reco.serving_stats WHERE function = 'recommend' AND datname = current_database()")
read -r st_calls st_errors st_p99 <<< "$stats"
say "serving statistics on the standby: recommend calls $st_calls, errors $st_errors, p99 (histogram) $st_p99 ms"
[ "$st_calls" -gt 0 ] || { say "FAIL: the standby's reco.serving_stats counted no recommend() call"; FAIL=1; }
versions=$("${PSQL_P[@]}" -At -c "SELECT count(*) || ' versions kept (' || string_agg(model_id::text, ',' ORDER BY model_id) || ')' FROM reco.models")
kept1=0; kept2=0
for r in $(seq 1 "$RN"); do
  if grep -q 'kept .* old model version' "$RES/refresh$r.err"; then
    if [ "$r" -le "$REFRESHES" ]; then kept1=$((kept1 + 1)); else kept2=$((kept2 + 1)); fi
  fi
done
say "primary: $versions at the end ($PHASE1_VERSIONS after phase 1); refreshes that could not prune (NOTICE): phase 1 $kept1 of $REFRESHES, phase 2 (P1 open) $kept2 of $P_REFRESHES"
[ "$kept1" = 0 ] && [ "$kept2" = 0 ] && [ "$("${PSQL_P[@]}" -At -c "SELECT count(*) FROM reco.models")" -le "$KEEP" ] \
  || { say "FAIL: the primary kept more than reco.keep_models versions (pruning was blocked)"; FAIL=1; }
conflicts=$(grep -c 'conflict with recovery' "$RES/standby.log" || true)
say "standby log: $conflicts line(s) about conflicts with recovery; recovery waits:"
{ grep -E 'recovery still waiting|recovery finished waiting|conflict with recovery|User was holding' "$RES/standby.log" || true; } | sed 's/^/  /' | head -20 | tee -a "$SUM"
warnings=$(cat "$RES/primary.log" "$RES/standby.log" | grep -c 'WARNING' || true)
say "server log WARNING lines (leaked locks, snapshots, resources would show here): $warnings"
{ grep -h 'WARNING' "$RES/primary.log" "$RES/standby.log" || true; } | sed 's/^/  /' | head -10 | tee -a "$SUM"
[ "$warnings" = 0 ] || { say "FAIL: warnings in the server logs"; FAIL=1; }
say "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$FAIL" = 0 ]; then say "standby $MODE: PASS"; else say "standby $MODE: FAIL"; fi
exit "$FAIL"
