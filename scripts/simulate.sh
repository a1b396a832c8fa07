#!/usr/bin/env bash
# Simulated shoppers against a running database with reco, the synthetic data and a model
# (crates/reco-sim: reco-simulate; its crate documentation lists what the simulator assumes).
# Each simulated day, visitors are served through reco.serve() and their clicks and purchases go
# through reco.log_event(); with --experiment NAME a popularity vs hybrid experiment (50/50) is
# created and started first if it does not exist, and --results prints experiment_results().
#
#   scripts/simulate.sh --experiment pop-vs-hybrid --days 7 --results     # connection from PG*
#   scripts/simulate.sh 'host=/tmp/reco-demo port=55432 user=postgres dbname=reco_demo' --days 3
#   scripts/simulate.sh --tier M --days 30 --visitors-per-day 2000 --experiment m1 --results
#   scripts/simulate.sh --help                                             # every option
#
# The data must be the generator's (default tier small, seed 42: data/ or scripts/load_tier.sh);
# the simulator checks that before it starts. Builds the binary first (release, a no-op when up
# to date; CARGO_TARGET_DIR is honoured); without cargo, an existing binary is used.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET_DIR/release/reco-simulate"

if command -v cargo >/dev/null 2>&1; then
  (cd "$ROOT" && cargo build --release --quiet -p reco-sim)
elif [ ! -x "$BIN" ]; then
  echo "simulate: cargo not found and $BIN does not exist" >&2
  exit 1
fi
[ -x "$BIN" ] || { echo "simulate: $BIN missing after build" >&2; exit 1; }
exec "$BIN" "$@"
