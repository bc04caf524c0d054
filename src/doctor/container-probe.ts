// Gathers what `oci-gpu doctor --container` checks, from the host side: /proc/<pid>/{root,environ,
// cgroup,mountinfo}, the v1 devices cgroup, and the runtime's config.json (found through podman
// inspect, or `crun state` / `runc state` for a bare pid).
import fs from 'node:fs';
import path from 'node:path';
import { runCommand } from '../adapters/exec.js';
import { createHostFs, type HostFs } from '../adapters/host-fs.js';
import { containerIdOfCgroup, parseProcCgroup } from '../core/parse/parse-cgroup.js';
import { parseLdCache } from '../core/parse/parse-ld-cache.js';
import { parseMountInfo } from '../core/parse/parse-mountinfo.js';
import { formatError, OciGpuError } from '../errors.js';
import type { ContainerFacts, LdCacheFact } from '../model/diagnosis.js';
import type { OciConfig } from '../model/oci.js';
import { readNodes } from './host-probe.js';

/** A running container, as far as doctor found it. */
export interface ContainerTarget {
  pid: number;
  id: string | null;
  /** Its bundle's config.json, when found. */
  configPath: string | null;
  runtime: string | null;
  /** Why the config was not found, for the report. */
  configError?: string;
}

const PODMAN = ['/usr/bin/podman', '/usr/local/bin/podman'];
// Runtimes whose default state folder (/run/crun, /run/runc) Podman uses too.
const RUNTIMES = [
  ['/usr/bin/crun', '/usr/local/bin/crun'],
  ['/usr/sbin/runc', '/usr/bin/runc', '/usr/local/sbin/runc'],
];
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const DRIVER_SONAME = /^lib(cuda|nvidia-[\w-]+)\.so/;

