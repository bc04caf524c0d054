import type { Hook, Mount } from '../../model/edits.js';
import type { HostTools, Manifest } from '../../model/manifest.js';

/** The only environment the post-mount step gets: nothing of the container's or the runtime's. */
export const HOOK_ENV = ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'];
const HOOK_TIMEOUT_S = 10;

// The post-mount step starts no JS runtime. Where the config's edits know the rootfs, it is sh
// running the step below in the container's namespaces as a createContainer hook. Where they do not
// (a CDI spec), sh runs awk once to read the runtime state on stdin and the bundle's config.json,
// then execs nsenter into the container's mount namespace to run the same step.
//
// The awk program is a JSON tokenizer, not a text search. With RS='"' every record is the text
// between two quotes: outside a string it is structure (braces, colons, commas, numbers), inside it
// is string content, and a record ending in an odd number of backslashes means the quote was
// escaped. So no string a container controls (annotations, env, args) can pose as structure, and
// each value is known by its key path: /pid and /bundle in the state, /root/path in the config.
// crun also puts the rootfs in the state (/root, a string, relative to the bundle or absolute): it
// is used when present, since crun in a user namespace (rootless, --uidmap) gives "/" as the
// bundle. A key path seen twice, a value holding an escape, or a "." or ".." component is refused.
const AWK = String.raw`
function fail(m) { print "oci-gpu: " m > "/dev/stderr"; exit 1 }
function name(p) { p = substr(p, 2); gsub("/", ".", p); return p }
function walk(file,   rec, seg, instr, cur, tok, have, n, i, c, k, d) {
  delete typ; delete key; delete at
  d = 0; instr = 0; have = 0; cur = ""
  for (;;) {
    if (file == "") n = (getline rec); else n = (getline rec < file)
    if (n <= 0) break
    if (instr) {
      cur = cur rec
      k = rec; sub(/\\+$/, "", k)
      if ((length(rec) - length(k)) % 2 == 1) { cur = cur "\""; continue }
      tok = cur; have = 1; instr = 0; cur = ""
      continue
    }
    seg = rec; i = 1
    while (i <= length(seg) && index(" \t\r\n", substr(seg, i, 1))) i++
    if (have) {
      if (substr(seg, i, 1) == ":") { key[d] = tok; i++ }
      else if (typ[d] == "o") value(at[d] "/" key[d], tok, "s")
      have = 0
    }
    for (; i <= length(seg); i++) {
      c = substr(seg, i, 1)
      if (c == "{" || c == "[") { d++; typ[d] = (c == "{") ? "o" : "a"; at[d] = (d == 1) ? "" : (typ[d-1] == "o") ? at[d-1] "/" key[d-1] : at[d-1] "/[]"; key[d] = "" }
      else if (c == "}" || c == "]") d--
      else if (c ~ /[-0-9a-z]/ && typ[d] == "o") {
        k = substr(seg, i); sub(/[^-+.0-9a-zA-Z].*/, "", k)
        value(at[d] "/" key[d], k, "n"); i += length(k) - 1
      }
    }
    instr = 1
  }
  if (n < 0) fail("cannot read " src)
  if (file != "") close(file)
}
function value(p, v, kind) {
  if (!(p in want)) return
  if (p in got) fail(name(p) " appears twice in " src)
  if (kind == "s" && v ~ /[\\\001-\037]/) fail(name(p) " in " src " holds an escape or a control character")
  got[p] = v; kinds[p] = kind
}
BEGIN {
  RS = "\""
  want["/pid"] = 1; want["/bundle"] = 1; want["/root"] = 1
  src = "the runtime state"; walk("")
  if (kinds["/pid"] != "n" || got["/pid"] !~ /^[1-9][0-9]*$/) fail("no container pid in the runtime state")
  b = got["/bundle"]
  if (kinds["/root"] == "s" && got["/root"] != "") r = got["/root"]
  else {
    if (kinds["/bundle"] != "s" || b !~ /^\//) fail("no absolute bundle path in the runtime state")
    delete want; want["/root/path"] = 1
    src = b "/config.json"; walk(src)
    r = got["/root/path"]
    if (kinds["/root/path"] != "s" || r == "") fail("no root.path in " src)
  }
  if (r !~ /^\//) {
    if (kinds["/bundle"] != "s" || b !~ /^\//) fail("the rootfs \"" r "\" is relative and there is no absolute bundle path in the runtime state")
    r = b "/" r
  }
  if (("/" r "/") ~ /\/\.\.?\//) fail("the rootfs \"" r "\" in " src " has a \".\" or \"..\" component")
  print got["/pid"]; print r
  exit 0
}
`;

