#!/bin/sh
# Builds build/oci-gpu-hook: one self-contained executable (Node's single-executable application)
# holding the hook and the runtime wrapper, offline: esbuild bundles src/hook/sea-main.ts into one
# CommonJS file, node --experimental-sea-config turns it into a startup snapshot blob, and postject
# injects the blob into a copy of this machine's node binary.
#   SEA_MODE=snapshot (default) | codecache | none (a plain bundle run by node, for comparison)
set -eu
cd "$(dirname "$0")/.."
mode=${SEA_MODE:-snapshot}
out=build
mkdir -p "$out"
npx esbuild src/hook/sea-main.ts --bundle --platform=node --format=cjs --target=node20 \
  --log-level=warning --metafile="$out/oci-gpu-hook.meta.json" --outfile="$out/oci-gpu-hook.cjs"
[ "$mode" = none ] && exit 0
case $mode in
  snapshot) cache='"useSnapshot": true' ;;
  codecache) cache='"useCodeCache": true' ;;
  *) echo "build-hook: unknown SEA_MODE \"$mode\" (snapshot, codecache or none)" >&2; exit 2 ;;
esac
cat > "$out/sea-config.json" <<JSON
{ "main": "$out/oci-gpu-hook.cjs", "output": "$out/oci-gpu-hook.blob", "disableExperimentalSEAWarning": true, $cache }
JSON
node --experimental-sea-config "$out/sea-config.json" >/dev/null
node_bin=$(node -p process.execPath)
cp "$node_bin" "$out/oci-gpu-hook.tmp"
chmod u+w "$out/oci-gpu-hook.tmp"
npx postject "$out/oci-gpu-hook.tmp" NODE_SEA_BLOB "$out/oci-gpu-hook.blob" \
  --sentinel-fuse NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2 >/dev/null
chmod 755 "$out/oci-gpu-hook.tmp"
mv "$out/oci-gpu-hook.tmp" "$out/oci-gpu-hook"
ln -sf oci-gpu-hook "$out/oci-gpu-runtime"
echo "built $out/oci-gpu-hook ($mode, $(du -m "$out/oci-gpu-hook" | cut -f1) MB) and $out/oci-gpu-runtime -> oci-gpu-hook"
