// Shared setup of the integration tests: the shipped binary (build/oci-gpu, Bun-compiled, built once
// per change of its sources, under a lock so parallel ava workers never build it twice; the hook
// and the runtime wrapper are its links), fixture hosts with their manifests, temp hooks.d folders
// made from the repository's hooks.d/*.json, bare OCI bundles for runc/crun, and the probe a
// container runs.
import type { ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { chmodSync, closeSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildFixtureHost, type FixtureHostName } from '../../scripts/fixture-host.js';
import { REPO_ROOT } from './paths.js';
import { cliBinary, hookBinary } from './binary.js';
export { CLI_BIN, cliBinary, HOOK_BIN, hookBinary, RUNTIME_BIN, runtimeBinary } from './binary.js';
import { run, TEST_ROOTFS, type RunResult, type Runtime } from './podman.js';

export const HOOKS_D = path.join(REPO_ROOT, 'hooks.d');
export const RUNTIME_PATHS: Record<Runtime, string> = { runc: '/usr/sbin/runc', crun: '/usr/bin/crun' };
/** The minimal environment our hooks.d entries give the hook. */
export const HOOK_PATH_ENV = 'PATH=/usr/sbin:/usr/bin:/sbin:/bin';

// ------------------------------------------------------------------------------------ temp folders

/** Every temp folder this process made; removed when it exits (tests may also remove theirs). */
const temps: string[] = [];
process.on('exit', () => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

/** A fresh temp folder (0755: hooks and runtimes running as root read it), removed at exit. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `oci-gpu-${prefix}-`));
  chmodSync(dir, 0o755);
  temps.push(dir);
  return dir;
}

/** What runBytes gives back: stdout as bytes, for byte-for-byte comparisons. */
export interface BytesResult {
  code: number;
  out: Buffer;
  err: string;
  signal: NodeJS.Signals | null;
}

/**
 * Runs the binary with `input` on stdin from a file, as Go and C runtimes give it (a blocking
 * descriptor): a Node pipe can be non-blocking and empty when the hook reads it (see the stdin test
 * in hook-podman.test.ts). A clean minimal environment.
 */
export function runBytes(bin: string, args: string[], input: string | Buffer, timeoutMs = 30_000): Promise<BytesResult> {
  const file = path.join(tempDir('stdin'), 'stdin');
  writeFileSync(file, input);
  const fd = openSync(file, 'r');
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: [fd, 'pipe', 'pipe'], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }, timeout: timeoutMs });
    closeSync(fd);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? -1, out: Buffer.concat(out), err: Buffer.concat(err).toString('utf8'), signal }));
  });
}

/** runBytes with podman.ts's result shape (stdout as text), for assertion messages with show(). */
export async function runBinary(bin: string, args: string[], input: string, timeoutMs = 30_000): Promise<RunResult> {
  const r = await runBytes(bin, args, input, timeoutMs);
  return {
    exitCode: r.code,
    stdout: r.out.toString('utf8'),
    stderr: r.err,
    timedOut: r.signal === 'SIGTERM',
    signal: r.signal ?? undefined,
    command: [bin, ...args].join(' ') + ' <stdin-file',
  };
}

// ------------------------------------------------------------------------ fixture hosts, manifests

export interface FixtureManifest {
  /** The built host tree. */
  root: string;
  /** The manifest file `oci-gpu scan --root` wrote for it. */
  file: string;
  /** Its parsed content. */
  data: ManifestView;
}

/** The part of the manifest the tests look at. */
export interface ManifestView {
  driver: { version: string } | null;
  gpus: { index: number; uuid: string; pciBusId: string; minor: number }[];
  libraryDirs: string[];
  tools: { ldconfig: string; nsenter: string; sh: string; awk: string };
  [key: string]: unknown;
}

const manifests = new Map<FixtureHostName, Promise<FixtureManifest>>();

/** Builds (or reuses) a fixture host and writes its manifest with the CLI (`oci-gpu scan --root --output`), once per process. */
export function fixtureManifest(name: FixtureHostName): Promise<FixtureManifest> {
  let p = manifests.get(name);
  if (!p) {
    p = (async () => {
      const root = buildFixtureHost(name);
      const file = path.join(tempDir(`manifest-${name}`), 'manifest.json');
      const r = await run(await cliBinary(), ['scan', '--root', root, '--output', file], { timeout: 60_000 });
      if (r.exitCode !== 0 || !existsSync(file)) throw new Error(`oci-gpu scan --root ${root} failed: ${show(r)}`);
      return { root, file, data: JSON.parse(readFileSync(file, 'utf8')) as ManifestView };
    })();
    manifests.set(name, p);
  }
  return p;
}

