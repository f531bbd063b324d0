# oauth-token-manager. `make test` is the test command; `make dev` the local stack.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

CARGO_HOME ?= $(HOME)/.cargo
RUSTUP_HOME ?= $(HOME)/.rustup
export PATH := $(CURDIR)/scripts/deno-bin:$(CARGO_HOME)/bin:$(CURDIR)/node_modules/.bin:$(PATH)
# Reproducible pkg/: no absolute paths in panic locations, and the crates'
# folder (cargo/registry/src/index.crates.io-<hash>, whose name changes with
# cargo versions) as just `crates` (the last matching prefix wins). Expanded
# when used, after `setup` has fetched the crates. `aes_compact`: the aes
# crate's smaller software AES (the wasm build has no AES instructions), as in
# .cargo/config.toml for the wasm tests.
PKG_RUSTFLAGS = --cfg aes_compact --remap-path-prefix=$(CURDIR)=. --remap-path-prefix=$(CARGO_HOME)=cargo --remap-path-prefix=$(RUSTUP_HOME)=rustup $(foreach d,$(wildcard $(CARGO_HOME)/registry/src/*),--remap-path-prefix=$(d)=crates)
DENO := $(CURDIR)/node_modules/.bin/deno

.PHONY: help setup pkg check-pkg lint test test-native test-wasm test-chrome test-firefox test-node test-deno smoke smoke-deno smoke-node test-package test-adapter test-functions test-e2e bench dev dev-connect

help:
	@echo "make dev    - local stack (see README)"
	@echo "make test   - everything CI runs: lint, native, wasm in Chrome/Firefox/Node/Deno, pkg checks"
	@echo "make pkg    - rebuild pkg/ (wasm-pack --target web)"
	@echo "make bench  - sizes and timings"

setup:
	@bash scripts/setup.sh all

pkg: setup
	@echo "== building pkg/ (the server build: the server feature only)"
	RUSTFLAGS="$(PKG_RUSTFLAGS)" wasm-pack build --release --target web --out-dir pkg --out-name oauth_token_manager -- --no-default-features --features server 2>&1 | grep -vE '^\s+Compiling' || true
	@test -f pkg/oauth_token_manager_bg.wasm
	@echo "== building pkg/browser/ (the client feature only)"
	RUSTFLAGS="$(PKG_RUSTFLAGS)" wasm-pack build --release --target web --out-dir pkg/browser --out-name oauth_token_manager_browser -- --no-default-features --features client 2>&1 | grep -vE '^\s+Compiling' || true
	@test -f pkg/browser/oauth_token_manager_browser_bg.wasm
	@echo "== building pkg/legacy/ (the legacy feature only: the operator's import)"
	RUSTFLAGS="$(PKG_RUSTFLAGS)" wasm-pack build --release --target web --out-dir pkg/legacy --out-name oauth_token_manager_legacy -- --no-default-features --features legacy 2>&1 | grep -vE '^\s+Compiling' || true
	@test -f pkg/legacy/oauth_token_manager_legacy_bg.wasm
	@rm -f pkg/.gitignore
	@node scripts/finish-pkg.mjs
	@node scripts/sync-functions-pkg.mjs

# The committed pkg/ (and the functions' copy of it) must be what the sources build.
check-pkg: pkg
	@if ! git diff --quiet -- pkg supabase/functions/_shared/pkg || [ -n "$$(git ls-files --others --exclude-standard pkg supabase/functions/_shared/pkg)" ]; then \
	  echo "pkg/ differs from the committed copy: run 'make pkg' and commit pkg/ and supabase/functions/_shared/pkg/"; git status --short pkg supabase/functions/_shared/pkg; exit 1; fi
	@echo "pkg/ and supabase/functions/_shared/pkg/ match the committed copies"

lint: setup
	@echo "== lint"
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --target wasm32-unknown-unknown --all-targets -- -D warnings
	cargo clippy --target wasm32-unknown-unknown --all-targets --no-default-features --features client -- -D warnings
	cargo clippy --target wasm32-unknown-unknown --lib --no-default-features --features server -- -D warnings
	cargo clippy --target wasm32-unknown-unknown --lib --no-default-features --features legacy -- -D warnings
	$(DENO) fmt --check
	$(DENO) lint
	$(DENO) check --quiet scripts/*.ts emulator/*.ts supabase/functions/*/index.ts
	node scripts/sync-functions-pkg.mjs --check

test-native:
	@echo "== native tests"
	cargo test

# The wasm tests as the package ships the crate: the server build's tests
# (pkg/: the server feature alone) and the browser build's (pkg/browser/: the
# client feature alone), each compiled without the other, in every runtime.
SERVER_ONLY := --no-default-features --features server --test wasm
CLIENT_ONLY := --no-default-features --features client --test wasm_client
FILTER_WASM := grep -vE '^\s+Compiling|^\[INFO\]'

test-chrome:
	@echo "== wasm tests: headless Chrome (server build, then browser build)"
	WASM_BINDGEN_USE_BROWSER=1 wasm-pack test --headless --chrome -- $(SERVER_ONLY) 2>&1 | $(FILTER_WASM)
	WASM_BINDGEN_USE_BROWSER=1 wasm-pack test --headless --chrome -- $(CLIENT_ONLY) 2>&1 | $(FILTER_WASM)

test-firefox:
	@echo "== wasm tests: headless Firefox (server build, then browser build)"
	WASM_BINDGEN_USE_BROWSER=1 wasm-pack test --headless --firefox -- $(SERVER_ONLY) 2>&1 | $(FILTER_WASM)
	WASM_BINDGEN_USE_BROWSER=1 wasm-pack test --headless --firefox -- $(CLIENT_ONLY) 2>&1 | $(FILTER_WASM)

test-node:
	@echo "== wasm tests: Node (server build, then browser build)"
	wasm-pack test --node -- $(SERVER_ONLY) 2>&1 | $(FILTER_WASM)
	wasm-pack test --node -- $(CLIENT_ONLY) 2>&1 | $(FILTER_WASM)

test-deno:
	@echo "== wasm tests: Deno (server build, then browser build)"
	WASM_BINDGEN_USE_DENO=1 cargo test --target wasm32-unknown-unknown $(SERVER_ONLY) 2>&1 | grep -vE '^\s+Compiling'
	WASM_BINDGEN_USE_DENO=1 cargo test --target wasm32-unknown-unknown $(CLIENT_ONLY) 2>&1 | grep -vE '^\s+Compiling'

test-wasm: test-chrome test-firefox test-node test-deno

# npm pack pkg/, installed into fresh projects: a Node app, a Deno script, a Vite app in Chromium, a
# Postgres server; tsc over the READMEs' TypeScript samples.
test-package:
	@echo "== the package as users get it (npm pack into fresh Node, Deno and Vite projects)"
	node --test tests/package/

# The supabase-js adapter (js/supabase.js) in Node with a fake supabase-js and browser client.
test-adapter:
	@echo "== the supabase-js adapter in Node (fake supabase-js events)"
	node --test tests/adapter/

test-functions:
	@echo "== edge functions over HTTP (Postgres 15, the provider emulator, the Supabase Auth stand-in, the Supabase CLI)"
	NO_COLOR=1 $(DENO) test -A tests/functions/

test-e2e:
	@echo "== end to end: www/ in Chromium against the make dev stack (screenshots in test-output/e2e/)"
	node --test tests/e2e/

smoke: smoke-deno smoke-node

smoke-deno:
	@echo "== smoke: pkg/ from Deno against a loopback token endpoint"
	$(DENO) test --allow-read --allow-net=127.0.0.1 tests/smoke/smoke_deno.test.ts

smoke-node:
	@echo "== smoke: pkg/ from Node against a loopback token endpoint"
	node --test tests/smoke/smoke_node.test.mjs tests/smoke/browser_entry.test.mjs tests/smoke/browser_driver.test.mjs tests/smoke/browser_driver_calls.test.mjs tests/smoke/server_entry.test.mjs tests/smoke/sealing_interop.test.mjs tests/smoke/entries.test.mjs

test:
	@bash scripts/test.sh

# The same RUSTFLAGS as pkg/: the bench's named builds reuse its compiled crates.
bench: pkg
	@RUSTFLAGS="$(PKG_RUSTFLAGS)" bash scripts/bench.sh

dev: setup
	@test -f pkg/oauth_token_manager_bg.wasm || $(MAKE) -s pkg
	@$(DENO) run -A scripts/dev.ts

dev-connect:
	@$(DENO) run -A scripts/dev-connect.ts

# The operator's import of legacy iv:authTag:ciphertext tokens (README: "Importing legacy tokens"),
# e.g. make import-legacy ARGS="--dry-run" or ARGS="--from-table public.user_oauth_tokens".
.PHONY: import-legacy
import-legacy:
	@test -x $(DENO) || bash scripts/setup.sh node
	@$(DENO) run -A scripts/import-legacy.ts $(ARGS)

# A key rotation's second half (README: "Key rotation"): reseals every value
# still sealed with an older key of TOKEN_ENCRYPTION_KEYS with the first one,
# e.g. make rekey ARGS="--dry-run".
.PHONY: rekey
rekey:
	@test -x $(DENO) || bash scripts/setup.sh node
	@$(DENO) run -A scripts/rekey.ts $(ARGS)
