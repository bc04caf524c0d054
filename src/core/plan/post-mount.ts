import type { Hook } from '../../model/edits.js';
import type { HostTools } from '../../model/manifest.js';

/** The only environment the post-mount step gets: nothing of the container's or the runtime's. */
export const HOOK_ENV = ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'];
const HOOK_TIMEOUT_S = 10;

// Reads the runtime state on stdin with shell builtins only (a sed would cost a process), takes the
// container's pid: the first "pid" key followed by a colon and digits. Container-controlled strings
// (annotations, ids) are JSON strings, so they cannot put a bare number after a quoted key. Then it
// enters the container's mount namespace and refreshes its ld cache with the host's static ldconfig.
const SCRIPT = [
  'n=$1 l=$2 r=$3; shift 3',
  's=; while IFS= read -r x || [ -n "$x" ]; do s="$s$x"; done',
  'p=; while :; do',
  '  case $s in *\'"pid"\'*) s=${s#*\'"pid"\'} ;; *) break ;; esac',
  '  t=${s#"${s%%[!\t :]*}"}',
  '  case ${s%"$t"} in *:*) p=${t%%[!0-9]*} ;; esac',
  '  [ -n "$p" ] && break',
  'done',
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