/** Writes a copy of a manifest with some of it changed (e.g. another driver version); returns its path. */
export function editedManifest(source: FixtureManifest, edit: (m: ManifestView) => void): string {
  const data = structuredClone(source.data);
  edit(data);
  const file = path.join(tempDir('manifest-edited'), 'manifest.json');
  writeFileSync(file, JSON.stringify(data));
  return file;
}

// ------------------------------------------------------------------------------------- hooks.d

export interface HooksDEntry {
  version: string;
  hook: { path: string; args?: string[]; env?: string[]; timeout?: number };
  when: { always?: boolean; annotations?: Record<string, string>; commands?: string[]; hasBindMounts?: boolean };
  stages: string[];
}

/** The repository's hooks.d/*.json entries by file name. */
export function repoHooksD(): Map<string, HooksDEntry> {
  const out = new Map<string, HooksDEntry>();
  for (const f of readdirSync(HOOKS_D).sort()) {
    if (f.endsWith('.json')) out.set(f, JSON.parse(readFileSync(path.join(HOOKS_D, f), 'utf8')) as HooksDEntry);
  }
  return out;
}

export interface HooksDirOptions {
  /** The manifest the hook reads (added as --manifest to the entries' args). */
  manifest: string;
  /** Which hooks.d files (default: every one but the opt-in oci-gpu-nvidia-env.json). */
  files?: string[];
  /** Replace each entry's stages (e.g. ['createRuntime'] for the legacy stage); the stage argument follows. */
  stage?: 'precreate' | 'createRuntime' | 'prestart';
  /** Run the binary through a sh wrapper that appends each run to `<dir>/runs.log` and its stderr to `<dir>/stderr.log`. */
  wrap?: boolean;
  /** More entries, written as they are (capture hooks). */
  extra?: Record<string, HooksDEntry>;
  /** More arguments for the hook (e.g. --debug). */
  extraArgs?: string[];
}

export interface HooksDir {
  dir: string;
  /** Lines the wrapper logged, one per run (`wrap` only). */
  runs(): string[];
  /** What the hook wrote on stderr (`wrap` only). */
  stderr(): string;
}

function readOr(file: string, fallback: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
}

/** A temp hooks dir made from hooks.d/*.json: hook.path is this build's binary, args get --manifest. */
export async function writeHooksDir(o: HooksDirOptions): Promise<HooksDir> {
  const bin = await hookBinary();
  const dir = tempDir('hooks');
  const hooksDir = path.join(dir, 'hooks.d');
  mkdirSync(hooksDir);
  const entries = repoHooksD();
  const files = o.files ?? [...entries.keys()].filter((f) => f !== 'oci-gpu-nvidia-env.json');
  let hookPath = bin;
  if (o.wrap) {
    hookPath = path.join(dir, 'wrap-hook.sh');
    writeFileSync(
      hookPath,
      `#!/bin/sh\necho "$*" >>'${dir}/runs.log'\nexec '${bin}' "$@" 2>>'${dir}/stderr.log'\n`,
    );
    chmodSync(hookPath, 0o755);
  }
  for (const f of files) {
    const entry = entries.get(f);
    if (!entry) throw new Error(`hooks.d/${f} does not exist`);
    const e = structuredClone(entry);
    e.hook.path = hookPath;
    const args = e.hook.args ?? ['oci-gpu-hook', 'precreate'];
    if (o.stage) {
      e.stages = [o.stage];
      args[1] = o.stage;
    }
    e.hook.args = [...args, '--manifest', o.manifest, ...(o.extraArgs ?? [])];
    writeFileSync(path.join(hooksDir, f), JSON.stringify(e, null, 2));
  }
  for (const [name, entry] of Object.entries(o.extra ?? {})) writeFileSync(path.join(hooksDir, name), JSON.stringify(entry, null, 2));
  return {
    dir: hooksDir,
    runs: () => readOr(path.join(dir, 'runs.log'), '').split('\n').filter(Boolean),
    stderr: () => readOr(path.join(dir, 'stderr.log'), ''),
  };
}

export interface Capture {
  /** A hooks.d entry (stage createRuntime by default) that copies the bundle's config.json and its state. */
  entry: HooksDEntry;
  /** The config.json the runtime got, or undefined when the hook did not run. */
  config(): Record<string, unknown> | undefined;
  state(): Record<string, unknown> | undefined;
}

