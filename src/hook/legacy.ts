import fs from 'node:fs';
import path from 'node:path';
import { runCommand } from '../adapters/exec.js';
import { prepareMountTarget } from '../adapters/rootfs.js';
import { devicesAllowLines, rulesAllow } from '../core/device-rules.js';
import { planEdits } from '../core/plan-edits.js';
import { parseRequest } from '../core/request.js';
import { resolveInRoot } from '../core/resolve-in-root.js';
import { FileError, RequestError } from '../errors.js';
import type { Config } from '../model/config.js';
import type { ContainerEdits } from '../model/edits.js';
import type { OciConfig, OciState } from '../model/oci.js';
import { rootfsOf } from './ldcache.js';
import { readManifestForHook } from './manifest.js';

// Runs inside the container's mount namespace (before pivot_root, so host paths still resolve):
// creates device nodes, bind-mounts driver files read-only, then refreshes the ld cache.
const SCRIPT = `set -e
while [ $# -gt 0 ]; do
  case $1 in
    node) [ -c "$2" ] || mknod -m "$5" "$2" c "$3" "$4"; shift 5;;
    bind) mount --bind -o "$4" "$2" "$3"; shift 4;;
    ldconfig) l=$2 r=$3; shift 3; exec "$l" -r "$r" "$@";;
    *) echo "oci-gpu: bad step $1" >&2; exit 1;;
  esac
done`;

/**
 * The legacy createRuntime/prestart stage for runtimes without precreate: performs the planned
 * edits itself in the container's mount namespace. On cgroup v1 it allows the devices in the
 * container's devices cgroup; on cgroup v2 only the runtime can, so unless the config already
 * allows them it refuses with one line naming the paths that work. Nothing is done when the
 * config already carries the edits (precreate, oci-gpu-runtime or CDI got there first).
 */
export async function legacyInject(state: OciState, config: Config): Promise<void> {
  const bundleConfig = readBundleConfig(state.bundle);
  const request = parseRequest({ ...bundleConfig.annotations, ...state.annotations }, bundleConfig.process?.env ?? [], config.cdi.kind);
  if (!request) return;
  const manifest = await readManifestForHook(config);
  const { edits } = planEdits(manifest, request);
  if (alreadyApplied(bundleConfig, edits)) return;

  const pid = state.pid!;
  const rules = bundleConfig.linux?.resources?.devices ?? [];
  const cgroupDir = deviceCgroupDir(pid);
  if (cgroupDir === null) {
    const denied = edits.deviceNodes.filter((n) => !rulesAllow(rules, n));
    if (denied.length) {
      throw new RequestError(
        `cgroup v2: a ${process.argv.includes('prestart') ? 'prestart' : 'createRuntime'} hook cannot allow ${denied.map((n) => n.path).join(', ')} ` +
          '(only the runtime programs the device filter): use the precreate hook (hooks.d/oci-gpu.json), oci-gpu-runtime, or the CDI spec',
      );
    }
  } else {
    for (const line of devicesAllowLines(edits.deviceNodes)) fs.writeFileSync(path.join(cgroupDir, 'devices.allow'), line);
  }

  const rootfs = rootfsOf(state.bundle);
  const steps: string[] = [];
  for (const n of edits.deviceNodes) {
    const at = path.join(rootfs, resolveInRoot(n.path, (p) => readlinkOrNull(path.join(rootfs, p))));
    steps.push('node', at, String(n.major), String(n.minor), (n.fileMode ?? 0o666).toString(8));
  }
  for (const m of edits.mounts) {
    const isDir = fs.statSync(m.hostPath).isDirectory();
    const target = prepareMountTarget(rootfs, m.containerPath, isDir ? 'dir' : 'file');
    steps.push('bind', m.hostPath, target, (m.options ?? []).filter((o) => o !== 'bind' && o !== 'rbind').join(',') || 'ro');
  }
  const mounted = new Set(edits.mounts.map((m) => path.posix.dirname(m.containerPath)));
  const dirs = manifest.libraryDirs.filter((d) => mounted.has(d));
  if (dirs.length && manifest.tools.ldconfig) steps.push('ldconfig', manifest.tools.ldconfig, rootfs, ...dirs);
  if (!manifest.tools.nsenter || !manifest.tools.sh) throw new FileError('nsenter', 'the manifest names no nsenter or sh on this host: cannot enter the container');
  await runCommand(manifest.tools.nsenter, ['--target', String(pid), '--mount', '--', manifest.tools.sh, '-c', SCRIPT, 'oci-gpu-legacy', ...steps], {
    timeoutMs: 20_000,
  });
}

function readBundleConfig(bundle: string): OciConfig {
  const file = path.join(bundle, 'config.json');
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as OciConfig;
  } catch (error) {
    throw new FileError(file, `cannot read bundle config "${file}": ${(error as Error).message}`, { cause: error });
  }
}

function alreadyApplied(config: OciConfig, edits: Required<ContainerEdits>): boolean {
  const devices = new Set((config.linux?.devices ?? []).map((d) => d.path));
  const mounts = new Set((config.mounts ?? []).map((m) => m.destination));
  return edits.deviceNodes.every((n) => devices.has(n.path)) && edits.mounts.every((m) => mounts.has(m.containerPath));
}

/** Returns the container's cgroup v1 devices folder, or null on cgroup v2 (no devices controller). */
function deviceCgroupDir(pid: number): string | null {
  const lines = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
  const entry = lines.map((l) => l.split(':')).find((f) => f.length >= 3 && f[1]!.split(',').includes('devices'));
  if (!entry) return null;
  const mount = devicesMountPoint();
  return path.join(mount, entry.slice(2).join(':'));
}

function devicesMountPoint(): string {
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post) continue;
    const [fstype, , superOptions] = post.split(' ');
    if (fstype === 'cgroup' && superOptions?.split(',').includes('devices')) return pre.split(' ')[4]!;
  }
  return '/sys/fs/cgroup/devices';
}

function readlinkOrNull(p: string): string | null {
  try {
    return fs.readlinkSync(p);
  } catch {
    return null;
  }
}
