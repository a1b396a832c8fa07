#!/usr/bin/env bash
# Past one machine, simulated on one (docs/scaling.md): PL/Proxy routing recommend() by a hash of
# user_id to two shard databases that each hold their users' interactions and a copy of a model
# trained centrally, and pgbouncer in front of a serving database.
#
#   scripts/standby/scaleout_sim.sh M       # tier M (default); `small` = the shop in data/
#
# Needs the Debian packages postgresql-15-plproxy and pgbouncer (apt-get install); like
# scripts/bench/run.sh it serves a release package of reco (RECO_SIM_SKIP_BUILD=1 reuses
# target/release/reco-pg15) from a PRIVATE COPY of the PostgreSQL tree, in one throwaway cluster
# owned by postgres on a free loopback port of 55900-55999, stopped and removed on exit (trap).
#
# Databases of the cluster (on real hardware each shard is its own server):
#   central   the whole log; trains: reco.refresh() (where training runs, see docs/scaling.md)
#   shard0/1  all shoes, the users u with hashint8(u) & 1 = i and all their interactions, and a
#             copy of central's active model version shipped in one transaction (ship_model):
#             reco.models row + the version's four partitions, COPY from central, attached
#   proxy     plproxy: public.recommend(user_id, k) RUN ON hashint8(user_id); public.similar(shoe_id, k)
#             RUN ON ANY; public.due_services(as_of) RUN ON ALL
# Then: (1) recommend() through the proxy equals recommend() on central for 300 users (same
# model, each user's whole history on their shard); (2) pgbench: central directly, a shard
# directly, the proxy; (3) pgbouncer (transaction pooling, 2 server connections) in front of
# central: a new client connection per transaction directly vs through pgbouncer, where the
# pooled server backends keep their model cache.
# Environment: RECO_SIM_DIR (/tmp/reco-scaleout), RECO_SIM_SKIP_BUILD=1, RECO_SIM_SKIP_SETUP=1,
#   RECO_SIM_DURATION (pgbench seconds per case, 15), RECO_SIM_KEEP=1.
set -euo pipefail

TIER=${1:-M}
case "$TIER" in small|M) ;; *) echo "usage: $0 [small|M]" >&2; exit 2 ;; esac
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/scripts/standby"
PG_BIN=/usr/lib/postgresql/15/bin
DIR=${RECO_SIM_DIR:-/tmp/reco-scaleout}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RES="$DIR/results-$STAMP"
DUR=${RECO_SIM_DURATION:-15}
export PATH="$HOME/.cargo/bin:$PATH"
cd "$ROOT"
[ "${RECO_SIM_SKIP_SETUP:-0}" = 1 ] || bash scripts/setup.sh
[ -f /usr/lib/postgresql/15/lib/plproxy.so ] || { echo "sim: install postgresql-15-plproxy (apt-get install postgresql-15-plproxy)" >&2; exit 1; }
command -v pgbouncer >/dev/null || { echo "sim: install pgbouncer (apt-get install pgbouncer)" >&2; exit 1; }
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
PKG="$TARGET_DIR/release/reco-pg15"
[ "${RECO_SIM_SKIP_BUILD:-0}" = 1 ] || cargo pgrx package --pg-config "$PG_BIN/pg_config"
[ -f "$PKG/usr/lib/postgresql/15/lib/reco.so" ] || { echo "sim: no build in $PKG" >&2; exit 1; }
[ "$TIER" = small ] || cargo build --release --quiet -p reco-datagen