/**
 * A hooks.d entry that records the config the runtime actually got: a later-stage hook (after
 * precreate) that copies `<bundle>/config.json` from the state on stdin. Triggers on every
 * container unless `when` is given.
 */
export function captureHook(when: HooksDEntry['when'] = { always: true }, stage = 'createRuntime'): Capture {
  const dir = tempDir('capture');
  const script = path.join(dir, 'capture.sh');
  writeFileSync(
    script,
    [
      '#!/bin/sh',
      'set -eu',
      `d='${dir}'`,
      'cat >"$d/state.json"',
      // the bundle path is a plain absolute path; the state is one line of JSON
      `b=$(sed -n 's/.*"bundle"[[:space:]]*:[[:space:]]*"\\([^"]*\\)".*/\\1/p' "$d/state.json")`,
      'cp "$b/config.json" "$d/config.json"',
      '',
    ].join('\n'),
  );
  chmodSync(script, 0o755);
  const read = (f: string) => {
    const p = path.join(dir, f);
    return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>) : undefined;
  };
  return {
    entry: { version: '1.0.0', hook: { path: script, args: ['capture.sh'], env: [HOOK_PATH_ENV], timeout: 10 }, when, stages: [stage] },
    config: () => read('config.json'),
    state: () => read('state.json'),
  };
}

// ---------------------------------------------------------------------------- bare OCI bundles

export interface Bundle {
  dir: string;
  config: string;
  /** The runtime's own state folder (`--root`), so tests never see each other's containers. */
  stateRoot: string;
  /** A host folder bind-mounted at /out in the container. */
  out: string;
}

export interface BundleOptions {
  /** process.args */
  args: string[];
  annotations?: Record<string, string>;
  env?: string[];
  /** root.readonly (runc spec's default is true). */
  readonly?: boolean;
  /** Extra top-level hooks, e.g. { createRuntime: [...] }. */
  hooks?: Record<string, unknown[]>;
  /** Change the config before it is written. */
  edit?: (config: Record<string, any>) => void;
}

/**
 * A bare bundle: a copy of the test rootfs (8 MB, so mount targets the runtime creates never touch
 * the shared tree), config.json from `<runtime> spec` with terminal off, the given args/annotations,
 * and /out bind-mounted from a host temp folder.
 */
export async function makeBundle(runtime: Runtime, o: BundleOptions): Promise<Bundle> {
  const dir = tempDir(`bundle-${runtime}`);
  cpSync(TEST_ROOTFS, path.join(dir, 'rootfs'), { recursive: true, verbatimSymlinks: true });
  const spec = await run(RUNTIME_PATHS[runtime], ['spec'], { cwd: dir });
  if (spec.exitCode !== 0) throw new Error(`${runtime} spec failed: ${show(spec)}`);
  const file = path.join(dir, 'config.json');
  const config = JSON.parse(readFileSync(file, 'utf8')) as Record<string, any>;
  const out = path.join(dir, 'out');
  mkdirSync(out);
  config.process.terminal = false;
  config.process.args = o.args;
  config.process.env = [...config.process.env, ...(o.env ?? [])];
  config.root.readonly = o.readonly ?? true;
  if (o.annotations) config.annotations = o.annotations;
  if (o.hooks) config.hooks = o.hooks;
  config.mounts.push({ destination: '/out', type: 'bind', source: out, options: ['rbind', 'rw'] });
  o.edit?.(config);
  writeFileSync(file, JSON.stringify(config, null, '\t') + '\n');
  const stateRoot = path.join(dir, 'state');
  mkdirSync(stateRoot);
  return { dir, config: file, stateRoot, out };
}

// ----------------------------------------------------------------------------------- the probe

/**
 * What a GPU container runs: each /dev/nvidia* char node (and those of /dev/nvidia-caps and
 * /dev/nvidia-caps-imex-channels: MIG capabilities, IMEX channels) with major:minor (hex, as stat prints them)
 * and what opening it read-write gave (ENXIO = the cgroup allows it, no driver behind it; EPERM =
 * denied), the container's ld cache, then the fixture's fake nvidia-smi (found through PATH, loads
 * libnvidia-ml.so.1 through the ld cache).
 */
export const PROBE = [
  'for f in /dev/nvidia* /dev/nvidia-caps/* /dev/nvidia-caps-imex-channels/*; do',
  '  [ -c "$f" ] || continue',
  // MIG capability nodes are read-only (0444) and are opened read-only, as the driver's users do.
  '  case $f in /dev/nvidia-caps/*) e=$( { : <"$f"; } 2>&1 ) ;; *) e=$( { : <>"$f"; } 2>&1 ) ;; esac && e=ok',
  `  echo "node $f $(stat -c '%t:%T' "$f") \${e##*: }"`,
  'done',
  'echo "--- ldconfig"; ldconfig -p',
  'echo "--- smi"; nvidia-smi; echo "smi-exit $?"',
].join('\n');

