// Gathers what `oci-gpu doctor` checks on a host (a real one, or a simulated one under --root).
// Every read is tolerant: a missing or unreadable file is a fact for the checks, never an exception.
import fs from 'node:fs';
import path from 'node:path';
import { readFileIfExists } from '../adapters/atomic-write.js';
import { createHostFs, type HostFs } from '../adapters/host-fs.js';
import { parseManifest } from '../core/manifest/manifest-codec.js';
import { parseHooksDEntry } from '../core/parse/parse-hooks-d.js';
import { parseDriverVersion, parseProcDevices } from '../core/parse/parse-proc.js';
import { withParamsMask } from '../core/manifest/driver-params.js';
import { scanHost } from '../discover/scan.js';
import { formatError } from '../errors.js';
import type { CdiFacts, CdiFileFact, HookFileFact, HooksFacts, HostFacts, ManifestFact, NodeFact } from '../model/diagnosis.js';
import { DRIVER_VERSION_FILES } from '../model/host-paths.js';
import { PERSISTENCED_COMM } from '../watch/keep-warm.js';
import { processAlive, readWatchStatus } from '../watch/status.js';

/** CDI spec folders engines read by default, lowest priority first. */
export const DEFAULT_CDI_DIRS = ['/etc/cdi', '/var/run/cdi'];
/** hooks.d folders, lowest precedence first: a file in /etc masks one of the same name in /usr/share. */
export const DEFAULT_HOOKS_DIRS = ['/usr/share/containers/oci/hooks.d', '/etc/containers/oci/hooks.d'];
/** What Podman reads when containers.conf sets no hooks_dir (measured: Podman 4.3 reads only this). */
const PODMAN_DEFAULT_HOOKS_DIRS = ['/usr/share/containers/oci/hooks.d'];
const PERSISTENCED_SOCKETS = ['/run/nvidia-persistenced/socket', '/var/run/nvidia-persistenced/socket'];

export interface HostProbeOptions {
  root: string;
  manifest: string;
  cdi: { enabled: boolean; kind: string; ours: string; dirs?: string[]; container?: { maskDriverParams: boolean; cudaCompat: boolean } };
  /** Real paths, lowest precedence first; default DEFAULT_HOOKS_DIRS under root. */
  hooksDirs?: string[];
}

/** Reads every fact the host checks need; never throws for what it finds missing or broken. */
export function probeHost(o: HostProbeOptions): HostFacts {
  const hfs = createHostFs(o.root);
  const { driver, driverError } = readDriver(hfs);
  return {
    root: hfs.root,
    driver,
    ...(driverError ? { driverError } : {}),
    majors: readMajors(hfs),
    modules: hfs.list('/sys/module').filter((m) => m.startsWith('nvidia')),
    // As the watcher would write it for this manifest path (naming the masked params beside it).
    scan: withParamsMask(scanHost(hfs), o.manifest),
    nodes: readNodes(hfs, '/dev'),
    persistence: readPersistence(hfs, o.manifest),
    manifest: readManifestFact(o.manifest),
    cdi: readCdi(hfs, o.cdi),
    hooks: readHooks(hfs, o.hooksDirs),
    cgroup: readCgroupVersion(hfs),
  };
}

function readDriver(hfs: HostFs): { driver: HostFacts['driver']; driverError?: string } {
  for (const file of DRIVER_VERSION_FILES) {
    if (!hfs.stat(file)) continue;
    try {
      return { driver: { version: parseDriverVersion(hfs.readText(file), hfs.real(file)), source: hfs.real(file) } };
    } catch (error) {
      return { driver: null, driverError: formatError(error) };
    }
  }
  return { driver: null };
}

function readMajors(hfs: HostFs): Record<string, number> | null {
  try {
    const majors: Record<string, number> = {};
    for (const d of parseProcDevices(hfs.readText('/proc/devices')).character) majors[d.name] ??= d.major;
    return majors;
  } catch {
    return null;
  }
}

/** Every nvidia* entry of a /dev folder (host paths), with nvidia-caps/ listed inside. */
export function readNodes(hfs: HostFs, dev: string): NodeFact[] {
  const out: NodeFact[] = [];
  const add = (p: string) => {
    const s = hfs.stat(p);
    if (s) out.push({ path: p, kind: s.kind, major: s.major, minor: s.minor });
  };
  for (const e of hfs.list(dev).filter((e) => e.startsWith('nvidia'))) {
    if (e === 'nvidia-caps' && hfs.stat(`${dev}/${e}`)?.kind === 'dir') for (const c of hfs.list(`${dev}/${e}`)) add(`${dev}/${e}/${c}`);
    else add(`${dev}/${e}`);
  }
  return out;
}

function readPersistence(hfs: HostFs, manifest: string): HostFacts['persistence'] {
  const sockets = [...new Set(PERSISTENCED_SOCKETS.filter((p) => hfs.statFollow(p)?.kind === 'socket').map((p) => hfs.resolve(p)))];
  const pids: number[] = [];
  for (const e of hfs.list('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      if (hfs.readText(`/proc/${e}/comm`).trim() === PERSISTENCED_COMM) pids.push(Number(e));
    } catch {
      // the process exited while we listed
    }
  }
  const status = readWatchStatus(manifest);
  const keepWarm = status && processAlive(status.pid) ? (status.holdingOpen ?? []) : [];
  return { sockets, pids, keepWarm };
}


