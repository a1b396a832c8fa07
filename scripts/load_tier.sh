#!/usr/bin/env bash
# Load a synthetic data tier (small | M | L) into a running PostgreSQL that already has the
# reco tables (CREATE EXTENSION reco, or sql/schema.sql). REPLACES all rows of reco.users,
# reco.shoes and reco.interactions (TRUNCATE ... CASCADE also empties tables referencing them).
#
#   scripts/load_tier.sh TIER            # connection from PGHOST/PGPORT/PGUSER/PGDATABASE (psql defaults)
#   RECO_SEED=7 scripts/load_tier.sh M   # another seed (default 42)
#
# The CSV is generated on the fly by crates/reco-datagen and piped into COPY (\copy ... FROM
# PROGRAM, client side: no temp files, the server never reads the filesystem). Everything runs
# in ONE psql session and ONE transaction, so a failure leaves the old data in place.
#
# REQUIRES A SUPERUSER: the load sets session_replication_role = replica, which skips the
# foreign-key (RI) triggers -- and any other ordinary trigger -- on these tables during the
# bulk load. That is safe because the generator guarantees referential integrity (every
# interaction references an existing user, shoe and action). reco's own ENABLE ALWAYS triggers
# still fire: the catalogue version, and reco.service_periods, which the COPY of the
# interactions builds for every buyer (on tier L about half of the interactions step). Secondary (non-constraint)
# indexes of the three tables are dropped before the load and recreated afterwards, in the
# same transaction, from their own definitions (pg_get_indexdef), so names and definitions stay
# exactly as the schema made them. Then the interaction_id identity is moved past max(id) and
# the tables are ANALYZEd (reco.service_periods too: without statistics, a first due_services()
# over the whole backlog was 7x slower on tier M).
#
# Tunables: RECO_SEED (42), RECO_LOAD_MWM (maintenance_work_mem for the index builds, 1GB).
set -euo pipefail

usage() { echo "usage: $0 small|M|L" >&2; exit 2; }
[ $# -eq 1 ] || usage
case "$1" in
  small|s|S) TIER=small ;;
  M|m) TIER=M ;;
  L|l) TIER=L ;;
  *) usage ;;
esac
SEED="${RECO_SEED:-42}"
MWM="${RECO_LOAD_MWM:-1GB}"
[[ "$SEED" =~ ^[0-9]+$ ]] || { echo "RECO_SEED must be a non-negative integer" >&2; exit 2; }
[[ "$MWM" =~ ^[0-9]+[kMGT]?B?$ ]] || { echo "RECO_LOAD_MWM must look like 1GB or 512MB" >&2; exit 2; }

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET_DIR/release/reco-datagen"

# Build (a no-op when up to date). Without cargo, use an existing binary.
if command -v cargo >/dev/null 2>&1; then
  (cd "$ROOT" && cargo build --release --quiet -p reco-datagen)
elif [ ! -x "$BIN" ]; then
  echo "load_tier: cargo not found and $BIN does not exist" >&2
  exit 1
