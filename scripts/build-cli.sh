#!/bin/sh
# Builds build/oci-gpu.mjs: the whole CLI (scan, cdi, watch, status, doctor, install) bundled with its
# dependencies into one ES module, run by the system's node (>= 20). Installed as /usr/bin/oci-gpu by
# `oci-gpu install` and the .deb, so no node_modules is needed on the host.
set -eu
cd "$(dirname "$0")/.."
mkdir -p build
npx esbuild bin/oci-gpu --bundle --platform=node --format=esm --target=node20 --log-level=warning \
  --banner:js="import { createRequire as __ociGpuCreateRequire } from 'node:module'; const require = __ociGpuCreateRequire(import.meta.url);" \
  --outfile=build/oci-gpu.mjs
chmod 755 build/oci-gpu.mjs
echo "built build/oci-gpu.mjs ($(du -k build/oci-gpu.mjs | cut -f1) KB)"
