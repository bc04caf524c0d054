#!/bin/sh
# Packs what scripts/gpu-lab.sh needs on the GPU machine into .gpu-carry/ (git-ignored): the bundled
# CLI, the hook's SEA blob (the machine has no npm: the single executable is rebuilt there by injecting
# this blob into the carried node with postject), and postject itself. Run `npm run build` first and
# ../shared/gpu-lab/prepare-kit.sh .gpu-kit once; carry both folders.
set -eu
cd "$(dirname "$0")/.."
rm -rf .gpu-carry && mkdir -p .gpu-carry
cp build/oci-gpu.mjs build/oci-gpu-hook.blob .gpu-carry/
tar -C node_modules -cJf .gpu-carry/postject.tar.xz postject
du -sh .gpu-carry .gpu-kit
