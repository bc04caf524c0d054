import fs from 'node:fs';
import path from 'node:path';
import { openTargetInRoot, type RootfsTarget } from '../adapters/rootfs.js';
import { devicesAllowLines, rulesAllow } from '../core/plan/device-rules.js';
import { asOciConfig, requestInputs } from '../core/request/oci-config.js';
import { planEdits } from '../core/plan/plan-edits.js';
import { parseMountInfo } from '../core/parse/parse-mountinfo.js';
import { parseRequest } from '../core/request/request.js';
import { isWithin } from '../core/resolve-in-root.js';
import { ExecError, FileError, ParseError, RequestError } from '../errors.js';
import type { Config } from '../model/config.js';
import type { MountInfo } from '../model/diagnosis.js';
import type { ContainerEdits, DeviceNode, Mount } from '../model/edits.js';
import type { OciConfig, OciDeviceCgroup, OciState } from '../model/oci.js';
import { readManifestForStart } from '../adapters/manifest-file.js';

// Runs inside the container's mount namespace (before pivot_root, so host paths still resolve):
// creates device nodes, bind-mounts driver files read-only, then refreshes the ld cache. Targets
// are /proc/self/fd/N/<name>: N is the folder the hook opened without following links (fd 3 on),
// so a folder swapped for a symlink meanwhile cannot move them; mount must not canonicalize them.
const SCRIPT = `set -e
while [ $# -gt 0 ]; do
  case $1 in
    node) [ -c "$2" ] || mknod -m "$5" "$2" c "$3" "$4"; shift 5;;
    bind) mount --no-canonicalize --bind -o "$4" "$2" "$3"; shift 4;;
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
export async function legacyInject(state: OciState, config: Config, stage: LegacyStage = stageFromArgv()): Promise<void> {
  const { file, value } = readBundleConfig(state.bundle);
  const { annotations, env } = requestInputs(value, `bundle config "${file}"`);
  const request = parseRequest({ ...annotations, ...state.annotations }, env, config.cdi.kind);
  if (!request) return;
  const bundleConfig = asOciConfig(value, `bundle config "${file}"`);
  const manifest = await readManifestForStart(config);
  const { edits } = planEdits(manifest, request);
  if (alreadyApplied(bundleConfig, edits)) return;
  refuseInUserNamespace(readOrEmpty('/proc/self/uid_map'), bundleConfig.linux?.namespaces ?? [], stage);

  const pid = state.pid!;
  const cgroupPath = devicesCgroupPath(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
  if (cgroupPath === null) refuseUnlessAllowed(bundleConfig.linux?.resources?.devices ?? [], edits.deviceNodes, stage);
  else {
    const dir = path.join(devicesMountPoint(), cgroupPath);
    for (const line of devicesAllowLines(edits.deviceNodes)) fs.writeFileSync(path.join(dir, 'devices.allow'), line);
  }

  // Mount targets are looked up and created through /proc/<pid>/root: the container's mount
  // namespace, where the runtime has already mounted /dev, /run, /tmp (tmpfs under podman
  // --read-only)... A target made in the host's view of the rootfs would be hidden under them.
  const root = bundleConfig.root?.path;
  if (typeof root !== 'string' || root === '') throw new ParseError(`bundle config "${file}"`, ['root.path: must be a string']);
  const rootfs = path.resolve(state.bundle, root);
  const viewRootfs = `/proc/${pid}/root${rootfs}`;
  if (!manifest.tools.nsenter || !manifest.tools.sh) throw new FileError('nsenter', 'the manifest names no nsenter or sh on this host: cannot enter the container');
  // Each target's folder is held open and handed to the script (fd 3 on), which names the target
  // through it: nothing is looked up by path in the rootfs again after it was checked.
  const folders: number[] = [];
  const slots = new Map<string, number>();
  const inNs = (t: RootfsTarget) => {
    const st = fs.fstatSync(t.dirFd);
    const key = `${st.dev}:${st.ino}`;
    let slot = slots.get(key);
    if (slot === undefined) {
      slot = 3 + folders.push(t.dirFd) - 1;
      slots.set(key, slot);
    } else fs.closeSync(t.dirFd);
    return `/proc/self/fd/${slot}/${t.name}`;
  };
  try {
    const steps: string[] = [];
    for (const n of edits.deviceNodes) {
      steps.push('node', inNs(openTargetInRoot(viewRootfs, n.path, 'node')), String(n.major), String(n.minor), (n.fileMode ?? 0o666).toString(8));
    }
    for (const m of edits.mounts) {
      const isDir = fs.statSync(m.hostPath).isDirectory();
      const target = inNs(openTargetInRoot(viewRootfs, m.containerPath, isDir ? 'dir' : 'file'));
      steps.push('bind', m.hostPath, target, bindOptions(m).join(','));
    }
    const mounted = new Set(edits.mounts.map((m) => path.posix.dirname(m.containerPath)));
    const dirs = manifest.libraryDirs.filter((d) => mounted.has(d));
    if (dirs.length && manifest.tools.ldconfig) steps.push('ldconfig', manifest.tools.ldconfig, rootfs, ...dirs);
    // Imported here, not at the top: execa's import makes fd 0 non-blocking (it creates process.stdin),
    // and the state on stdin is read after this module loads; a runtime that writes it late got EAGAIN.
    const { runCommand } = await import('../adapters/exec.js');
    await runCommand(manifest.tools.nsenter, ['--target', String(pid), '--mount', '--', manifest.tools.sh, '-c', SCRIPT, 'oci-gpu-legacy', ...steps], {
      timeoutMs: 20_000,
      fds: folders,
    });
    checkBinds(pid, rootfs, edits.mounts, stage);
  } catch (error) {
    if (!(error instanceof ExecError)) throw error;
    // runCommand's message quotes the whole multi-line script: say what failed in one line instead.
    const detail = error.stderr.split('\n').map((l) => l.trim()).filter(Boolean).join(' | ') || `exit status ${error.exitStatus ?? 'unknown'}`;
    throw new ExecError(error.command, error.exitStatus, error.stderr, `${stage}: setting up the GPU files in container pid ${pid} failed: ${detail}`, { cause: error });
  } finally {
    for (const fd of folders) fs.closeSync(fd);
  }
}

export type LegacyStage = 'createRuntime' | 'prestart';

// What the script asks mount for: the planned options without bind/rbind, or "ro" when they name none.
function bindOptions(m: Mount): string[] {
  const options = (m.options ?? []).filter((o) => o !== 'bind' && o !== 'rbind');
  return options.length ? options : ['ro'];
}

/**
 * Throws FileError unless every driver file is now bound inside the container's rootfs, read-only
 * unless planned otherwise (MPS and persistenced sockets are read-write).
 * mount(2) follows a symlink at the last component, so a name swapped for a link after it was
 * checked sends the bind elsewhere (inside the container's mount namespace only), and one swapped
 * between the bind and its read-only remount leaves a writable bind: either way, no start.
 */
function checkBinds(pid: number, rootfs: string, mounts: Mount[], stage: LegacyStage): void {
  const host = parseMountInfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
  const inContainer = parseMountInfo(fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8'));
  for (const m of mounts) {
    const real = fs.realpathSync(m.hostPath);
    // The host mount that holds the file (the last of the deepest), and the file's path inside it.
    let holder: MountInfo | undefined;
    for (const h of host) if (isWithin(h.mountPoint, real) && h.mountPoint.length >= (holder?.mountPoint.length ?? 0)) holder = h;
    if (!holder) continue;
    const root = path.posix.join(holder.root, path.posix.relative(holder.mountPoint, real));
    const binds = inContainer.filter((c) => c.root === root && c.source === holder.source && c.fsType === holder.fsType && isWithin(rootfs, c.mountPoint));
    if (!binds.length) throw new FileError(m.containerPath, `${stage}: "${m.containerPath}" is not mounted in the container after setup (a folder or name in the rootfs changed meanwhile); refusing`);
    if (!bindOptions(m).includes('ro')) continue;
    const writable = binds.find((c) => !c.options.includes('ro'));
    if (writable) throw new FileError(m.containerPath, `${stage}: driver file "${m.hostPath}" ended up writable at "${writable.mountPoint}" (a name in the rootfs changed meanwhile); refusing`);
  }
}

function stageFromArgv(): LegacyStage {
  return process.argv.includes('prestart') ? 'prestart' : 'createRuntime';
}

/**
 * Returns the devices controller's cgroup path from a `/proc/<pid>/cgroup` text (cgroup v1 or
 * hybrid), or null when there is no devices controller: cgroup v2, where only the runtime can
 * allow a device (it builds the eBPF filter from linux.resources.devices).
 */
export function devicesCgroupPath(procCgroup: string): string | null {
  const entry = procCgroup
    .split('\n')
    .map((l) => l.split(':'))
    .find((f) => f.length >= 3 && f[1]!.split(',').includes('devices'));
  return entry ? entry.slice(2).join(':') : null;
}

/**
 * On cgroup v2 a hook cannot allow devices: throws RequestError naming the nodes the config's rules
 * do not allow and the three ways that work; returns when the rules already allow every node.
 */
export function refuseUnlessAllowed(rules: OciDeviceCgroup[], nodes: DeviceNode[], stage: LegacyStage): void {
  const denied = nodes.filter((n) => !rulesAllow(rules, n));
  if (!denied.length) return;
  throw new RequestError(
    `cgroup v2: a ${stage} hook cannot allow ${denied.map((n) => n.path).join(', ')} ` +
      '(only the runtime programs the device filter): use the precreate hook (hooks.d/oci-gpu.json), oci-gpu-runtime, or the CDI spec',
  );
}

/**
 * In a user namespace the legacy stage cannot work: rootless Podman runs the hook in one (no
 * devices cgroup to write, no mknod), and a container with its own (--uidmap, --userns=auto) gets a
 * /dev where a node made from outside fails with EOVERFLOW. Throws RequestError naming what works
 * (precreate or CDI: the runtime bind-mounts the host's nodes there); returns otherwise.
 * `uidMap` is /proc/self/uid_map ("" when unreadable: taken as the initial namespace).
 */
export function refuseInUserNamespace(uidMap: string, namespaces: { type: string }[], stage: LegacyStage): void {
  const fields = uidMap.trim().split(/\s+/);
  const initial = uidMap.trim() === '' || (fields.length === 3 && fields[0] === '0' && fields[1] === '0' && fields[2] === '4294967295');
  const own = namespaces.some((n) => n?.type === 'user');
  if (initial && !own) return;
  throw new RequestError(
    `${stage}: ${initial ? 'the container has its own user namespace' : 'the hook runs in a user namespace (rootless Podman?)'}, where a ${stage} hook cannot create or allow device nodes: ` +
      'use the precreate hook (hooks.d/oci-gpu.json) or the CDI spec, whose device nodes the runtime itself bind-mounts (docs/rootless.md)',
  );
}

function readOrEmpty(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function readBundleConfig(bundle: string): { file: string; value: unknown } {
  const file = path.join(bundle, 'config.json');
  try {
    return { file, value: JSON.parse(fs.readFileSync(file, 'utf8')) as unknown };
  } catch (error) {
    throw new FileError(file, `cannot read bundle config "${file}": ${(error as Error).message}`, { cause: error });
  }
}

function alreadyApplied(config: OciConfig, edits: Required<ContainerEdits>): boolean {
  const devices = new Set((config.linux?.devices ?? []).map((d) => d.path));
  const mounts = new Set((config.mounts ?? []).map((m) => m.destination));
  return edits.deviceNodes.every((n) => devices.has(n.path)) && edits.mounts.every((m) => mounts.has(m.containerPath));
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