function firstExecutable(paths: string[]): string | null {
  for (const p of paths) {
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return null;
}

/**
 * Resolves `--container ID|PID`: a number is a host pid (its id read from its cgroup path), anything
 * else a Podman container id or name (`podman inspect`). Throws OciGpuError when it is unknown or
 * not running.
 */
export async function resolveContainer(target: string): Promise<ContainerTarget> {
  const podman = firstExecutable(PODMAN);
  if (/^\d+$/.test(target)) {
    const pid = Number(target);
    let cgroup: string;
    try {
      cgroup = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    } catch (error) {
      throw new OciGpuError(`no process ${pid}: cannot read /proc/${pid}/cgroup (${(error as NodeJS.ErrnoException).code ?? 'error'})`, { cause: error });
    }
    const id = parseProcCgroup(cgroup).map((l) => containerIdOfCgroup(l.path)).find((x) => x !== null) ?? null;
    if (!id) return { pid, id: null, configPath: null, runtime: null, configError: `pid ${pid} is in no container cgroup (no 64-hex id in /proc/${pid}/cgroup)` };
    if (podman) {
      const r = await runCommand(podman, ['inspect', '--format', '{{.State.Pid}}\t{{.Id}}\t{{.OCIConfigPath}}\t{{.OCIRuntime}}', id], { allowFailure: true, timeoutMs: 30_000 });
      const [, , config, runtime] = r.stdout.trim().split('\t');
      if (r.exitCode === 0 && config) return { pid, id, configPath: config, runtime: runtime || null };
    }
    return { pid, id, ...(await bundleConfigOf(id)) };
  }
  if (!podman) throw new OciGpuError(`container "${target}": podman is not installed; give the container's host pid instead`);
  const r = await runCommand(podman, ['inspect', '--type', 'container', '--format', '{{.State.Pid}}\t{{.Id}}\t{{.OCIConfigPath}}\t{{.OCIRuntime}}', target], { allowFailure: true, timeoutMs: 30_000 });
  if (r.exitCode !== 0) throw new OciGpuError(`container "${target}": podman inspect failed: ${r.stderr.trim().split('\n').at(-1) ?? `exit ${r.exitCode}`}`);
  const [pidText, id, config, runtime] = r.stdout.trim().split('\t');
  const pid = Number(pidText);
  if (!pid) throw new OciGpuError(`container "${target}" is not running: doctor looks inside running containers (\`podman start ${target}\`)`);
  return { pid, id: id || null, configPath: config || null, runtime: runtime || null };
}

/** Finds a container's config.json through the runtimes' own state (`crun state ID`, `runc state ID`: its bundle). */
export async function bundleConfigOf(id: string): Promise<Omit<ContainerTarget, 'pid' | 'id'>> {
  for (const candidates of RUNTIMES) {
    const bin = firstExecutable(candidates);
    if (!bin) continue;
    const r = await runCommand(bin, ['state', id], { allowFailure: true });
    if (r.exitCode !== 0) continue;
    try {
      const bundle = (JSON.parse(r.stdout) as { bundle?: string }).bundle;
      if (bundle) return { configPath: path.join(bundle, 'config.json'), runtime: path.basename(bin) };
    } catch {
      // not JSON: try the next runtime
    }
  }
  return { configPath: null, runtime: null, configError: `no runtime knows container ${id.slice(0, 12)} (podman inspect, crun state, runc state)` };
}

/** Reads every fact the container checks need; throws OciGpuError when the container's root cannot be read. */
export function probeContainer(t: ContainerTarget): ContainerFacts {
  const proc = `/proc/${t.pid}`;
  const rootPath = `${proc}/root`;
  try {
    fs.readdirSync(rootPath);
  } catch (error) {
    throw new OciGpuError(`cannot read ${rootPath}: ${(error as NodeJS.ErrnoException).code ?? 'error'} (doctor --container needs root, and the process must be running)`, { cause: error });
  }
  const cfs = createHostFs(rootPath);
  let config: OciConfig | null = null;
  let configError = t.configError;
  if (t.configPath) {
    try {
      config = JSON.parse(fs.readFileSync(t.configPath, 'utf8')) as OciConfig;
    } catch (error) {
      configError = `cannot read ${t.configPath}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`;
    }
  }
  let env = readText(`${proc}/environ`)?.split('\0').filter(Boolean) ?? [];
  if (!env.length) env = config?.process?.env ?? [];
  const pathDirs = (env.find((e) => e.startsWith('PATH='))?.slice(5) ?? DEFAULT_PATH).split(':').filter(Boolean);
  return {
    pid: t.pid,
    id: t.id,
    runtime: t.runtime,
    rootPath,
    env,
    annotations: config?.annotations ?? null,
    nodes: readNodes(cfs, '/dev'),
    cgroup: readCgroup(proc),
    config: config ? { file: t.configPath!, devices: config.linux?.resources?.devices ?? [], linuxDevices: config.linux?.devices ?? [] } : null,
    ...(configError && !config ? { configError } : {}),
    mounts: parseMountInfo(readText(`${proc}/mountinfo`) ?? ''),
    ldCache: readLdCache(cfs),
    pathDirs,
    nvidiaSmi: pathDirs.map((d) => path.posix.join(d, 'nvidia-smi')).find((p) => isExecutable(cfs, p)) ?? null,
  };
}

function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

function readCgroup(proc: string): ContainerFacts['cgroup'] {
  const lines = parseProcCgroup(readText(`${proc}/cgroup`) ?? '');
  const devices = lines.find((l) => l.controllers.includes('devices'));
  if (!devices) return { version: 'v2', path: lines.find((l) => l.id === 0)?.path ?? '/', devicesList: null, devicesListFile: null };
  // Where this host mounts the v1 devices controller (as seen from doctor's own mount namespace).
  const mount = parseMountInfo(readText('/proc/self/mountinfo') ?? '').find((m) => m.fsType === 'cgroup' && m.superOptions.includes('devices'));
  const base = mount?.mountPoint ?? '/sys/fs/cgroup/devices';
  const file = path.join(base, devices.path, 'devices.list');
  const text = readText(file);
  return { version: 'v1', path: devices.path, devicesList: text === null ? null : text.split('\n').filter(Boolean), devicesListFile: file };
}

function readLdCache(cfs: HostFs): ContainerFacts['ldCache'] {
  const file = `${cfs.root}/etc/ld.so.cache`;
  if (!cfs.statFollow('/etc/ld.so.cache')) return null;
  try {
    const entries: LdCacheFact[] = parseLdCache(cfs.readBytes(cfs.resolve('/etc/ld.so.cache')), file)
      .filter((e) => DRIVER_SONAME.test(e.name))
      .map((e) => ({ name: e.name, path: e.path, arch: e.arch, resolved: resolveFile(cfs, e.path) }));
    return { file, entries };
  } catch (error) {
    return { file, entries: [], error: formatError(error) };
  }
}

function resolveFile(cfs: HostFs, p: string): string | null {
  try {
    const resolved = cfs.resolve(p);
    return cfs.stat(resolved)?.kind === 'file' ? resolved : null;
  } catch {
    return null;
  }
}

function isExecutable(cfs: HostFs, p: string): boolean {
  try {
    const s = cfs.statFollow(p);
    return !!s && s.kind === 'file' && (s.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}
