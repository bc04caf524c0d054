// Shared setup of the security tests (test/security/): hostile rootfs trees made from the test
// rootfs, a canary folder on the host that no container start may touch, fingerprints of what the
// host must keep (its /etc/ld.so.cache, its mount table), an LD_PRELOAD library and fake PATH tools
// that leave markers when a host process runs them, and recorders that capture the environment of
// every process the hook starts. Podman, bundle and hooks.d setup stays in hook-env.ts / podman.ts.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { buildCdiSpec } from '../../src/core/plan/cdi-spec.js';
import type { Manifest } from '../../src/model/manifest.js';
import {
  HOOK_BIN,
  makeBundle,
  parseProbe,
  PROBE,
  RUNTIME_BIN,
  RUNTIME_PATHS,
  show,
  tempDir,
  writeHooksDir,
  type FixtureManifest,
  type ManifestView,
  type ProbeResult,
} from './hook-env.js';
import { CGROUP_V1, type Gate } from './needs.js';
import { podmanRun, podmanTests, run, TEST_ROOTFS, type RunResult, type Runtime } from './podman.js';

const execFileP = promisify(execFile);

/** The only environment a host process started for a container may get. */
export const MINIMAL_ENV = ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'];

// ------------------------------------------------------------------------------------- the canary

export interface Canary {
  /** An absolute host folder (under /tmp) that hostile symlinks point at. */
  dir: string;
  /** Every entry under it: path, type, mode, size, mtime, ctime, inode, content hash or link target. */
  snapshot(): string[];
}

/**
 * A host folder with a few files in the shapes a redirected start would touch (lib64/, bin/, an
 * ld.so.cache, a device-looking name): a changed listing, mtime or content shows a write through a
 * symlink that left the rootfs.
 */
export function makeCanary(): Canary {
  const dir = tempDir('canary');
  mkdirSync(path.join(dir, 'lib64'));
  mkdirSync(path.join(dir, 'bin'));
  writeFileSync(path.join(dir, 'keep.txt'), 'canary\n');
  writeFileSync(path.join(dir, 'lib64/keep.so'), 'not a library\n');
  writeFileSync(path.join(dir, 'bin/keep'), '#!/bin/sh\n');
  writeFileSync(path.join(dir, 'ld.so.cache'), 'canary cache\n');
  return { dir, snapshot: () => snapshotTree(dir) };
}

/**
 * What changed between two snapshots of a folder, as "added|removed|changed <path> <kind>" lines
 * without times or inodes, so the changes of two starts can be compared.
 */
export function treeChanges(before: string[], after: string[]): string[] {
  const index = (lines: string[]) => new Map(lines.map((l) => [l.slice(0, l.indexOf(' mode=')), l]));
  const kind = (l: string) => (l.includes(' -> ') ? `link ${l.slice(l.indexOf(' -> ') + 4)}` : l.endsWith(' dir') ? 'dir' : l.includes(' special ') ? `node ${l.slice(l.indexOf('rdev='))}` : 'file');
  const [b, a] = [index(before), index(after)];
  const out: string[] = [];
  for (const [p, l] of a) {
    const old = b.get(p);
    if (old === undefined) out.push(`added ${p} ${kind(l)}`);
    else if (old !== l && p !== '.' && !l.endsWith(' dir')) out.push(`changed ${p} ${kind(l)}`);
  }
  for (const [p, l] of b) if (!a.has(p)) out.push(`removed ${p} ${kind(l)}`);
  return out.sort();
}

/** A deterministic listing of a tree: one line per entry with everything a write would change. */
export function snapshotTree(root: string): string[] {
  const out: string[] = [];
  const visit = (rel: string) => {
    const p = path.join(root, rel);
    const st = lstatSync(p);
    const base = `${rel || '.'} mode=${st.mode.toString(8)} ino=${st.ino} mtime=${st.mtimeMs} ctime=${st.ctimeMs}`;
    if (st.isSymbolicLink()) out.push(`${base} -> ${readlinkSync(p)}`);
    else if (st.isFile()) out.push(`${base} size=${st.size} sha256=${createHash('sha256').update(readFileSync(p)).digest('hex')}`);
    else if (st.isDirectory()) {
      out.push(`${base} dir`);
      for (const e of readdirSync(p).sort()) visit(path.join(rel, e));
    } else out.push(`${base} special rdev=${st.rdev}`);
  };
  visit('');
  return out;
}

/** Host mount points (this process's mount namespace) at or under `dir`. */
export function hostMountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => m !== undefined)
    .map((m) => m.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((m) => m === dir || m.startsWith(`${dir}/`));
}

