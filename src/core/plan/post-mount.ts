import type { Hook, Mount } from '../../model/edits.js';
import type { HostTools } from '../../model/manifest.js';

/** The only environment the post-mount step gets: nothing of the container's or the runtime's. */
export const HOOK_ENV = ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'];
const HOOK_TIMEOUT_S = 10;

// The post-mount step starts no JS runtime: sh runs awk once to read the runtime state on stdin
// and the bundle's config.json, then execs nsenter into the container's mount namespace to run the
// host's static ldconfig against the container's rootfs.
//
// The awk program is a JSON tokenizer, not a text search. With RS='"' every record is the text
// between two quotes: outside a string it is structure (braces, colons, commas, numbers), inside it
// is string content, and a record ending in an odd number of backslashes means the quote was
// escaped. So no string a container controls (annotations, env, args) can pose as structure, and
// each value is known by its key path: /pid and /bundle in the state, /root/path in the config.
// crun also puts the rootfs in the state (/root, a string, relative to the bundle or absolute): it
// is used when present, since crun in a user namespace (rootless, --uidmap) gives "/" as the bundle. A key path seen twice, a value
// holding an escape, or a "." or ".." component is refused.
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

const SCRIPT = [
  'n=$1 l=$2 a=$3 p=$4; shift 4',
  'o=$("$a" "$p") || exit 1',
  'pid=${o%%"\n"*} r=${o#*"\n"}',
  'exec "$n" --target "$pid" --mount -- "$l" -r "$r" "$@"',
].join('\n');

/**
 * Returns the createRuntime hook that refreshes the container's ld cache for `libraryDirs`: sh and
 * one awk read the container's pid and rootfs from the runtime state and the bundle's config.json,
 * then the host's static ldconfig runs in the container's mount namespace (createRuntime, because
 * crun makes a read-only rootfs read-only before createContainer hooks). The same hook serves the
 * precreate edit, the wrapper and the CDI spec, and runs with an explicit minimal environment.
 * Returns null when there is nothing to do or the host lacks ldconfig, nsenter, awk or sh.
 */
export function postMountHook(tools: HostTools, libraryDirs: string[]): Hook | null {
  if (!libraryDirs.length || !tools.ldconfig || !tools.nsenter || !tools.sh || !tools.awk) return null;
  return {
    hookName: 'createRuntime',
    path: tools.sh,
    args: ['sh', '-c', SCRIPT, 'oci-gpu-post-mount', tools.nsenter, tools.ldconfig, tools.awk, AWK, ...libraryDirs],
    env: HOOK_ENV,
    timeout: HOOK_TIMEOUT_S,
  };
}

/** Returns the library folders (container paths) that `mounts` put a file into, in `libraryDirs` order. */
export function mountedLibraryDirs(libraryDirs: readonly string[], mounts: readonly Mount[]): string[] {
  const mounted = new Set(mounts.map((m) => m.containerPath.slice(0, m.containerPath.lastIndexOf('/'))));
  return libraryDirs.filter((d) => mounted.has(d));
}