export interface ProbeResult {
  /** path -> { dev "major:minor" (decimal), open: "ok" | strerror } */
  nodes: Map<string, { dev: string; open: string }>;
  /** sonames in `ldconfig -p` */
  ldcache: Set<string>;
  /** `ldconfig -p` lines as printed */
  ldcacheLines: string[];
  smi: string;
  smiExit: number | undefined;
}

export function parseProbe(stdout: string): ProbeResult {
  const nodes = new Map<string, { dev: string; open: string }>();
  const ldcache = new Set<string>();
  const ldcacheLines: string[] = [];
  let section = 'nodes';
  const smi: string[] = [];
  let smiExit: number | undefined;
  for (const line of stdout.split('\n')) {
    if (line === '--- ldconfig') section = 'ld';
    else if (line === '--- smi') section = 'smi';
    else if (section === 'nodes') {
      const m = /^node (\S+) ([0-9a-f]+):([0-9a-f]+) (.*)$/.exec(line);
      if (m) nodes.set(m[1]!, { dev: `${parseInt(m[2]!, 16)}:${parseInt(m[3]!, 16)}`, open: m[4]! });
    } else if (section === 'ld') {
      const m = /^\s+(\S+) \(/.exec(line);
      if (m) {
        ldcache.add(m[1]!);
        ldcacheLines.push(line.trim());
      }
    } else {
      const m = /^smi-exit (\d+)$/.exec(line);
      if (m) smiExit = Number(m[1]);
      else smi.push(line);
    }
  }
  return { nodes, ldcache, ldcacheLines, smi: smi.join('\n'), smiExit };
}

export const ENXIO = 'No such device or address';
export const EPERM = 'Operation not permitted';

/** "exit N" + the command + stdout/stderr, for assertion messages. */
export function show(r: RunResult): string {
  return `exit ${r.exitCode}${r.timedOut ? ' (timed out)' : ''}\n$ ${r.command}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

/** Paths of the nvidia nodes in a config's linux.devices. */
export function configDevices(config: Record<string, any> | undefined): string[] {
  return ((config?.linux?.devices ?? []) as { path: string }[]).map((d) => d.path).filter((p) => p.startsWith('/dev/nvidia')).sort();
}

/** Destinations of a config's mounts. */
export function configMounts(config: Record<string, any> | undefined): string[] {
  return ((config?.mounts ?? []) as { destination: string }[]).map((m) => m.destination);
}

/**
 * Asserts what a GPU container's probe must show: exactly the asked GPU nodes with their numbers,
 * the control and uvm nodes, every node opening with ENXIO (the device cgroup allowed it), libcuda and
 * libnvidia-ml in the ld cache from `libDir`, and the fake nvidia-smi loading libnvidia-ml from there.
 */
export function assertProbe(t: ExecutionContext, probe: ProbeResult, ctx: string, want: { gpus: number[]; libDir: string; driver: string }): void {
  const gpuNodes = [...probe.nodes.keys()].filter((p) => /^\/dev\/nvidia\d+$/.test(p)).sort();
  t.deepEqual(gpuNodes, want.gpus.map((n) => `/dev/nvidia${n}`), ctx);
  for (const n of want.gpus) t.is(probe.nodes.get(`/dev/nvidia${n}`)?.dev, `195:${n}`, ctx);
  t.true(probe.nodes.has('/dev/nvidiactl'), ctx);
  t.true(probe.nodes.has('/dev/nvidia-uvm'), ctx);
  // ENXIO, not EPERM: the hook's devices.allow lines reached the container's devices cgroup.
  for (const [p, n] of probe.nodes) t.is(n.open, ENXIO, `open ${p}\n${ctx}`);
  for (const s of ['libcuda.so.1', 'libnvidia-ml.so.1']) t.true(probe.ldcacheLines.some((l) => l.startsWith(`${s} (libc6,x86-64) => ${want.libDir}/`)), `${s}\n${ctx}`);
  t.is(probe.smiExit, 0, ctx);
  t.regex(probe.smi, new RegExp(`^Driver Version: ${want.driver.replace(/\./g, '\\.')}$`, 'm'), ctx);
  t.regex(probe.smi, new RegExp(`^NVML library: ${want.libDir}/libnvidia-ml\\.so\\.1$`, 'm'), ctx);
}