/** What the host's own ld cache must keep: content hash, inode, mtime, and no `ld.so.cache~` left behind. */
export function hostLdCacheFingerprint(): string {
  const file = '/etc/ld.so.cache';
  const st = lstatSync(file);
  const hash = createHash('sha256').update(readFileSync(file)).digest('hex');
  return `${file} ino=${st.ino} mtime=${st.mtimeMs} sha256=${hash} tmp=${existsSync(`${file}~`)}`;
}

// ---------------------------------------------------------------------------------- hostile trees

/** One change to a rootfs copy; paths are container paths. */
export type RootfsEdit =
  | { link: string; to: string }
  | { dir: string }
  | { file: string; content?: string }
  | { remove: string }
  | { move: string; to: string }
  | { merge: string; into: string };

/** A symlink target that climbs out of any rootfs with `../` and lands on `hostPath`. */
export function climbingLink(hostPath: string): string {
  return '../'.repeat(24) + hostPath.replace(/^\/+/, '');
}

/** Applies edits to a rootfs tree in order (a link or file replaces whatever was there). */
export function editRootfs(rootfs: string, edits: readonly RootfsEdit[]): void {
  const at = (p: string) => path.join(rootfs, p);
  for (const e of edits) {
    if ('link' in e) {
      rmSync(at(e.link), { recursive: true, force: true });
      mkdirSync(path.dirname(at(e.link)), { recursive: true });
      symlinkSync(e.to, at(e.link));
    } else if ('dir' in e) {
      rmSync(at(e.dir), { recursive: true, force: true });
      mkdirSync(at(e.dir), { recursive: true });
    } else if ('file' in e) {
      rmSync(at(e.file), { recursive: true, force: true });
      mkdirSync(path.dirname(at(e.file)), { recursive: true });
      writeFileSync(at(e.file), e.content ?? '');
    } else if ('remove' in e) {
      rmSync(at(e.remove), { recursive: true, force: true });
    } else if ('merge' in e) {
      // Moves a folder's entries into another folder (created if missing), as a merged-/usr layout has them.
      mkdirSync(at(e.into), { recursive: true });
      cpSync(at(e.merge), at(e.into), { recursive: true, verbatimSymlinks: true, force: true });
      rmSync(at(e.merge), { recursive: true, force: true });
    } else {
      mkdirSync(path.dirname(at(e.to)), { recursive: true });
      cpSync(at(e.move), at(e.to), { recursive: true, verbatimSymlinks: true });
      rmSync(at(e.move), { recursive: true, force: true });
    }
  }
}

/** A private copy of the test rootfs (busybox + glibc) with `edits` applied; for `podman --rootfs DIR`. */
export function hostileRootfs(edits: readonly RootfsEdit[]): string {
  const rootfs = path.join(tempDir('rootfs'), 'rootfs');
  cpSync(TEST_ROOTFS, rootfs, { recursive: true, verbatimSymlinks: true });
  editRootfs(rootfs, edits);
  return rootfs;
}

// ------------------------------------------------------------------------- markers and recorders

export interface Markers {
  /** The host folder markers land in (never inside a rootfs). */
  dir: string;
  /** Marker file names, sorted. */
  list(): string[];
  /** Each marker's content by name. */
  read(): Record<string, string>;
  clear(): void;
}

export function makeMarkers(prefix: string): Markers {
  const dir = tempDir(prefix);
  const list = () => readdirSync(dir).sort();
  return {
    dir,
    list,
    read: () => Object.fromEntries(list().map((f) => [f, readFileSync(path.join(dir, f), 'utf8')])),
    clear: () => {
      for (const f of list()) rmSync(path.join(dir, f), { force: true });
    },
  };
}

/**
 * Builds (gcc) a shared object whose constructor writes `<markers>/preload-<pid>` naming the
 * program that loaded it: a process that honoured LD_PRELOAD leaves a marker. Returns its path.
 */
export async function buildEvilPreload(markers: Markers): Promise<string> {
  const dir = tempDir('evil');
  const src = path.join(dir, 'evil.c');
  writeFileSync(
    src,
    [
      '#include <fcntl.h>',
      '#include <stdio.h>',
      '#include <string.h>',
      '#include <unistd.h>',
      '__attribute__((constructor)) static void evil(void) {',
      '  char p[4096], exe[1024] = "?";',
      '  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);',
      '  if (n > 0) exe[n] = 0;',
      '  snprintf(p, sizeof p, "%s/preload-%d", MARKERS, (int)getpid());',
      '  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);',
      '  if (fd >= 0) { write(fd, exe, strlen(exe)); write(fd, "\\n", 1); close(fd); }',
      '}',
      '',
    ].join('\n'),
  );
  const so = path.join(dir, 'evil.so');
  await execFileP('gcc', ['-shared', '-fPIC', '-O2', `-DMARKERS="${markers.dir}"`, '-o', so, src], { timeout: 60_000 });
  chmodSync(dir, 0o755);
  return so;
}