function readManifestFact(file: string): ManifestFact {
  let text: string | null;
  try {
    text = readFileIfExists(file);
  } catch (error) {
    return { file, state: 'invalid', error: formatError(error) };
  }
  if (text === null) return { file, state: 'missing' };
  try {
    return { file, state: 'ok', manifest: parseManifest(text, file) };
  } catch (error) {
    return { file, state: 'invalid', error: formatError(error) };
  }
}

function realpathOr(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

function readCdi(hfs: HostFs, o: HostProbeOptions['cdi']): CdiFacts {
  const dirs = o.dirs ?? DEFAULT_CDI_DIRS.map((d) => hfs.real(d));
  const files: CdiFileFact[] = [];
  const seen = new Set<string>();
  // /var/run is usually a link to /run: the same folder listed twice must not make every spec a duplicate of itself.
  dirs.forEach((dir, dirIndex) => {
    const real = realpathOr(dir);
    if (seen.has(real)) return;
    seen.add(real);
    let entries: string[] = [];
    try {
      entries = fs.readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const e of entries.filter((e) => e.endsWith('.json') || e.endsWith('.yaml'))) {
      const file = path.join(dir, e);
      if (!fs.statSync(file, { throwIfNoEntry: false })?.isFile()) continue;
      files.push(readCdiFile(file, dirIndex));
    }
  });
  const ours = path.resolve(o.ours);
  const oursReal = realpathOr(ours);
  const found = files.find((f) => f.file === ours || realpathOr(f.file) === oursReal);
  if (found) found.file = ours;
  else if (fs.existsSync(ours)) files.push(readCdiFile(ours, -1));
  return { enabled: o.enabled, kind: o.kind, ours, dirs, files, ...(o.container ? { container: o.container } : {}) };
}

function readCdiFile(file: string, dirIndex: number): CdiFileFact {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    return { file, dirIndex, kind: null, spec: null, error: `cannot read: ${(error as NodeJS.ErrnoException).code ?? 'error'}` };
  }
  if (file.endsWith('.yaml')) {
    // YAML specs (nvidia-ctk writes them) are read only for their kind: no YAML parser on this path.
    const kind = /^kind:\s*["']?([^"'\s#]+)/m.exec(text)?.[1] ?? null;
    return { file, dirIndex, kind, spec: null, ...(kind ? {} : { error: 'no kind: line' }) };
  }
  try {
    const spec = JSON.parse(text) as { kind?: unknown };
    return { file, dirIndex, kind: typeof spec.kind === 'string' ? spec.kind : null, spec };
  } catch (error) {
    return { file, dirIndex, kind: /"kind"\s*:\s*"([^"]+)"/.exec(text)?.[1] ?? null, spec: null, error: `not valid JSON: ${(error as Error).message}` };
  }
}

function readHooks(hfs: HostFs, override: string[] | undefined): HooksFacts {
  const dirs = override ?? DEFAULT_HOOKS_DIRS.map((d) => hfs.real(d));
  const files: HookFileFact[] = [];
  dirs.forEach((dir, dirIndex) => {
    let entries: string[] = [];
    try {
      entries = fs.readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const name of entries.filter((e) => e.endsWith('.json'))) files.push(readHookFile(hfs, path.join(dir, name), name, dirIndex));
  });
  return { dirs, podmanDirs: override ? null : podmanHooksDirs(hfs), files };
}

function readHookFile(hfs: HostFs, file: string, name: string, dirIndex: number): HookFileFact {
  const base = { file, name, dirIndex, binary: null, executable: false };
  let entry;
  try {
    entry = parseHooksDEntry(fs.readFileSync(file, 'utf8'), file);
  } catch (error) {
    return { ...base, entry: null, error: formatError(error) };
  }
  // The runtime runs hook.path as given; on a simulated host the binary may live under --root.
  const candidates = [entry.hook.path, ...(hfs.root === '/' ? [] : [hfs.real(entry.hook.path)])];
  for (const p of candidates) {
    const s = fs.statSync(p, { throwIfNoEntry: false });
    if (s?.isFile()) return { ...base, entry, binary: p, executable: (s.mode & 0o111) !== 0 };
  }
  return { ...base, entry };
}

/** The folders Podman reads: containers.conf hooks_dir (the /etc file wins), else its default. */
function podmanHooksDirs(hfs: HostFs): string[] {
  for (const conf of ['/etc/containers/containers.conf', '/usr/share/containers/containers.conf']) {
    let text: string;
    try {
      text = hfs.readText(conf);
    } catch {
      continue;
    }
    const m = /^\s*hooks_dir\s*=\s*\[([^\]]*)\]/m.exec(text);
    if (m) return [...m[1]!.matchAll(/"([^"]+)"|'([^']+)'/g)].map((x) => hfs.real(x[1] ?? x[2]!));
  }
  return PODMAN_DEFAULT_HOOKS_DIRS.map((d) => hfs.real(d));
}

function readCgroupVersion(hfs: HostFs): HostFacts['cgroup'] {
  if (hfs.stat('/sys/fs/cgroup/cgroup.controllers')) return { version: 'v2', evidence: `${hfs.real('/sys/fs/cgroup/cgroup.controllers')} exists` };
  if (hfs.stat('/sys/fs/cgroup/devices')) {
    const hybrid = !!hfs.stat('/sys/fs/cgroup/unified');
    return { version: hybrid ? 'hybrid' : 'v1', evidence: `${hfs.real('/sys/fs/cgroup/devices')} exists` };
  }
  return { version: 'unknown', evidence: `neither ${hfs.real('/sys/fs/cgroup/cgroup.controllers')} nor ${hfs.real('/sys/fs/cgroup/devices')} exists` };
}
