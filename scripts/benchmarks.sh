#!/usr/bin/env bash
# The whole benchmark suite in one command (not part of CI): speed on tiers M and L
# (scripts/bench/run.sh all: refresh, the Python export pipeline, pgbench recommend() and the
# naive SQL baseline, due_services) and accuracy on MovieLens against Python peers
# (scripts/eval/run.sh). Results are written under /tmp; BENCHMARKS.md records what we measured.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bench/run.sh all
bash scripts/eval/run.sh --throwaway --check-evaluate
