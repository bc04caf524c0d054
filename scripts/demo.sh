#!/bin/sh
# demo.sh — `sudo npm run demo`: sets up this machine and runs the main job end to end.
#   1. installs what it needs (podman, crun, runc, gcc…: scripts/setup-host.sh) and the npm packages,
#   2. builds the one binary (build/oci-gpu; oci-gpu-hook and oci-gpu-runtime are links to it),
#   3. picks the host: this machine when it has an NVIDIA driver loaded, else the bundled simulated
#      H200 host (test/fixtures/hosts/h200, built with gcc-made driver libraries and mknod'ed nodes),
#   4. starts `oci-gpu watch` on it (manifest and CDI spec under .demo/, nothing in /run or /etc),
#   5. starts a Podman container that asks for a GPU by annotation, through the precreate hook, with
#      crun and runc, and shows what it sees,
#   6. on the simulated host: adds a second GPU, shows the watcher follow, and a container get both.
# DEMO_WATCH=1 leaves the watcher running in the foreground at the end (Ctrl-C stops it).
set -eu
cd "$(dirname "$0")/.."
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then echo "demo: run as root (sudo npm run demo): it installs packages and starts containers" >&2; exit 1; fi
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -lt 20 ]; then echo "demo: needs Node.js 20 or newer (found $(node --version 2>/dev/null || echo none))" >&2; exit 1; fi

say "setting up this machine (scripts/setup-host.sh) and npm packages"
bash scripts/setup-host.sh
[ -d node_modules/.bin ] || npm ci --no-audit --no-fund
npm run --silent build 2>/dev/null | tail -n 1

state=$PWD/.demo
rm -rf "$state" && mkdir -p "$state/hooks.d"
if [ -d /proc/driver/nvidia/gpus ] && [ -n "$(ls /proc/driver/nvidia/gpus 2>/dev/null)" ]; then
  root=/; simulated=0
  say "this machine has an NVIDIA driver: watching /"
else
  root=$(node dist/scripts/fixture-host.js h200)
  cp -a "$root/." "$state/host/" 2>/dev/null || { mkdir -p "$state/host" && cp -a "$root/." "$state/host/"; }
  root=$state/host; simulated=1
  say "no NVIDIA driver here: using the bundled simulated H200 host at $root"
fi

manifest=$state/manifest.json
say "starting: oci-gpu watch --root $root --manifest $manifest --cdi $state/cdi.json"
build/oci-gpu watch --root "$root" --manifest "$manifest" --cdi "$state/cdi.json" > "$state/watch.log" 2>&1 &
watcher=$!
trap 'kill $watcher 2>/dev/null || true' EXIT INT TERM
i=0; while [ ! -s "$manifest" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
cat "$state/watch.log"
say "oci-gpu status --manifest $manifest"
build/oci-gpu status --manifest "$manifest" || true

# The hooks.d entry as installed, pointing at this build and the demo manifest.
node -e '
  const [src, dst, bin, manifest] = process.argv.slice(1);
  const h = JSON.parse(require("fs").readFileSync(src, "utf8"));
  h.hook.path = bin; h.hook.args = ["oci-gpu-hook", "precreate", "--manifest", manifest];
  require("fs").writeFileSync(dst, JSON.stringify(h, null, 2));
' hooks.d/oci-gpu.json "$state/hooks.d/oci-gpu.json" "$PWD/build/oci-gpu-hook" "$manifest"

run() {
  rt=$1; shift
  say "podman --runtime $rt run --annotation oci-gpu/devices=$*"
  podman --runtime "$rt" --hooks-dir "$state/hooks.d" run --rm --network none --pull never \
    --annotation "oci-gpu/devices=$1" localhost/oci-gpu-test:latest \
    sh -c 'ls -l /dev/nvidia*; echo "--- ldconfig -p | grep -c nvidia: $(ldconfig -p | grep -c nvidia)"; nvidia-smi -L 2>/dev/null || nvidia-smi'
}
run crun all
run runc 0

if [ "$simulated" = 1 ]; then
  say "adding a second GPU to the simulated host (mknod /dev/nvidia1 + its /proc information file)"
  info=$root/proc/driver/nvidia/gpus/0000:00:07.0
  mkdir -p "$info"
  sed 's/0000:00:06.0/0000:00:07.0/; s/Device Minor:\(.*\)0$/Device Minor:\11/; s/GPU-8b472ccd/GPU-8b472cce/' \
    "$root/proc/driver/nvidia/gpus/0000:00:06.0/information" > "$info/information"
  mknod -m 666 "$root/dev/nvidia1" c 195 1
  i=0; while ! grep -q 0000:00:07.0 "$manifest" && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  tail -n 3 "$state/watch.log"
  build/oci-gpu status --manifest "$manifest" || true
  run crun all
fi

say "done: manifest $manifest, CDI spec $state/cdi.json, watcher log $state/watch.log"
if [ "${DEMO_WATCH:-0}" = 1 ]; then say "watcher keeps running (Ctrl-C to stop)"; wait $watcher; fi
