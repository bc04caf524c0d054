#!/bin/sh
# test-all.sh — `npm run test:all`: prepares the host (scripts/setup-host.sh, root only), installs the
# locked dependencies (npm ci; npm install when there is no lockfile), then runs `npm test`.
# npm ci is skipped when node_modules already matches package-lock.json exactly: it deletes
# node_modules first, which breaks anyone else building or testing in this tree at the same time.
# OCI_GPU_NPM_CI=1 forces it.
set -eu

cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "test-all: must run as root (setup-host.sh installs packages and mounts cgroups; the podman tests need root)" >&2
  echo "test-all: run 'sudo npm run test:all', or 'npm test' for what runs without root" >&2
  exit 1
fi

bash scripts/setup-host.sh

# Exit 0 when node_modules/.package-lock.json (npm's record of what is installed) has exactly the
# lockfile's packages, and the lockfile's root entry has package.json's dependencies.
in_sync() {
  [ -f node_modules/.package-lock.json ] || return 1
  node -e '
    const fs = require("fs");
    const read = (f) => JSON.parse(fs.readFileSync(f, "utf8"));
    const pkg = read("package.json"), lock = read("package-lock.json"), installed = read("node_modules/.package-lock.json");
    const root = lock.packages?.[""] ?? {};
    const same = (a = {}, b = {}) => JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());
    if (!same(pkg.dependencies, root.dependencies) || !same(pkg.devDependencies, root.devDependencies)) process.exit(1);
    const have = installed.packages ?? {};
    for (const [p, e] of Object.entries(lock.packages ?? {})) {
      if (p === "") continue;
      const h = have[p];
      if (!h) { if (e.optional) continue; process.exit(1); } // optional = another platform
      if (h.version !== e.version || h.integrity !== e.integrity) process.exit(1);
    }
    for (const p of Object.keys(have)) if (!(p in (lock.packages ?? {}))) process.exit(1);
  ' 2>/dev/null
}

if [ ! -f package-lock.json ]; then
  npm install --no-audit --no-fund
elif [ "${OCI_GPU_NPM_CI:-0}" = 1 ] || ! in_sync; then
  npm ci --no-audit --no-fund
fi

# Under test:all every prerequisite was just installed: a test that finds one missing fails instead of skipping.
export OCI_GPU_TEST_ALL=1
exec npm test