/** Names a fake PATH folder shadows: everything the hook or its post-mount step could run by name. */
export const SHADOWED_TOOLS = ['sh', 'dash', 'bash', 'nsenter', 'ldconfig', 'ldconfig.real', 'sed', 'mount', 'mknod', 'cat', 'env', 'tr', 'grep', 'node', 'runc', 'crun'];

/**
 * A host folder of fake tools (SHADOWED_TOOLS): each writes `<markers>/path-<name>-<pid>` and then
 * runs the real tool, so a host process that found tools through a container-set PATH is caught
 * without breaking the start.
 */
export function fakeToolsDir(markers: Markers): string {
  const dir = tempDir('fakebin');
  for (const name of SHADOWED_TOOLS) {
    const real = ['/usr/bin', '/bin', '/usr/sbin', '/sbin'].map((d) => path.join(d, name)).find((p) => existsSync(p));
    const file = path.join(dir, name);
    writeFileSync(file, `#!/bin/dash\necho "$0 $*" >'${markers.dir}/path-${name}-'$$\n${real ? `exec '${real}' "$@"` : 'exit 127'}\n`);
    chmodSync(file, 0o755);
  }
  return dir;
}

/**
 * A copy of a fixture manifest whose host tools (sh, nsenter, ldconfig) are recorders: each writes
 * its own environment (from /proc/self/environ, exactly what it was given) to
 * `<markers>/env-<tool>-<pid>`, then execs the real tool. The manifest is trusted input: this only
 * instruments what the hook and the post-mount step start.
 */
export function recordingManifest(source: FixtureManifest, markers: Markers): string {
  const data = structuredClone(source.data) as ManifestView;
  const dir = tempDir('recorders');
  for (const tool of ['sh', 'nsenter', 'ldconfig'] as const) {
    const real = data.tools[tool];
    const file = path.join(dir, tool);
    // tr prints the environment dash was given and exports (dash adds PWD; the tests allow that).
    // /proc/self, not /proc/$$, and a unique marker name, not one by $$: a createContainer hook runs
    // in the container's pid namespace (the same small pid every start) while /proc is still the
    // host's (before pivot_root), where $$ names another process.
    writeFileSync(file, `#!/bin/dash\n/usr/bin/tr '\\0' '\\n' </proc/self/environ >"$(/usr/bin/mktemp '${markers.dir}/env-${tool}-XXXXXXXX')"\nexec '${real}' "$@"\n`);
    chmodSync(file, 0o755);
    data.tools[tool] = file;
  }
  const file = path.join(tempDir('manifest-recording'), 'manifest.json');
  writeFileSync(file, JSON.stringify(data));
  return file;
}

/**
 * A manifest like `source` with every container path under `from` moved under `to` (library
 * folders included): the same driver laid out as another distribution would.
 */
export function relocatedManifest(source: FixtureManifest, from: string, to: string): string {
  const move = (v: unknown): unknown => {
    if (typeof v === 'string') return v === from || v.startsWith(`${from}/`) ? to + v.slice(from.length) : v;
    if (Array.isArray(v)) return v.map(move);
    if (v && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, k === 'hostPath' || k === 'root' || k === 'source' ? x : move(x)]));
    }
    return v;
  };
  const data = move(source.data) as ManifestView;
  data.tools = source.data.tools;
  const file = path.join(tempDir('manifest-relocated'), 'manifest.json');
  writeFileSync(file, JSON.stringify(data));
  return file;
}

