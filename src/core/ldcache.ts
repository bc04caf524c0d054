import type { Hook } from '../model/edits.js';
import type { HostTools } from '../model/manifest.js';

/** The only environment the post-mount step gets: nothing of the container's or the runtime's. */
export const HOOK_ENV = ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'];
const HOOK_TIMEOUT_S = 10;

// Reads the runtime state on stdin, takes the container's pid (the only numeric "pid" value in it:
// container-controlled strings cannot hold a bare number after a quoted key), enters the
// container's mount namespace and refreshes its ld cache with the host's static ldconfig.
const SCRIPT = [
  'n=$1 l=$2 r=$3; shift 3',
  'p=$(sed -n \'/"pid"[[:space:]]*:[[:space:]]*[0-9]/{s/.*"pid"[[:space:]]*:[[:space:]]*\\([0-9][0-9]*\\).*/\\1/p;q;}\')',
  'case $p in ""|0) echo "oci-gpu: no container pid in the runtime state" >&2; exit 1;; esac',
  'exec "$n" --target "$p" --mount -- "$l" -r "$r" "$@"',
].join('\n');

/**
 * Returns the createRuntime hook that updates the container's ld cache for `libraryDirs`, run on
 * the host with an explicit minimal environment; createRuntime because crun makes a read-only
 * rootfs read-only before createContainer hooks. Returns null when there is nothing to do or the
 * host lacks ldconfig, nsenter or sh.
 */
export function ldcacheHook(tools: HostTools, rootfs: string, libraryDirs: string[]): Hook | null {
  if (!libraryDirs.length || !tools.ldconfig || !tools.nsenter || !tools.sh) return null;
  return {
    hookName: 'createRuntime',
    path: tools.sh,
    args: ['sh', '-c', SCRIPT, 'oci-gpu-ldcache', tools.nsenter, tools.ldconfig, rootfs, ...libraryDirs],
    env: HOOK_ENV,
    timeout: HOOK_TIMEOUT_S,
  };
}
