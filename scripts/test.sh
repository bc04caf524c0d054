#!/bin/sh
# test.sh — `npm test`: compiles (tsc -p .), runs ava over every test with the TAP reporter (shown as it
# goes), and ends with one line "N passed, N failed[, N skipped]" (todo counts as skipped).
# Exit status: 0 only when nothing failed. A compile error, a crashed test file or an ava that exits
# non-zero without reporting a failure each count as one failure, so a broken run never reads "0 failed".
# Extra arguments go to ava (e.g. `npm test -- test/unit/foo.test.ts`).
set -eu

cd "$(dirname "$0")/.."

tmp=$(mktemp -d "${TMPDIR:-/tmp}/oci-gpu-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

extra_failed=0
summary() {
  # $1 passed, $2 failed, $3 skipped
  if [ "$3" -gt 0 ]; then echo "$1 passed, $2 failed, $3 skipped"; else echo "$1 passed, $2 failed"; fi
}

if [ ! -x node_modules/.bin/tsc ] || [ ! -x node_modules/.bin/ava ]; then
  echo "test: node_modules is missing tsc or ava: run 'npm ci' first" >&2
  summary 0 1 0
  exit 1
fi

echo "# tsc -p ."
if ! node_modules/.bin/tsc -p .; then
  echo "test: tsc reported compile errors (counted as 1 failure); running the tests on what it emitted" >&2
  extra_failed=1
fi

echo "# ava --tap $*"
# Only ava's stdout (the TAP stream) is parsed; test output on stderr passes straight through.
{ node_modules/.bin/ava --tap "$@" || echo $? >"$tmp/ava.rc"; } | tee "$tmp/ava.tap"
ava_rc=$(cat "$tmp/ava.rc" 2>/dev/null || echo 0)

# TAP: "ok N - title", "ok N - title # SKIP", "not ok N - title # TODO", "not ok N - title";
# ava writes crashed files, failed hooks and uncaught errors as "not ok" too.
counts=$(awk '
  /^(not )?ok [0-9]+/ {
    if ($0 ~ / # (SKIP|TODO)( .*)?$/) skipped++
    else if ($0 ~ /^ok /) passed++
    else failed++
  }
  /^# fail [0-9]+$/ { avafail = $3 }
  /^1\.\.[0-9]+$/ { plan = 1 }
  END { printf "%d %d %d %d %d\n", passed, failed, skipped, avafail, plan }
' "$tmp/ava.tap")
set -- $counts
passed=$1 failed=$2 skipped=$3 plan=$5
# ava's own count also holds the tests that never ran because a before hook of their file failed.
[ "$4" -gt "$failed" ] && failed=$4

if [ "$ava_rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  echo "test: ava exited with status $ava_rc without reporting a failed test (counted as 1 failure)" >&2
  failed=1
elif [ "$plan" -eq 0 ]; then
  echo "test: ava ended without a TAP plan, it did not finish (counted as 1 failure)" >&2
  failed=$((failed + 1))
fi
failed=$((failed + extra_failed))

summary "$passed" "$failed" "$skipped"
[ "$failed" -eq 0 ]
