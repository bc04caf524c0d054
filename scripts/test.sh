#!/bin/sh
# test.sh — `npm test`: compiles (tsc -p .), runs ava over every test with the TAP reporter (shown as it
# goes), and ends with one line "N passed, N failed[, N skipped]" (todo counts as skipped), after a line
# naming each failed hook and each timed-out test (scripts/tap-summary.sh).
# Exit status: 0 only when nothing failed. Failed = failing tests + failing hooks + tests a failed
# before hook kept from running; a compile error, a crashed test file or an ava that exits non-zero
# without reporting a failure each count as one more, so a broken run never reads "0 failed".
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
# scripts/ava-tap.mjs makes a timed-out run name its tests and marks failed hooks (see there).
{ node --import ./scripts/ava-tap.mjs node_modules/ava/entrypoints/cli.mjs --tap "$@" || echo $? >"$tmp/ava.rc"; } | tee "$tmp/ava.tap"
ava_rc=$(cat "$tmp/ava.rc" 2>/dev/null || echo 0)

# Named failed hooks and timed-out tests, then "N passed, N failed[, N skipped]"; exit 0 only when nothing failed.
sh scripts/tap-summary.sh "$tmp/ava.tap" "$ava_rc" "$extra_failed"