// The step's work, run inside the container's mount namespace (before pivot_root: the host's files
// are still there), as the createContainer hook itself or through nsenter:
// - v (the driver's major version, or empty: off): when the image has /usr/local/cuda, the host's
//   ldconfig lists the image's /usr/local/cuda/compat inside the rootfs (-r chroots: the image's
//   symlinks resolve in the image; -n -X: nothing is written) and, when its libcuda is of a newer
//   driver branch than the host's, that folder goes first on ldconfig's command line, so its
//   libcuda.so.1 comes first in the container's ld cache. An older or equal one is left out.
// - k (the masked params file, or empty: off): the file is bound read-only over
//   /proc/driver/nvidia/params (runc refuses spec mounts under /proc), when the container's procfs
//   has it and the file is there (a spec written by `cdi generate` names the watcher's file;
//   without a watcher the container sees the driver's own params).
// - then the host's static ldconfig writes the container's ld cache (-r chroots into the rootfs).
const IN_NAMESPACE = [
  'l=$1 m=$2 k=$3 v=$4 r=$5; shift 5',
  'c=',
  'if [ -n "$v" ] && { [ -e "$r/usr/local/cuda" ] || [ -h "$r/usr/local/cuda" ]; }; then',
  '  set -f; w=',
  '  for t in $("$l" -r "$r" -n -X -v /usr/local/cuda/compat 2>/dev/null); do',
  '    case $t in libcuda.so.[0-9]*.*) w=${t#libcuda.so.}; w=${w%%.*} ;; esac',
  '  done',
  '  case $w in ""|*[!0-9]*) ;; *) [ "$w" -gt "$v" ] && c=/usr/local/cuda/compat ;; esac',
  'fi',
  't=$r/proc/driver/nvidia/params',
  'if [ -n "$k" ] && [ -e "$t" ] && [ -f "$k" ]; then "$m" --bind -o ro,nosuid,nodev,noexec "$k" "$t" || exit 1; fi',
  'exec "$l" -r "$r" $c "$@"',
].join('\n');

// From the runtime's namespace (createRuntime): the awk gives the pid and the rootfs, then nsenter
// runs the step above in the container's mount namespace.
const FROM_RUNTIME = [
  'n=$1 a=$2 p=$3 s=$4 i=$5 l=$6 m=$7 k=$8 v=$9; shift 9',
  'o=$("$a" "$p") || exit 1',
  'pid=${o%%"\n"*} r=${o#*"\n"}',
  'exec "$n" --target "$pid" --mount -- "$s" -c "$i" oci-gpu-post-mount "$l" "$m" "$k" "$v" "$r" "$@"',
].join('\n');

/** Config's container settings: what the post-mount step does beyond the ld cache. */
export interface ContainerOptions {
  maskDriverParams: boolean;
  cudaCompat: boolean;
}

/** The post-mount options a manifest and the container settings give. */
export function postMountOptions(manifest: Manifest, container: ContainerOptions): PostMountOptions {
  return {
    paramsMask: container.maskDriverParams ? manifest.paramsMask : null,
    compatDriverVersion: container.cudaCompat ? (manifest.driver?.version ?? null) : null,
  };
}

/** What the post-mount step does beyond the ld cache. */
export interface PostMountOptions {
  /** The host file with the masked driver params to put over /proc/driver/nvidia/params, or null. */
  paramsMask: string | null;
  /** The host driver's version for CUDA forward compatibility ("580.159.04"), or null for none. */
  compatDriverVersion: string | null;
}

/**
 * Returns the hook that refreshes the container's ld cache for `libraryDirs` (with `options`, also
 * the params masking and CUDA forward compatibility), run with an explicit minimal environment.
 *
 * Given `rootfs` (the container's root as a host path, known and writable when the config is
 * edited: precreate, the wrapper), it is a createContainer hook: the runtime runs it inside the
 * container's namespaces before pivot_root, so sh runs the step there directly. Otherwise (a CDI
 * spec serves every container; crun makes a read-only rootfs read-only before createContainer
 * hooks) it is a createRuntime hook: sh and one awk read the container's pid and rootfs from the
 * runtime state and the bundle's config.json, and nsenter runs the same step in the container's
 * mount namespace. Returns null when there is nothing to do or the host lacks a tool it needs
 * (ldconfig and sh; nsenter and awk from the runtime's namespace; mount, for masking).
 */
export function postMountHook(
  tools: HostTools,
  libraryDirs: string[],
  options: PostMountOptions = { paramsMask: null, compatDriverVersion: null },
  rootfs: string | null = null,
): Hook | null {
  if (!libraryDirs.length || !tools.ldconfig || !tools.sh) return null;
  const mask = options.paramsMask && tools.mount ? options.paramsMask : '';
  const major = /^(\d+)\./.exec(options.compatDriverVersion ?? '')?.[1] ?? '';
  const step = [tools.ldconfig, tools.mount, mask, major];
  if (rootfs) {
    return { hookName: 'createContainer', path: tools.sh, args: ['sh', '-c', IN_NAMESPACE, 'oci-gpu-post-mount', ...step, rootfs, ...libraryDirs], env: HOOK_ENV, timeout: HOOK_TIMEOUT_S };
  }
  if (!tools.nsenter || !tools.awk) return null;
  return {
    hookName: 'createRuntime',
    path: tools.sh,
    args: ['sh', '-c', FROM_RUNTIME, 'oci-gpu-post-mount', tools.nsenter, tools.awk, AWK, tools.sh, IN_NAMESPACE, ...step, ...libraryDirs],
    env: HOOK_ENV,
    timeout: HOOK_TIMEOUT_S,
  };
}

/** Returns the library folders (container paths) that `mounts` put a file into, in `libraryDirs` order. */
export function mountedLibraryDirs(libraryDirs: readonly string[], mounts: readonly Mount[]): string[] {
  const mounted = new Set(mounts.map((m) => m.containerPath.slice(0, m.containerPath.lastIndexOf('/'))));
  return libraryDirs.filter((d) => mounted.has(d));
}
