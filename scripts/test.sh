#!/usr/bin/env bash
# make test: every suite, output streamed and kept under test-output/logs/,
# then a count per suite and runtime, and a final "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
logs=test-output/logs
rm -rf "$logs" && mkdir -p "$logs"
declare -a rows=()
total_pass=0 total_fail=0 failed_steps=()

count() { # log kind -> "pass fail"
  case "$2" in
    cargo) awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
                END { print p + 0, f + 0 }' "$1" ;;
    deno) # Deno's own step count, plus the tests that have no steps
      sed 's/\x1b\[[0-9;]*m//g' "$1" | awk '
        /^[^ ].* \.\.\.$/ { sub(/ \.\.\.$/, ""); header[$0] = 1; next }
        /^[^ ].* \.\.\. (ok|FAILED)/ {
          name = $0; sub(/ \.\.\. (ok|FAILED).*/, "", name)
          if (!(name in header)) { if ($0 ~ / \.\.\. ok/) sp++; else sf++ }
        }
        /^(ok|FAILED) \|/ {
          line = $0
          if (match(line, /passed \([0-9]+ steps?\)/)) { split(substr(line, RSTART, RLENGTH), a, "[ (]+"); p += a[2]; steps = 1 }
          else if (match(line, /[0-9]+ passed/)) { p += substr(line, RSTART, RLENGTH) + 0 }
          if (match(line, /failed \([0-9]+ steps?\)/)) { split(substr(line, RSTART, RLENGTH), b, "[ (]+"); f += b[2] }
          else if (!steps && match(line, /[0-9]+ failed/)) { f += substr(line, RSTART, RLENGTH) + 0 }
        }
        END { if (steps) { p += sp; f += sf }; print p + 0, f + 0 }' ;;
    node) awk '/^# pass / { p += $3 } /^# fail / { f += $3 } END { print p + 0, f + 0 }' "$1" ;;
    none) echo "0 0" ;;
  esac
}

step() { # name kind command...
  local name=$1 kind=$2; shift 2
  echo "== $name"
  local start=$SECONDS
  "$@" 2>&1 | tee "$logs/$name.log"
  local rc=${PIPESTATUS[0]}
  read -r p f < <(count "$logs/$name.log" "$kind")
  [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
  total_pass=$((total_pass + p)) total_fail=$((total_fail + f))
  rows+=("$(printf '%-34s %6s %6s %6ss' "$name" "$p" "$f" $((SECONDS - start)))")
  if [ "$rc" -ne 0 ]; then failed_steps+=("$name"); fi
}

make -s setup || exit 1
step lint none make -s lint
step native-rust cargo make -s test-native
step pkg-rebuild-check none make -s check-pkg
step wasm-chrome cargo make -s test-chrome
step wasm-firefox cargo make -s test-firefox
step wasm-node cargo make -s test-node
step wasm-deno cargo make -s test-deno
step pkg-smoke-deno deno make -s smoke-deno
step pkg-smoke-node node make -s smoke-node
step package-tests node make -s test-package
step supabase-adapter node make -s test-adapter
step edge-functions deno make -s test-functions
step e2e-chromium node make -s test-e2e

echo
printf '%-34s %6s %6s %7s\n' "suite" "passed" "failed" "time"
printf '%s\n' "${rows[@]}"
if [ ${#failed_steps[@]} -gt 0 ]; then echo "failed: ${failed_steps[*]}"; fi
echo "$total_pass passed, $total_fail failed"
[ ${#failed_steps[@]} -eq 0 ] && [ "$total_fail" -eq 0 ]