fi
[ -x "$BIN" ] || { echo "load_tier: $BIN missing after build" >&2; exit 1; }
# The path is embedded in a single-quoted \copy ... FROM PROGRAM string.
case "$BIN" in *[\'\"[:space:]]*) echo "load_tier: binary path must not contain quotes or spaces: $BIN" >&2; exit 1 ;; esac

GEN="$BIN --tier $TIER --seed $SEED"
echo "load_tier: tier $TIER, seed $SEED -> ${PGDATABASE:-<default db>} on ${PGHOST:-<default host>}:${PGPORT:-5432}"

# \copy takes the rest of its line literally (no psql variable interpolation), hence the
# generator command is substituted here by the shell.
psql -X -q -v ON_ERROR_STOP=1 <<SQL
\set QUIET on
SELECT extract(epoch FROM clock_timestamp()) AS t_all, extract(epoch FROM clock_timestamp()) AS t0 \gset
BEGIN;
-- Superuser only: skip FK/RI (and other ordinary) triggers during the bulk load.
SET LOCAL session_replication_role = replica;
SET LOCAL maintenance_work_mem = '$MWM';
TRUNCATE reco.interactions, reco.shoes, reco.users CASCADE;
-- Secondary indexes (not backing a PK/unique/exclusion constraint) of the three tables.
CREATE TEMP TABLE _reco_load_idx ON COMMIT DROP AS
  SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
    FROM pg_index i
   WHERE i.indrelid IN ('reco.users'::regclass, 'reco.shoes'::regclass, 'reco.interactions'::regclass)
     AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
   ORDER BY i.indrelid, i.indexrelid;
SELECT coalesce(string_agg(name, ', '), '(none)') AS idx_names FROM _reco_load_idx \gset
\echo 'load_tier: dropping secondary indexes:' :idx_names
SELECT format('DROP INDEX %s', name) FROM _reco_load_idx \gexec
SELECT round((extract(epoch FROM clock_timestamp()) - :t0)::numeric, 1) AS dt, extract(epoch FROM clock_timestamp()) AS t0 \gset
\echo 'load_tier: truncate + drop indexes' :dt 's'

\copy reco.users FROM PROGRAM '$GEN --table users --quiet' WITH (FORMAT csv, HEADER true, FREEZE true)
SELECT round((extract(epoch FROM clock_timestamp()) - :t0)::numeric, 1) AS dt, extract(epoch FROM clock_timestamp()) AS t0 \gset
\echo 'load_tier: users       ' :dt 's'

\copy reco.shoes FROM PROGRAM '$GEN --table shoes --quiet' WITH (FORMAT csv, HEADER true, FREEZE true)
SELECT round((extract(epoch FROM clock_timestamp()) - :t0)::numeric, 1) AS dt, extract(epoch FROM clock_timestamp()) AS t0 \gset
\echo 'load_tier: shoes       ' :dt 's'

\copy reco.interactions FROM PROGRAM '$GEN --table interactions' WITH (FORMAT csv, HEADER true, FREEZE true)
SELECT round((extract(epoch FROM clock_timestamp()) - :t0)::numeric, 1) AS dt, extract(epoch FROM clock_timestamp()) AS t0 \gset
\echo 'load_tier: interactions' :dt 's'

SELECT def FROM _reco_load_idx \gexec
SELECT round((extract(epoch FROM clock_timestamp()) - :t0)::numeric, 1) AS dt, extract(epoch FROM clock_timestamp()) AS t0 \gset
\echo 'load_tier: recreate indexes' :dt 's'

-- Identity: the next generated interaction_id follows the loaded ones.
SELECT setval(pg_get_serial_sequence('reco.interactions', 'interaction_id'),
              coalesce(max(interaction_id), 1), max(interaction_id) IS NOT NULL)
  FROM reco.interactions \gset
-- New catalogue version, so backends reload their cached catalogue (the trigger also fires under
-- the replica role, ENABLE ALWAYS; this covers databases created before that).
UPDATE reco.catalog_version SET version = nextval('reco.catalog_version_seq');
ANALYZE reco.users, reco.shoes, reco.interactions, reco.service_periods;
COMMIT;
SELECT round((extract(epoch FROM clock_timestamp()) - :t0)::numeric, 1) AS dt \gset
\echo 'load_tier: setval + analyze + commit' :dt 's'
SELECT (SELECT count(*) FROM reco.users) AS n_users, (SELECT count(*) FROM reco.shoes) AS n_shoes,
       (SELECT count(*) FROM reco.interactions) AS n_inter,
       round((extract(epoch FROM clock_timestamp()) - :t_all)::numeric, 1) AS total \gset
\echo 'load_tier: loaded' :n_users 'users,' :n_shoes 'shoes,' :n_inter 'interactions; total' :total 's'
SQL
