#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 machine (run as root, Rust installed).
# Installs only what is missing: Debian packages, cargo-pgrx 0.18.0, and pgrx's
# PostgreSQL 15 configuration. Safe to run any number of times.
set -euo pipefail

PGRX_VERSION=0.18.0
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
# libssl-dev: cargo-pgrx 0.18's dependency tree builds openssl-sys. python3-venv: benchmarks.
# chromium, chromium-driver: reco-web's browser tests (headless, driven through chromedriver);
# wrk: the HTTP benchmark (scripts/web/bench.sh).
PACKAGES=(postgresql-15 postgresql-server-dev-15 postgresql-15-cron postgresql-15-pgtap
          sudo clang libclang-dev libssl-dev pkg-config build-essential python3-venv
          chromium chromium-driver wrk)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Installing postgresql-15 creates (and, where services run, starts) Debian's own '15/main'
  # cluster on port 5432; reco never uses or touches it.
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: Debian packages present"
fi

export PATH="$HOME/.cargo/bin:$PATH"
if cargo pgrx --version 2>/dev/null | grep -q "$PGRX_VERSION"; then
  echo "setup: cargo-pgrx $PGRX_VERSION present"
else
  echo "setup: installing cargo-pgrx $PGRX_VERSION"
  cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
fi

if grep -qs "pg15 = \"$PG_CONFIG\"" "$HOME/.pgrx/config.toml"; then
  echo "setup: pgrx already initialised for pg15"
else
  echo "setup: cargo pgrx init --pg15 $PG_CONFIG"
  cargo pgrx init --pg15 "$PG_CONFIG"
fi

# pgrx installs the extension into the system PostgreSQL's directories; the test cluster runs as
# postgres and must be able to read the build tree.
echo "setup: done"