PGDATA="$DIR/pgdata"
SERVER_BIN="$DIR/inst/usr/lib/postgresql/15/bin"
STARTED=0
cleanup() {
  local rc=$?
  if [ -f "$DIR/pgbouncer.pid" ]; then kill "$(cat "$DIR/pgbouncer.pid")" 2>/dev/null || true; rm -f "$DIR/pgbouncer.pid"; fi
  if [ "$STARTED" = 1 ] && [ "${RECO_SIM_KEEP:-0}" != 1 ]; then
    sudo -u postgres "$SERVER_BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$PGDATA" "$DIR/inst" "$DIR/data"
  fi
  [ $rc -eq 0 ] || echo "sim: FAILED (exit $rc); results in $RES" >&2
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if [ -f "$PGDATA/postmaster.pid" ] && [ -x "$SERVER_BIN/pg_ctl" ]; then
  sudo -u postgres "$SERVER_BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1 || true
fi
rm -rf "$PGDATA" "$DIR/inst"
mkdir -p "$DIR" "$RES"; chown postgres "$DIR" "$RES"; chmod 755 "$DIR"

# Private PostgreSQL tree (see scripts/bench/run.sh); plproxy comes along with the system files.
mkdir -p "$DIR/inst/usr/lib/postgresql" "$DIR/inst/usr/share/postgresql"
cp -al /usr/lib/postgresql/15 "$DIR/inst/usr/lib/postgresql/15"
cp -al /usr/share/postgresql/15 "$DIR/inst/usr/share/postgresql/15"
rm -f "$DIR/inst/usr/lib/postgresql/15/lib/reco.so" "$DIR"/inst/usr/share/postgresql/15/extension/reco[.-]*
cp "$PKG/usr/lib/postgresql/15/lib/reco.so" "$DIR/inst/usr/lib/postgresql/15/lib/"
cp "$PKG"/usr/share/postgresql/15/extension/reco* "$DIR/inst/usr/share/postgresql/15/extension/"

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORTS=()
for p in $(seq 55900 55999); do
  if ! port_busy "$p" && [ ! -e "/tmp/.s.PGSQL.$p" ] && [ ! -e "$DIR/.s.PGSQL.$p" ]; then PORTS+=("$p"); fi
  [ ${#PORTS[@]} -eq 2 ] && break
done
[ ${#PORTS[@]} -eq 2 ] || { echo "sim: no two free ports in 55900-55999" >&2; exit 1; }
PORT=${PORTS[0]}; BPORT=${PORTS[1]}
sudo -u postgres "$SERVER_BIN/initdb" -D "$PGDATA" -A trust -U postgres >/dev/null
printf '%s\n' "listen_addresses = '127.0.0.1'" "port = $PORT" "unix_socket_directories = '$DIR'" \
  "shared_buffers = 2GB" "work_mem = 64MB" "maintenance_work_mem = 1GB" "max_wal_size = 8GB" \
  "wal_level = minimal" "max_wal_senders = 0" "max_connections = 60" >> "$PGDATA/postgresql.conf"
sudo -u postgres "$SERVER_BIN/pg_ctl" -D "$PGDATA" -l "$RES/server.log" -w start >/dev/null
STARTED=1
export PGHOST="$DIR" PGPORT="$PORT" PGUSER=postgres
PSQL=("$PG_BIN/psql" -X -v ON_ERROR_STOP=1)
SUM="$RES/summary.txt"
say() { echo "$*" | tee -a "$SUM"; }
say "reco scale-out simulation $STAMP, tier $TIER; $(nproc) cores; load average at start: $(cut -d' ' -f1-3 /proc/loadavg); git $(git rev-parse --short HEAD); plproxy $(dpkg-query -W -f '${Version}' postgresql-15-plproxy), pgbouncer $(dpkg-query -W -f '${Version}' pgbouncer)"

for db in central shard0 shard1 proxy; do "${PSQL[@]}" -d postgres -qc "CREATE DATABASE $db"; done
for db in central shard0 shard1; do "${PSQL[@]}" -d "$db" -qc "CREATE EXTENSION reco"; done

# ---- central: the whole log, trained there ----
if [ "$TIER" = small ]; then
  rm -rf "$DIR/data"; cp -r "$ROOT/data" "$DIR/data"; chown -R postgres "$DIR/data"
  "${PSQL[@]}" -d central -qAt -c "SELECT * FROM reco.load_csv('$DIR/data')" >/dev/null
else
  PGDATABASE=central bash scripts/load_tier.sh "$TIER" > "$RES/load.log" 2>&1
fi
t0=$(date +%s.%N)
"${PSQL[@]}" -d central -At -c "SELECT 'central refresh(): model ' || model_id || ', ' || users || ' users, ' || interactions || ' interactions' FROM reco.refresh()" | tee -a "$SUM"
say "central refresh wall: $(printf '%.2f' "$(echo "$(date +%s.%N) - $t0" | bc)") s"

# ---- shards: hashint8(user_id) & 1 is the partition PL/Proxy picks for RUN ON hashint8(user_id)
# with 2 partitions (it masks the hash with partitions - 1). Catalogue on every shard.
for i in 0 1; do
  t0=$(date +%s.%N)
  "${PSQL[@]}" -d "shard$i" -q <<SQL
BEGIN;
SET LOCAL session_replication_role = replica;
\copy reco.shoes FROM PROGRAM '$PG_BIN/psql -X -h $DIR -p $PORT -d central -c "COPY reco.shoes TO STDOUT"'
\copy reco.users FROM PROGRAM '$PG_BIN/psql -X -h $DIR -p $PORT -d central -c "COPY (SELECT * FROM reco.users WHERE (hashint8(user_id) & 1) = $i) TO STDOUT"'
\copy reco.interactions FROM PROGRAM '$PG_BIN/psql -X -h $DIR -p $PORT -d central -c "COPY (SELECT i.* FROM reco.interactions i WHERE (hashint8(i.user_id) & 1) = $i) TO STDOUT"'
SELECT setval(pg_get_serial_sequence('reco.interactions', 'interaction_id'), (SELECT max(interaction_id) FROM reco.interactions)) AS last_id \gset
COMMIT;
ANALYZE;
SQL
  say "shard$i: $("${PSQL[@]}" -d "shard$i" -At -c "SELECT (SELECT count(*) FROM reco.users) || ' users, ' || (SELECT count(*) FROM reco.interactions) || ' interactions, ' || (SELECT count(*) FROM reco.shoes) || ' shoes'") (copied in $(printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc)") s)"
done

# Ship central's active model version to a shard: one transaction, so the shard's backends switch
# from one complete version to the next (their cache key is the active model id).
ship_model() {
  local shard=$1 id
  id=$("${PSQL[@]}" -d central -At -c "SELECT model_id FROM reco.models WHERE status = 'active'")
  local from="$PG_BIN/psql -X -h $DIR -p $PORT -d central -c"
  "${PSQL[@]}" -d "$shard" -q > "$RES/ship_$shard.log" <<SQL
BEGIN;
LOCK TABLE reco.models IN SHARE ROW EXCLUSIVE MODE;
UPDATE reco.models SET status = 'retired' WHERE status = 'active';
\copy reco.models FROM PROGRAM '$from "COPY (SELECT * FROM reco.models WHERE model_id = $id) TO STDOUT"'
SELECT reco.create_model_partitions($id);
\copy reco.model_shoes_$id FROM PROGRAM '$from "COPY reco.model_shoes_$id TO STDOUT"'
\copy reco.model_users_$id FROM PROGRAM '$from "COPY reco.model_users_$id TO STDOUT"'
\copy reco.model_vocabulary_$id FROM PROGRAM '$from "COPY reco.model_vocabulary_$id TO STDOUT"'
\copy reco.model_segments_$id FROM PROGRAM '$from "COPY reco.model_segments_$id TO STDOUT"'
SELECT reco.attach_model_partitions($id);
COMMIT;
SQL
  echo "$id"
}
for i in 0 1; do
  t0=$(date +%s.%N)
  id=$(ship_model "shard$i")
  say "model $id shipped to shard$i in $(printf '%.2f' "$(echo "$(date +%s.%N) - $t0" | bc)") s ($("${PSQL[@]}" -d "shard$i" -At -c "SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) FROM pg_class c WHERE c.relname ~ '^model_(shoes|users|vocabulary|segments)_$id\$'") on disk)"
done

# ---- proxy ----
"${PSQL[@]}" -d proxy -q <<SQL
CREATE EXTENSION plproxy;
CREATE SERVER reco_shards FOREIGN DATA WRAPPER plproxy OPTIONS (
  connection_lifetime '1800',
  p0 'host=$DIR port=$PORT dbname=shard0',
  p1 'host=$DIR port=$PORT dbname=shard1');
CREATE USER MAPPING FOR PUBLIC SERVER reco_shards OPTIONS (user 'postgres');
CREATE FUNCTION public.recommend(user_id bigint, k int DEFAULT 10,
    OUT shoe_id bigint, OUT score float8, OUT cf_score float8, OUT content_score float8, OUT reason text)
RETURNS SETOF record LANGUAGE plproxy AS \$\$
  CLUSTER 'reco_shards';
  RUN ON hashint8(user_id);
  SELECT shoe_id, score, cf_score, content_score, reason FROM reco.recommend(user_id, k);
\$\$;
-- The argument is not called shoe_id: PL/Proxy replaces argument names anywhere in the query,
-- the select list included.
CREATE FUNCTION public.similar(of_shoe bigint, k int DEFAULT 10,
    OUT shoe_id bigint, OUT score float8, OUT content_score float8, OUT cf_score float8)
RETURNS SETOF record LANGUAGE plproxy AS \$\$
  CLUSTER 'reco_shards';
  RUN ON ANY;
  SELECT shoe_id, score, content_score, cf_score FROM reco.similar(of_shoe, k);
\$\$;
CREATE FUNCTION public.due_services(as_of date,
    OUT user_id bigint, OUT shoe_id bigint, OUT purchased_on date, OUT service text, OUT due_on date,
    OUT message text, OUT suggestions bigint[])
RETURNS SETOF record LANGUAGE plproxy AS \$\$
  CLUSTER 'reco_shards';
  RUN ON ALL;
  SELECT user_id, shoe_id, purchased_on, service, due_on, message, suggestions FROM reco.due_services(as_of);
\$\$;
SQL
say "proxy: $("${PSQL[@]}" -d proxy -At -c "SELECT 'recommend(7, 3) via the proxy: ' || string_agg(shoe_id::text, ',') FROM public.recommend(7, 3)")"

# ---- (1) the proxy answers as central does ----
MAX_UID=$("${PSQL[@]}" -d central -At -c "SELECT max(user_id) FROM reco.users")
MAX_SID=$("${PSQL[@]}" -d central -At -c "SELECT max(shoe_id) FROM reco.shoes")
users=$(seq 1 300 | awk -v m="$MAX_UID" '{srand(42 + $1); printf "%d%s", 1 + int(rand() * m), (NR < 300 ? "," : "")}')
q_rec="SELECT md5(string_agg(u || ':' || shoe_id || ':' || round(score::numeric, 9), ',' ORDER BY u, score DESC, shoe_id)) FROM unnest('{$users}'::bigint[]) u, LATERAL"
a=$("${PSQL[@]}" -d central -At -c "$q_rec reco.recommend(u, 10)")
b=$("${PSQL[@]}" -d proxy -At -c "$q_rec public.recommend(u, 10)")
say "recommend(u, 10) for 300 random users: central md5 $a, proxy md5 $b: $([ "$a" = "$b" ] && echo SAME || echo DIFFERENT)"
q_sim="SELECT md5(string_agg(s || ':' || shoe_id || ':' || round(score::numeric, 9), ',' ORDER BY s, score DESC, shoe_id)) FROM generate_series(1, 200) s, LATERAL"
a=$("${PSQL[@]}" -d central -At -c "$q_sim reco.similar(s, 10)")
b=$("${PSQL[@]}" -d proxy -At -c "$q_sim public.similar(s, 10)")
say "similar(s, 10) for shoes 1..200: $([ "$a" = "$b" ] && echo SAME || echo DIFFERENT)"
t0=$(date +%s.%N)
a=$("${PSQL[@]}" -d central -At -c "SELECT count(*) FROM reco.due_services('2026-11-02')")
t1=$(date +%s.%N)
b=$("${PSQL[@]}" -d proxy -At -c "SELECT count(*) FROM public.due_services('2026-11-02')")
t2=$(date +%s.%N)
say "due_services('2026-11-02') rows: central $a ($(printf '%.2f' "$(echo "$t1 - $t0" | bc)") s), proxy RUN ON ALL $b ($(printf '%.2f' "$(echo "$t2 - $t1" | bc)") s; the shards run in parallel, here on the same 2 cores)"

# What one serving backend holds once its cache is loaded (the catalogue and the model's shoe
# side are per backend: every pooled server connection has its own copy).
for db in central shard0; do
  mem=$("${PSQL[@]}" -d "$db" -At <<'SQL'
SELECT pg_backend_pid() AS pid \gset
SELECT clock_timestamp() AS t0 \gset
SELECT count(*) FROM reco.recommend(NULL, 10) \gset
SELECT round(extract(epoch FROM clock_timestamp() - :'t0')::numeric, 2) AS load_s \gset
\echo first call (cache load) :load_s s
\setenv P :pid
\! grep -E '^(VmHWM|RssAnon)' /proc/$P/status | tr -s ' \t\n' ' '
SQL
)
  say "$db serving backend: $mem"
done

# ---- (2) throughput ----
bench() {  # label db mode clients extra...
  local label=$1 db=$2 mode=$3 c=$4; shift 4
  (cd "$RES" && "$PG_BIN/pgbench" -h "$DIR" -n -M "$mode" -c "$c" -j 2 -T "$DUR" "$@" -D max_uid="$MAX_UID" -D max_sid="$MAX_SID" \
     -f "$RES/rec_$db.sql" -l --log-prefix="$label" "$db" > "pgbench_$label.out" 2>&1) || { cat "$RES/pgbench_$label.out"; return 1; }
  say "$(python3 "$ROOT/scripts/bench/latency.py" --skip 3 --label "$label" "$RES/$label".* ) [load $(cut -d' ' -f1 /proc/loadavg)]"
}
printf '%s\n' "\\set uid random(1, :max_uid)" "SELECT * FROM reco.recommend(:uid, 10);" > "$RES/rec_central.sql"
printf '%s\n' "\\set uid random(1, :max_uid)" "SELECT * FROM public.recommend(:uid, 10);" > "$RES/rec_proxy.sql"
# shard0 gets only its users: a random user of the whole shop, mapped to the nearest shard0 user.
"${PSQL[@]}" -d shard0 -qc "CREATE TABLE public.shard_users AS SELECT row_number() OVER (ORDER BY user_id) AS n, user_id FROM reco.users; ALTER TABLE public.shard_users ADD PRIMARY KEY (n)"
N0=$("${PSQL[@]}" -d shard0 -At -c "SELECT count(*) FROM public.shard_users")
printf '%s\n' "\\set n random(1, $N0)" "SELECT r.* FROM public.shard_users s, LATERAL reco.recommend(s.user_id, 10) r WHERE s.n = :n;" > "$RES/rec_shard0.sql"
say "-- pgbench recommend(u, 10), -T $DUR, first 3 s dropped --"
bench central_prepared central prepared 2
bench shard0_prepared shard0 prepared 2
bench proxy_prepared proxy prepared 2
bench proxy_prepared_c4 proxy prepared 4

# ---- (3) pgbouncer in front of central ----
cat > "$DIR/pgbouncer.ini" <<INI
[databases]
central = host=$DIR port=$PORT dbname=central
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BPORT
unix_socket_dir = $DIR
auth_type = trust
auth_file = $DIR/userlist.txt
pool_mode = transaction
default_pool_size = 2
max_client_conn = 200
logfile = $RES/pgbouncer.log
pidfile = $DIR/pgbouncer.pid
INI
echo '"postgres" ""' > "$DIR/userlist.txt"
chown postgres "$DIR/pgbouncer.ini" "$DIR/userlist.txt"
sudo -u postgres pgbouncer -d "$DIR/pgbouncer.ini"
for _ in $(seq 1 50); do port_busy "$BPORT" && break; sleep 0.1; done
say "-- pgbouncer $BPORT -> central (pool_mode = transaction, default_pool_size = 2); -M extended (1.18 has no prepared statements in transaction mode) --"
bench direct_extended central extended 2
bench direct_newconn central extended 2 -C
bench bouncer_extended central extended 8 -p "$BPORT"
bench bouncer_newconn central extended 8 -C -p "$BPORT"
say "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
