#!/bin/sh
# tap-summary.sh TAP_FILE [AVA_EXIT_STATUS] [MORE_FAILURES] — the end of `npm test` (scripts/test.sh):
# reads the TAP stream ava wrote (with scripts/ava-tap.mjs loaded), names every failed hook and every
# timed-out test, and prints one last line "N passed, N failed[, N skipped]" (todo counts as skipped).
# Exit status: 0 only when nothing failed.
#
# Failed = failing tests + failing hooks + tests a failed before hook kept from running ("# N tests
# remaining"). Every "not ok" line is one failure (a test, a hook, a crashed file, a timed-out test),
# so a failed after hook is counted beside failed tests instead of hiding behind them. An ava that
# exits non-zero without a "not ok", or a stream without a plan (ava did not finish), adds one.
set -eu

tap=$1
ava_rc=${2:-0}
more=${3:-0}

# Prints "passed failed skipped hooks remaining plan", then one "hook TITLE" / "timeout TITLE" line each.
report=$(awk '
  function flush() { if (pending != "" && timedout) names = names "timeout " pending "\n"; pending = ""; timedout = 0 }
  /^(not )?ok [0-9]+/ {
    flush()
    if ($0 ~ / # (SKIP|TODO)( .*)?$/) skipped++
    else if ($0 ~ /^ok /) passed++
    else { failed++; pending = $0; sub(/^not ok [0-9]+ - /, "", pending) }
    next
  }
  # t.timeout() in a test: its YAML block says so.
  pending != "" && /^    message: Test timeout exceeded$/ { timedout = 1 }
  /^# oci-gpu: hook failed: / { hooks++; t = $0; sub(/^# oci-gpu: hook failed: /, "", t); names = names "hook " t "\n" }
  /^# oci-gpu: timed out: / { t = $0; sub(/^# oci-gpu: timed out: /, "", t); names = names "timeout " t "\n" }
  /^# [0-9]+ tests? remaining in / { remaining += $2 }
  /^1\.\.[0-9]+$/ { plan = 1 }
  END {
    flush()
    printf "%d %d %d %d %d %d\n", passed, failed, skipped, hooks, remaining, plan
    printf "%s", names
  }
' "$tap")

set -- $(printf '%s\n' "$report" | head -n 1)
passed=$1 notok=$2 skipped=$3 hooks=$4 remaining=$5 plan=$6
failed=$((notok + remaining))

printf '%s\n' "$report" | tail -n +2 | while IFS= read -r line; do
  case $line in
    hook\ *) echo "test: hook failed: ${line#hook }" ;;
    timeout\ *) echo "test: timed out: ${line#timeout }" ;;
  esac
done
[ "$remaining" -eq 0 ] || echo "test: $remaining tests never ran (a before hook of their file failed)"

if [ "$ava_rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  echo "test: ava exited with status $ava_rc without reporting a failed test (counted as 1 failure)" >&2
  failed=1
elif [ "$plan" -eq 0 ]; then
  echo "test: ava ended without a TAP plan, it did not finish (counted as 1 failure)" >&2
  failed=$((failed + 1))
fi
failed=$((failed + more))

if [ "$skipped" -gt 0 ]; then echo "$passed passed, $failed failed, $skipped skipped"; else echo "$passed passed, $failed failed"; fi
[ "$failed" -eq 0 ]
