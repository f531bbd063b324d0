#!/usr/bin/env bash
# Installs what `make test` / `make dev` need, skipping what is present.
# Each step says what it installs. Safe to run repeatedly.
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_BINDGEN_VERSION=0.2.130
export PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"

say() { printf '[setup] %s\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }

want="${1:-all}" # all | rust | browsers | node

if [ "$want" = all ] || [ "$want" = rust ]; then
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "installing rust target wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
  fi
  if ! have wasm-bindgen || [ "$(wasm-bindgen --version | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
    say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 3 min)"
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
  fi
  if ! have wasm-pack; then
    say "installing wasm-pack (about 2 min)"
    cargo install wasm-pack --locked
  fi
  # The crates' sources, so that pkg/'s remapping of their folder (Makefile,
  # PKG_RUSTFLAGS) finds it before the first build. Quiet when present.
  cargo fetch --quiet
fi

if [ "$want" = all ] || [ "$want" = node ]; then
  if [ ! -x node_modules/.bin/deno ] || [ ! -x node_modules/.bin/wasm-opt ] || [ ! -d node_modules/playwright-core ] || [ ! -x node_modules/@supabase/cli-linux-x64/bin/supabase ] || [ ! -d node_modules/@supabase/supabase-js ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say "installing npm packages (deno, binaryen, postgres, jose, pglite, playwright-core, supabase-js, the Supabase CLI) from package-lock.json"
    # Not `npm ci`: npm 11 records only this platform's optional packages
    # (deno's binaries) in the lock, and `npm ci` then rejects it as out of sync.
    npm install --no-save --no-audit --no-fund --loglevel=error
  fi
fi

if [ "$want" = all ] || [ "$want" = browsers ]; then
  pkgs=()
  have chromium || pkgs+=(chromium)
  have chromedriver || pkgs+=(chromium-driver)
  have firefox-esr || pkgs+=(firefox-esr)
  [ -x /usr/lib/postgresql/15/bin/initdb ] || pkgs+=(postgresql-15)
  # pg_cron for tests/functions/cron.test.ts (the README's Supabase Cron schedule).
  [ -f /usr/lib/postgresql/15/lib/pg_cron.so ] || pkgs+=(postgresql-15-cron)
  if [ ${#pkgs[@]} -gt 0 ]; then
    say "installing Debian packages: ${pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
  fi
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    say "creating the postgres user (the test database refuses to run as root)"
    useradd --system --home /var/lib/postgresql --shell /bin/bash postgres
  fi
  if ! have geckodriver; then
    say "installing geckodriver (about 2.5 min)"
    cargo install geckodriver --locked
  fi
fi
say "toolchain ready"
