#!/usr/bin/env bash
# A/B of two reco.so builds on the cluster a `RECO_BENCH_KEEP=1 scripts/bench/run.sh M` left
# running: alternating blocks, each a swap of the library, a restart, one warm-up refresh() and
# N measured ones, each in a new backend. Prints per run the time of the log read (the
# "reading interactions" step of refresh()'s debug output), refresh()'s read / build / write /
# quality seconds, and psql's wall time of the call.
#
#   cargo pgrx package --pg-config /usr/lib/postgresql/15/bin/pg_config
#   cp target/release/reco-pg15/usr/lib/postgresql/15/lib/reco.so /tmp/reco_b.so   # (and _a)
#   scripts/bench/ab_so.sh /tmp/reco_a.so /tmp/reco_b.so
#
# Environment: RECO_BENCH_DIR (/tmp/reco-bench), RECO_AB_RUNS (5 per block), RECO_AB_BLOCKS
# ("a b a b"), RECO_BENCH_PORT (55600), RECO_BENCH_DB (reco_bench).
# Restarts the kept cluster with the pg_ctl of its private PostgreSQL tree: the system pg_ctl would
# start the system server, which loads the system reco.so.
set -euo pipefail

a=${1:?usage: ab_so.sh A.so B.so}
b=${2:?usage: ab_so.sh A.so B.so}
dir=${RECO_BENCH_DIR:-/tmp/reco-bench}
runs=${RECO_AB_RUNS:-5}
port=${RECO_BENCH_PORT:-55600}
db=${RECO_BENCH_DB:-reco_bench}
lib=$dir/inst/usr/lib/postgresql/15/lib
pg_ctl=$dir/inst/usr/lib/postgresql/15/bin/pg_ctl
[ -x "$pg_ctl" ] && [ -d "$dir/pgdata" ] || {
    echo "ab_so.sh: no kept benchmark cluster in $dir (run scripts/bench/run.sh M with RECO_BENCH_KEEP=1)" >&2
    exit 1
}

refresh_once() {
    sudo -u postgres /usr/lib/postgresql/15/bin/psql -h "$dir" -p "$port" -d "$db" -X -qAt \
        -c "SET client_min_messages = debug1" -c '\timing on' \
        -c "SELECT round(read_seconds::numeric, 3), round(svd_seconds::numeric, 3), round(write_seconds::numeric, 3), round(quality_seconds::numeric, 3) FROM reco.refresh()" 2>&1 |
        awk '/reading interactions:/ { sub(/.*reading interactions: /, ""); log_read = $1 }
             /^[0-9.]+\|/ { split($0, f, "|") }
             /^Time:/ { wall = $2 }
             END { printf "log read %s s  read %s  build %s  write %s  quality %s  wall %.3f s\n", log_read, f[1], f[2], f[3], f[4], wall / 1000 }'
}

for block in ${RECO_AB_BLOCKS:-a b a b}; do
    case $block in a) so=$a ;; b) so=$b ;; *) echo "ab_so.sh: blocks are a or b" >&2; exit 1 ;; esac
    # Atomic replacement: a backend that still maps the old file keeps its copy.
    cp "$so" "$lib/reco.so.new" && mv "$lib/reco.so.new" "$lib/reco.so"
    sudo -u postgres "$pg_ctl" restart -D "$dir/pgdata" -m fast -w -l "$dir/server.log" >/dev/null
    refresh_once >/dev/null
    for _ in $(seq "$runs"); do
        echo "$block $(refresh_once)"
    done
done
