#!/usr/bin/env bash
# make bench: sizes and timings of the built pkg/. A benchmark, not a test:
# it prints figures and checks nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
DENO=node_modules/.bin/deno
wasm=pkg/oauth_token_manager_bg.wasm
js=pkg/oauth_token_manager.js

size() { wc -c < "$1" | tr -d ' '; }
gz() { gzip -9c "$1" | wc -c | tr -d ' '; }
kb() { awk -v b="$1" 'BEGIN { printf "%.1f KB", b / 1024 }'; }

build() { # label wasm glue goal
  local w wg j jg
  w=$(size "$2"); wg=$(gz "$2"); j=$(size "$3"); jg=$(gz "$3")
  printf "  %-44s .wasm %9s gzip   glue %8s gzip   together %9s gzip   (goal: <= %s)\n" \
    "$1" "$(kb "$wg")" "$(kb "$jg")" "$(kb $((wg + jg)))" "$4"
}
echo "== package size (gzip -9, wasm + its JS glue)"
build "server build (main entry)" "$wasm" "$js" "80 KB"
build "browser build (oauth-token-manager/browser)" pkg/browser/oauth_token_manager_browser_bg.wasm \
  pkg/browser/oauth_token_manager_browser.js "35 KB"
# The browser client's I/O is JavaScript (pkg/client.js, over the build's
# ClientCore): a page downloads it with the build, so it is counted with it.
cg=$(($(gz pkg/client.js) + $(gz pkg/client_io.js)))
bt=$(($(gz pkg/browser/oauth_token_manager_browser_bg.wasm) + $(gz pkg/browser/oauth_token_manager_browser.js) + cg))
printf "  %-44s client.js + client_io.js %s gzip; with them the browser downloads %s gzip\n" "" "$(kb "$cg")" "$(kb "$bt")"

# Where the bytes go: each build again with its name section kept (the same
# cargo and wasm-opt flags as pkg/, plus -g), its code grouped by crate.
named=$(mktemp -d)
trap 'rm -rf "$named"' EXIT
mapfile -t wasm_opt_flags < <(node -e '
  const m = /^wasm-opt = (\[.*\])$/m.exec(require("fs").readFileSync("Cargo.toml", "utf8"));
  for (const f of JSON.parse(m[1])) console.log(f);')
for feature in server client; do
  cargo build --quiet --lib --release --target wasm32-unknown-unknown --no-default-features --features "$feature"
  wasm-bindgen --target web --keep-debug --out-dir "$named/$feature" \
    target/wasm32-unknown-unknown/release/oauth_token_manager.wasm
  wasm-opt "${wasm_opt_flags[@]}" -g "$named/$feature/oauth_token_manager_bg.wasm" -o "$named/$feature.wasm"
  echo "== where the $feature build's bytes go (function bodies by crate; this crate by module)"
  node bench/wasm-sizes.mjs "$named/$feature.wasm" 16
done

# How far the server build could fall: the same sources with the orchestration
# synchronous (no futures: about what a sans-IO server manager saves), and
# without the orchestration at all (what it weighs before any).
node bench/size-bounds.mjs

runs=${BENCH_RUNS:-31}
cold() { # label, bench/instantiate.ts's mode ("" or async), then deno flags
  local label=$1 mode=$2 samples=()
  shift 2
  for ((i = 0; i < runs; i++)); do
    samples+=("$($DENO run "$@" --allow-read bench/instantiate.ts $mode)")
  done
  med() { printf '%s\n' "${samples[@]}" | awk -v c="$1" '{ print $c }' | sort -n | sed -n "$(((runs + 1) / 2))p"; }
  printf "  %-34s median %6.2f ms   (compile %.2f, instantiate %.2f, first construct %.2f)\n" \
    "$label" "$(med 1)" "$(med 2)" "$(med 3)" "$(med 4)"
}
echo "== compile + instantiate + first construct in Deno ($runs fresh processes each, Deno's lazy fetch extension preloaded; goal <= 5 ms)"
cold "as the functions load it (in place)" ""
cold "asynchronously (compile, init)" async
# The profile behind the figure: with every function compiled up front, the
# first construction costs what a later one does, and compiling costs more.
cold "everything compiled up front" "" --v8-flags=--no-wasm-lazy-compilation

# Not a timing: what V8's baseline compiler compiles, lazily, for the first
# construction (the same count on every run, whatever the machine is doing).
$DENO run --allow-read --v8-flags=--trace-wasm-compilation-times bench/instantiate.ts marks 2>&1 |
  awk '/MARK construct/ { on = 1; next } /MARK end/ { on = 0 }
    on && /Compiled function/ { n++; for (i = 1; i <= NF; i++) if ($i == "bodysize") b += $(i + 1) }
    END { printf "  %-34s %d functions, %.1f KB of function bodies compiled on first call\n", "the first construct compiles", n, b / 1024 }'

node_init=()
for ((i = 0; i < runs; i++)); do node_init+=("$(node bench/node_init.mjs)"); done
printf "  %-34s median %6.2f ms\n" "Node: the package's init()" \
  "$(printf '%s\n' "${node_init[@]}" | sort -n | sed -n "$(((runs + 1) / 2))p")"

median3() { sort -n | sed -n 2p; }
echo "== anchors in Deno: google-auth-library's OAuth2Client.getAccessToken() (cached token), a bare async Map lookup"
anchors=()
for round in 1 2 3; do anchors+=("$($DENO run -A bench/anchors.ts)"); done
gal=$(printf '%s\n' "${anchors[@]}" | awk '{ print $1 }' | median3)
bare=$(printf '%s\n' "${anchors[@]}" | awk '{ print $2 }' | median3)
echo "  google-auth-library, cached: median $gal ns/op   bare Map lookup: median $bare ns/op   (3 runs each)"

echo "== getValidToken for a fresh token from JS (store load + unseal)"
runs_ns=()
for round in 1 2 3; do
  v=$($DENO run --allow-read bench/cached_token.ts 20000)
  runs_ns+=("$v")
  echo "  run $round: $v ns/op"
done
med=$(printf '%s\n' "${runs_ns[@]}" | median3)
awk -v m="$med" -v g="$gal" -v b="$bare" 'BEGIN {
  printf "  median %d ns/op: %.0fx google-auth-library, %.0fx the bare Map lookup   (goal: <= 20x google-auth-library)\n", m, m / g, m / b }'

echo "== a row met as a new object, as each request's SELECT returns it (JSON.stringify, core::json, the field reader, the memo check)"
rows=()
for round in 1 2 3; do rows+=("$($DENO run --allow-read bench/new_row.ts 20000)"); done
echo "  median $(printf '%s\n' "${rows[@]}" | median3) ns/op   (3 runs: ${rows[*]})"

$DENO run -A bench/concurrency.ts
echo "== a fresh function process's first request (get-token-status: verify, connect and check the schema with the wasm loaded meanwhile, read)"
first=$($DENO run -A bench/first_request.ts 15)
echo "  median ${first%% *} ms over 15 fresh processes   (each: ${first#* })"
$DENO run -A bench/refresher.ts
BENCH_ANCHOR_NS=$gal node bench/browser.mjs