/** Runs at most `n` of the functions it is given at once (container starts share one machine). */
export function limiter(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    while (active >= n) await new Promise<void>((r) => waiting.push(r));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

// ------------------------------------------------------------------------ one start, any path

/**
 * How a container gets its GPUs: `precreate` = Podman + our hooks.d entries (the runtime does the
 * mounts, our createRuntime step the ld cache); `wrapper` = oci-gpu-runtime on a bare bundle;
 * `legacy` = a bare bundle whose hooks.createRuntime is `oci-gpu-hook createRuntime` (the hook
 * creates targets and mounts itself); `cdi` = a bare bundle edited as a CDI-aware engine would from
 * buildCdiSpec (the runtime mounts, `oci-gpu-hook ldcache` refreshes the cache).
 */
export type StartPath = 'precreate' | 'wrapper' | 'legacy' | 'cdi';
export const START_PATHS: readonly StartPath[] = ['precreate', 'wrapper', 'legacy', 'cdi'];

/** Every start path needs podman's prerequisites (root, runc, crun, the test rootfs and image). */
export const PODMAN_GATE: Gate = podmanTests();
/** The legacy stage allows devices through devices.allow: a cgroup v1 host only (on v2 it refuses). */
export const LEGACY_GATE: Gate = podmanTests(CGROUP_V1);
/** The gate of a start path's tests: its `test`, `serial` and the `why` its titles end with. */
export function gateOf(p: StartPath): Gate {
  return p === 'legacy' ? LEGACY_GATE : PODMAN_GATE;
}

export interface StartOptions {
  path: StartPath;
  runtime: Runtime;
  /** The manifest file the hook reads. */
  manifest: string;
  /** Changes to this start's private copy of the test rootfs. */
  edits?: readonly RootfsEdit[];
  /** Default { 'oci-gpu/devices': 'all' } (the cdi path applies every GPU's edits). */
  annotations?: Record<string, string>;
  /** The container's environment (added to the runtime's defaults; PATH replaces the default). */
  env?: Record<string, string>;
  readOnly?: boolean;
  /** Default: PROBE, then `echo RAN`. */
  script?: string;
  /** More arguments for the hook binary (e.g. --debug). */
  hookArgs?: string[];
  timeoutMs?: number;
  /** A control start: the same runtime and rootfs without any GPU (no annotation, hook or CDI edits). */
  noGpu?: boolean;
}

export interface Started {
  r: RunResult;
  /** The rootfs the container ran on (a private copy). */
  rootfs: string;
  /** The bundle's config.json (bare-bundle paths) before and after the start. */
  configBefore?: Buffer;
  configAfter?: Buffer;
  /** What the hook wrote on stderr (precreate, legacy, cdi: through a wrapper; wrapper: the runtime's own stderr). */
  hookErr: string;
  /** True when the container's command ran. */
  ran: boolean;
  probe: ProbeResult;
  /** "exit N", command, stdout, stderr and the hook's stderr, for messages. */
  ctx: string;
}

let seq = 0;

/** A sh wrapper for the hook binary that appends its stderr to `<dir>/hook-stderr` (runc and crun do not show it all). */
function hookWrapper(): { path: string; stderr: () => string } {
  const dir = tempDir('hookwrap');
  const file = path.join(dir, 'hook');
  writeFileSync(file, `#!/bin/sh\nexec '${HOOK_BIN}' "$@" 2>>'${dir}/hook-stderr'\n`);
  chmodSync(file, 0o755);
  return { path: file, stderr: () => (existsSync(path.join(dir, 'hook-stderr')) ? readFileSync(path.join(dir, 'hook-stderr'), 'utf8') : '') };
}

interface CdiSpecView {
  containerEdits: CdiEdits;
  devices: { name: string; containerEdits: CdiEdits }[];
}
interface CdiEdits {
  env?: string[];
  deviceNodes?: { path: string; type?: string; major: number; minor: number; fileMode?: number }[];
  mounts?: { hostPath: string; containerPath: string; options?: string[] }[];
  hooks?: { hookName: string; path: string; args?: string[]; env?: string[] }[];
}

/** Edits a bundle config as a CDI-aware engine applies a spec's shared and device edits. */
export function applyCdiEdits(config: Record<string, any>, edits: CdiEdits[]): void {
  config.linux.devices ??= [];
  for (const e of edits) {
    for (const d of e.deviceNodes ?? []) {
      config.linux.devices.push({ path: d.path, type: d.type ?? 'c', major: d.major, minor: d.minor, ...(d.fileMode ? { fileMode: d.fileMode } : {}) });
      config.linux.resources.devices.push({ allow: true, type: d.type ?? 'c', major: d.major, minor: d.minor, access: 'rwm' });
    }
    for (const m of e.mounts ?? []) config.mounts.push({ destination: m.containerPath, type: 'bind', source: m.hostPath, options: m.options ?? ['ro', 'bind'] });
    for (const h of e.hooks ?? []) ((config.hooks ??= {})[h.hookName] ??= []).push({ path: h.path, args: h.args, env: h.env });
  }
}

/** The CDI spec for a manifest file. */
export function cdiSpecOf(manifestFile: string): CdiSpecView {
  const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as Manifest;
  return buildCdiSpec(manifest) as unknown as CdiSpecView;
}

/** Starts one container on a private hostile rootfs by the given path; never throws for a failing start. */
export async function startContainer(o: StartOptions): Promise<Started> {
  const script = o.script ?? `${PROBE}\necho RAN`;
  const annotations = o.noGpu ? {} : (o.annotations ?? { 'oci-gpu/devices': 'all' });
  const envList = Object.entries(o.env ?? {}).map(([k, v]) => `${k}=${v}`);
  const timeout = o.timeoutMs ?? 90_000;
  let r: RunResult;
  let rootfs: string;
  let hookErr: () => string;
  let configBefore: Buffer | undefined;
  let config: string | undefined;
  if (o.path === 'precreate') {
    rootfs = hostileRootfs(o.edits ?? []);
    const hooks = await writeHooksDir({ manifest: o.manifest, wrap: true, ...(o.hookArgs ? { extraArgs: o.hookArgs } : {}) });
    hookErr = hooks.stderr;
    r = await podmanRun({
      runtime: o.runtime,
      hooksDir: hooks.dir,
      rootfs,
      annotations,
      env: o.env ?? {},
      readOnly: o.readOnly ?? false,
      args: ['sh', '-c', script],
      timeout,
    });
  } else {
    const wrap = hookWrapper();
    hookErr = wrap.stderr;
    const legacyHook = { path: wrap.path, args: ['oci-gpu-hook', 'createRuntime', '--manifest', o.manifest, ...(o.hookArgs ?? [])], env: MINIMAL_ENV, timeout: 30 };
    const b = await makeBundle(o.runtime, {
      args: ['sh', '-c', script],
      ...(o.path === 'cdi' ? {} : { annotations }),
      readonly: o.readOnly ?? false,
      ...(o.path === 'legacy' && !o.noGpu ? { hooks: { createRuntime: [legacyHook] } } : {}),
      edit: (c) => {
        // PATH replaces the spec's default; other variables are added.
        const env = (c.process.env as string[]).filter((e) => !(o.env && Object.hasOwn(o.env, e.slice(0, e.indexOf('=')))));
        c.process.env = [...env, ...envList];
        if (o.path === 'cdi' && !o.noGpu) {
          const spec = cdiSpecOf(o.manifest);
          const all = spec.devices.find((d) => d.name === 'all');
          applyCdiEdits(c, [spec.containerEdits, ...(all ? [all.containerEdits] : [])]);
        }
      },
    });
    rootfs = path.join(b.dir, 'rootfs');
    editRootfs(rootfs, o.edits ?? []);
    config = b.config;
    configBefore = readFileSync(b.config);
    const id = `oci-gpu-sec-${o.runtime}-${process.pid}-${++seq}`;
    if (o.path === 'wrapper' && !o.noGpu) {
      r = await run(RUNTIME_BIN, ['--runtime', RUNTIME_PATHS[o.runtime], '--manifest', o.manifest, '--root', b.stateRoot, 'run', '--bundle', b.dir, id], { timeout });
      const own = r.stderr;
      hookErr = () => own.split('\n').filter((l) => l.startsWith('oci-gpu-runtime:')).join('\n');
    } else {
      r = await run(RUNTIME_PATHS[o.runtime], ['--root', b.stateRoot, 'run', '--bundle', b.dir, id], { timeout });
      if (o.path === 'cdi') {
        // The CDI spec's post-mount step is sh + awk, run by the runtime: its lines are in the runtime's stderr.
        const own = r.stderr;
        hookErr = () => own.split('\n').filter((l) => l.includes('oci-gpu:')).join('\n');
      }
    }
    // A failed `run` can leave a created container behind in its private state folder.
    await run(RUNTIME_PATHS[o.runtime], ['--root', b.stateRoot, 'delete', '--force', id]);
  }
  const err = hookErr();
  return {
    r,
    rootfs,
    ...(configBefore ? { configBefore, configAfter: readFileSync(config!) } : {}),
    hookErr: err,
    ran: /^RAN$/m.test(r.stdout) || /^--- ldconfig$/m.test(r.stdout),
    probe: parseProbe(r.stdout),
    ctx: `${o.path}/${o.runtime}: ${show(r)}\nhook stderr: ${err}`,
  };
}

/** True when the container saw its GPU working: nvidia-smi ran and loaded libnvidia-ml.so.1 through the ld cache. */
export function gpuWorks(s: Started): boolean {
  return s.r.exitCode === 0 && s.probe.smiExit === 0 && s.probe.ldcache.has('libnvidia-ml.so.1') && /^Driver Version: /m.test(s.probe.smi);
}
