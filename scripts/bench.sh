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

runs=${BENCH_RUNS:-31}
echo "== instantiate + construct in Deno ($runs fresh processes, Deno's lazy fetch extension preloaded; goal <= 5 ms)"
samples=()
for ((i = 0; i < runs; i++)); do
  samples+=("$($DENO run --allow-read bench/instantiate.ts)")
done
printf '%s\n' "${samples[@]}" | sort -n | awk '{ a[NR] = $1 } END {
  printf "  median %.2f ms   min %.2f ms   max %.2f ms\n", a[int((NR + 1) / 2)], a[1], a[NR] }'

echo "== getValidToken for a fresh token from JS (store load + unseal)"
for round in 1 2 3; do
  echo "  run $round: $($DENO run --allow-read bench/cached_token.ts 20000) ns/op"
done

$DENO run -A bench/concurrency.ts
$DENO run -A bench/refresher.ts
node bench/browser.mjs
