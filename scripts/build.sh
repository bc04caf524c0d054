#!/bin/sh
# build.sh — builds the one self-contained executable, offline, with Bun from the npm registry
# (`npm ci` installs it: @oven/bun-linux-<arch> in optionalDependencies, pinned in the lockfile).
#
#   sh scripts/build.sh            build/oci-gpu for this machine, with the links build/oci-gpu-hook
#                                  and build/oci-gpu-runtime (the binary picks its role by argv[0])
#   sh scripts/build.sh amd64 arm64  build/linux-amd64/oci-gpu and build/linux-arm64/oci-gpu (the .debs and
#                                    the Kubernetes image take them from there; Debian's and Docker's arch names)
#
# `bun build --compile --bytecode --format=esm --splitting` bundles src/main.ts with its dependencies
# and Bun's runtime into one ELF file. --bytecode precompiles every module, so a start does not parse
# code it does not run (hook 14 ms with it, 50 ms without); --splitting keeps what the CLI imports
# lazily (watcher, doctor, the Kubernetes plugins with gRPC and the API client) in chunks of their
# own, so the hook and the wrapper never load them (hook 11.8 ms and 25 MB peak RSS, against 15.5 ms
# and 33 MB as one chunk; node -e 0: 27 ms here); --minify gained nothing. --compile-jit-policy=1000
# scales JavaScriptCore's tier-up thresholds: a hook, a wrapper or a scan lives 8-20 ms, too short
# for JIT compiling to pay back (80 interleaved runs here: precreate 8.4 -> 7.6 ms, scan 17.5 -> 16.4;
# 10 and 100000 gave the same within noise). The watcher and the Kubernetes plugins, which run for
# days, set the policy back to 1 when they start (src/cli/daemon.ts). BUN_JSC_useJIT=0 in the
# environment was faster still (-2 ms), but bun:ffi (syslog, sd_notify, flock, execve) needs the JIT.
# The files `oci-gpu install` places (hooks.d/, packaging/: the unit, tmpfiles.d, udev rule, default config) and
# package.json (the version) are embedded as assets (an --asset folder keeps its own name only). To build for the other architecture, Bun needs that
# architecture's runtime: it comes from the same npm package, fetched by `npm pack` (npm's cache
# and registry) and checked against the integrity the lockfile records.
set -eu
cd "$(dirname "$0")/.."

die() { echo "build: $*" >&2; exit 1; }
host_arch() {
  case $(uname -m) in
    x86_64) echo amd64 ;;
    aarch64 | arm64) echo arm64 ;;
    *) die "unsupported machine $(uname -m): Bun builds for x86_64 and aarch64" ;;
  esac
}
pkg_of() { [ "$1" = amd64 ] && echo @oven/bun-linux-x64 || echo @oven/bun-linux-aarch64; }

host=$(host_arch)
bun=node_modules/$(pkg_of "$host")/bin/bun
[ -x "$bun" ] || die "$bun is missing: run 'npm ci' first"

# Prints the path of a bun runtime for $1 (amd64|arm64): installed for this machine, else unpacked
# from the npm tarball into node_modules/.cache/oci-gpu-bun/<arch>-<version>/.
runtime_for() {
  arch=$1 pkg=$(pkg_of "$1")
  if [ "$arch" = "$host" ]; then echo "$bun"; return; fi
  set -- $(node -e '
    const lock = require("./package-lock.json").packages["node_modules/" + process.argv[1]];
    if (!lock) { console.error("build: " + process.argv[1] + " is not in package-lock.json"); process.exit(1); }
    console.log(lock.version, lock.integrity);' "$pkg") || exit 1
  version=$1 integrity=$2
  dir=node_modules/.cache/oci-gpu-bun/$arch-$version
  if [ ! -x "$dir/package/bin/bun" ]; then
    rm -rf "$dir" && mkdir -p "$dir"
    tgz=$(cd "$dir" && npm pack --silent "$pkg@$version") || die "npm pack $pkg@$version failed"
    node -e '
      const [file, want] = process.argv.slice(1);
      const got = "sha512-" + require("crypto").createHash("sha512").update(require("fs").readFileSync(file)).digest("base64");
      if (got !== want) { console.error("build: " + file + " has integrity " + got + ", the lockfile says " + want); process.exit(1); }' \
      "$dir/$tgz" "$integrity" || { rm -rf "$dir"; exit 1; }
    tar -xzf "$dir/$tgz" -C "$dir" && rm -f "$dir/$tgz"
  fi
  echo "$dir/package/bin/bun"
}

# compile ARCH OUTFILE
compile() {
  target=bun-linux-x64
  [ "$1" = arm64 ] && target=bun-linux-arm64
  exe=$(runtime_for "$1")
  mkdir -p "$(dirname "$2")"
  "$bun" build --compile --bytecode --format=esm --splitting --compile-jit-policy=1000 --target="$target" --compile-executable-path="$exe" \
    --no-compile-autoload-dotenv --no-compile-autoload-bunfig \
    --asset package.json --asset hooks.d --asset packaging \
    src/main.ts --outfile "$2.$$.tmp" >/dev/null || { rm -f "$2.$$.tmp"; die "bun build for $1 failed"; }
  # A temp file of this build's own (two test files may build at once), then one rename.
  chmod 755 "$2.$$.tmp" && mv "$2.$$.tmp" "$2"
  echo "built $2 (linux-$1, $(du -m "$2" | cut -f1) MB)"
}

if [ $# -eq 0 ]; then
  compile "$host" build/oci-gpu
  ln -sf oci-gpu build/oci-gpu-hook
  ln -sf oci-gpu build/oci-gpu-runtime
  exit 0
fi
for arch in "$@"; do
  case $arch in
    amd64 | arm64) compile "$arch" "build/linux-$arch/oci-gpu" ;;
    *) die "unknown architecture \"$arch\": amd64 or arm64" ;;
  esac
done
