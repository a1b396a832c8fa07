# Sourced by scripts/web/test.sh and scripts/web/bench.sh: a throwaway PostgreSQL 15 cluster
# serving the reco build in a package directory (`cargo pgrx package` output), from a PRIVATE
# COPY of the PostgreSQL tree, as scripts/standby/run.sh does: hard links of the system files and
# real copies of reco's, so nobody's `cargo pgrx install` can replace reco.so under our server
# (and we never replace theirs). Owned by the postgres OS user (PostgreSQL refuses root), on the
# first free loopback port of 55900-55999, socket in the cluster's directory.
#
#   web_cluster_start PKG_DIR DIR [extra postgresql.conf lines...]   sets PGPORT_WEB, PGHOST_WEB, SERVER_BIN
#   web_cluster_stop                                                 stops it and removes DIR's cluster
#   web_psql DB [psql args...]                                       psql as postgres
PG_BIN=/usr/lib/postgresql/15/bin

web_cluster_start() {
  local pkg=$1 dir=$2 p
  shift 2
  [ -f "$pkg/usr/lib/postgresql/15/lib/reco.so" ] || { echo "web: no reco build in $pkg (cargo pgrx package --debug writes target/debug/reco-pg15)" >&2; return 1; }
  WEB_DIR=$dir
  SERVER_BIN="$dir/inst/usr/lib/postgresql/15/bin"
  web_cluster_stop
  mkdir -p "$dir"
  chown postgres "$dir"
  chmod 755 "$dir"
  rm -rf "$dir/inst"
  mkdir -p "$dir/inst/usr/lib/postgresql" "$dir/inst/usr/share/postgresql"
  cp -al /usr/lib/postgresql/15 "$dir/inst/usr/lib/postgresql/15"
  cp -al /usr/share/postgresql/15 "$dir/inst/usr/share/postgresql/15"
  rm -f "$dir/inst/usr/lib/postgresql/15/lib/reco.so" "$dir"/inst/usr/share/postgresql/15/extension/reco[.-]*
  cp "$pkg/usr/lib/postgresql/15/lib/reco.so" "$dir/inst/usr/lib/postgresql/15/lib/"
  cp "$pkg"/usr/share/postgresql/15/extension/reco* "$dir/inst/usr/share/postgresql/15/extension/"
  [ "$("$SERVER_BIN/pg_config" --pkglibdir)" = "$dir/inst/usr/lib/postgresql/15/lib" ] \
    || { echo "web: the private PostgreSQL tree does not relocate" >&2; return 1; }
  PGPORT_WEB=""
  for p in $(seq 55900 55999); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && [ ! -e "/tmp/.s.PGSQL.$p" ] && [ ! -e "$dir/.s.PGSQL.$p" ]; then
      PGPORT_WEB=$p; break
    fi
  done
  [ -n "$PGPORT_WEB" ] || { echo "web: no free port in 55900-55999" >&2; return 1; }
  PGHOST_WEB=$dir
  sudo -u postgres "$SERVER_BIN/initdb" -D "$dir/pgdata" -A trust -U postgres >/dev/null
  printf '%s\n' "# reco-web throwaway cluster (scripts/web/cluster.sh)" "listen_addresses = '127.0.0.1'" \
    "port = $PGPORT_WEB" "unix_socket_directories = '$dir'" "max_connections = 60" "$@" >> "$dir/pgdata/postgresql.conf"
  sudo -u postgres "$SERVER_BIN/pg_ctl" -D "$dir/pgdata" -l "$dir/server.log" -w start >/dev/null
  WEB_CLUSTER_STARTED=1
}

web_cluster_stop() {
  if [ -n "${WEB_DIR:-}" ] && [ -f "$WEB_DIR/pgdata/postmaster.pid" ] && [ -x "$SERVER_BIN/pg_ctl" ]; then
    sudo -u postgres "$SERVER_BIN/pg_ctl" -D "$WEB_DIR/pgdata" -m fast -w stop >/dev/null 2>&1 || true
  fi
  if [ -n "${WEB_DIR:-}" ]; then rm -rf "$WEB_DIR/pgdata" "$WEB_DIR/inst"; fi
  WEB_CLUSTER_STARTED=0
}

web_psql() {
  local db=$1
  shift
  sudo -u postgres "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGHOST_WEB" -p "$PGPORT_WEB" -d "$db" "$@"
}

# Creates the database with reco and the small shop of data/ (no model yet), the dashboard
# functions (reco.grant_dashboard() and what it grants) and
# the least-privilege role reco_web that reco-web connects as.
web_load_shop() {
  local root=$1 db=$2
  web_psql postgres -c "CREATE DATABASE $db"
  mkdir -p "$WEB_DIR/data"
  cp "$root"/data/*.csv "$WEB_DIR/data/"
  chown -R postgres "$WEB_DIR/data"
  web_psql "$db" -c "CREATE EXTENSION reco" -c "SELECT reco.load_csv('$WEB_DIR/data')" >/dev/null
  # A build from before the dashboard block of sql/reco--0.3.0--0.4.0.sql: run that block alone
  # (plain SQL), so the same functions exist, outside the extension.
  if [ "$(web_psql "$db" -At -c "SELECT to_regproc('reco.grant_dashboard') IS NULL")" = t ]; then
    echo "web: this reco build has no dashboard functions: running the web dashboard block of sql/reco--0.3.0--0.4.0.sql"
    sed -n '/^-- >>> web dashboard (#15)/,/^-- <<< web dashboard (#15)/p' "$root/sql/reco--0.3.0--0.4.0.sql" | web_psql "$db" -f -
  fi
  web_psql "$db" -c "CREATE ROLE reco_web LOGIN" -c "SELECT reco.grant_dashboard('reco_web')" >/dev/null
}
