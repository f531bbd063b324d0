#!/usr/bin/env bash
# Formats, then runs the same linters as `make test`. Run before committing.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
cargo fmt
deno fmt -q
deno lint -q
cargo clippy -q --all-targets -- -D warnings
cargo clippy -q --target wasm32-unknown-unknown --all-targets -- -D warnings
echo "precommit: clean"
