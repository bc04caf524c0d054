/**
 * fixture-host — builds simulated GPU host trees ("fixture hosts") from real files.
 *
 * Each host lives in test/fixtures/hosts/<name>/:
 *   README.md   what it models, its traps
 *   tree/       checked-in text files, copied as they are (proc/sys files, etc/, JSON, scripts, placeholders)
 *   host.json   what git cannot hold: gcc-built ELF libraries with sonames and their symlink chains,
 *               gcc-built executables, symlinks, char device nodes, unix sockets, fifos, empty dirs,
 *               copies of this machine's tools, modes, and how to generate etc/ld.so.cache.
 * Shared C sources are in test/fixtures/hosts/_src/.
 *
 * A build lands in node_modules/.cache/oci-gpu-fixture-hosts/<name>-<hash> ($OCI_GPU_FIXTURE_BUILD_DIR overrides;
 * not test/fixtures/.build: see BUILD_SUBDIR); <hash> covers the host folder, _src/,
 * this builder and the copied host tools, so a change rebuilds and an unchanged host is reused. Builds go
 * into a temp dir next to it and are renamed into place atomically: two processes building at once both
 * succeed, one of the two trees wins, the other is thrown away.
 *
 * CLI: node dist/scripts/fixture-host.js <name> [DEST]   — prints the path of the built (or copied) tree.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type FixtureHostName = 'h200' | 'rhel-2gpu' | 'no-driver' | 'a100-mig' | 'gb200-imex';
export const FIXTURE_HOST_NAMES: readonly FixtureHostName[] = ['h200', 'rhel-2gpu', 'no-driver', 'a100-mig', 'gb200-imex'];

/** A fake driver library: a real ELF shared object built by gcc from _src/fakelib.c. */
export interface LibrarySpec {
  /** Absolute path in the tree of the real file, e.g. /usr/local/nvidia/lib64/libcuda.so.580.159.04. */
  path: string;
  /** DT_SONAME written into the ELF; leave it out for a library without one (an Xorg module). */
  soname?: string;
  /** Symlink chain in the same directory: links[0] -> basename(path), links[i] -> links[i-1]. */
  links?: string[];
  /** x86_64 (default) or i386 (gcc -m32). */
  arch?: 'x86_64' | 'i386';
  /** Also export fake_nvml_driver_version() returning this string (the fake libnvidia-ml). */
  nvml?: string;
  /**
   * The fake NVML's MIG devices, for its nvmlDevice* MIG calls: "<bus id>=<uuid>|<gi>|<ci>|<name>"
   * entries separated by ";" (several per bus id, in enumeration order); GPUs not named have none.
   */
  nvmlMig?: string;
  /** Build with -nostdlib (no DT_NEEDED libc.so.6), for fakes of glibc's own libraries. */
  nostdlib?: boolean;
}

/** A gcc-built executable. */
export interface ExecutableSpec {
  path: string;
  /** C source, relative to test/fixtures/hosts/. */
  source: string;
  /** -D definitions; string values become C string literals. */
  defines?: Record<string, string>;
  /** Tree paths of libraries to link against: -L<dir> -l:<basename>, never an rpath. */
  linkLibs?: string[];
  arch?: 'x86_64' | 'i386';
}

export interface HostSpec {
  description: string;
  dirs?: { path: string; mode?: string }[];
  libraries?: LibrarySpec[];
  executables?: ExecutableSpec[];
  /** Copies of this machine's files (dereferenced), e.g. the static ldconfig, nsenter, dash. */
  copies?: { path: string; from: string; mode?: string }[];
  symlinks?: { path: string; target: string }[];
  devices?: { path: string; type: 'c' | 'b'; major: number; minor: number; mode: string }[];
  sockets?: { path: string; mode?: string }[];
  fifos?: { path: string; mode?: string }[];
  modes?: { path: string; mode: string }[];
  /** etc/ld.so.cache generation: `<tool> -X -r TREE [dirs...]` (tool: a tree path, or this machine's ldconfig). */
  ldconfig?: { tool?: string; dirs?: string[] };
}

export interface BuildOptions {
  /** Put the host here (created; must be absent or empty) instead of returning the cached build. */
  dest?: string;
}

const HOST_SUBDIR = path.join('test', 'fixtures', 'hosts');
/*
 * Not under test/: ava looks for test files under test/ following symlinks, and a host tree is full of them (sysfs
 * device <-> driver cycles, absolute links such as /usr/local/cuda -> /etc/alternatives/cuda): a tree there
 * made every ava run hang in its file search. node_modules/ is skipped by every tool that globs.
 */
const BUILD_SUBDIR = path.join('node_modules', '.cache', 'oci-gpu-fixture-hosts');

class FixtureHostError extends Error {
  constructor(message: string) {
    super(`fixture-host: ${message.replace(/\s*\n\s*/g, ' | ')}`);
    this.name = 'FixtureHostError';
  }
}

function thisFile(): string {
  return fileURLToPath(import.meta.url);
}

/** The repository root: the first ancestor of this module that holds test/fixtures/hosts. */
export function repoRoot(): string {
  let dir = path.dirname(thisFile());
  for (;;) {
    if (fs.existsSync(path.join(dir, HOST_SUBDIR))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new FixtureHostError(`cannot find ${HOST_SUBDIR} above ${path.dirname(thisFile())}`);
    dir = up;
  }
}

/** Where builds are cached: node_modules/.cache/oci-gpu-fixture-hosts, or $OCI_GPU_FIXTURE_BUILD_DIR. */
export function fixtureBuildDir(): string {
  const env = process.env['OCI_GPU_FIXTURE_BUILD_DIR'];
  return env ? path.resolve(env) : path.join(repoRoot(), BUILD_SUBDIR);
}

function hostsDir(): string {
  return path.join(repoRoot(), HOST_SUBDIR);
}

function assertName(name: string): asserts name is FixtureHostName {
  if (!(FIXTURE_HOST_NAMES as readonly string[]).includes(name)) {
    throw new FixtureHostError(`unknown host "${name}" (known: ${FIXTURE_HOST_NAMES.join(', ')})`);
  }
}

export function readHostSpec(name: FixtureHostName): HostSpec {
  const file = path.join(hostsDir(), name, 'host.json');
  let spec: HostSpec;
  try {
    spec = JSON.parse(fs.readFileSync(file, 'utf8')) as HostSpec;
  } catch (e) {
    throw new FixtureHostError(`cannot read ${file}: ${(e as Error).message}`);
  }
  if (typeof spec !== 'object' || spec === null || typeof spec.description !== 'string') {
    throw new FixtureHostError(`${file}: not a host spec (needs "description")`);
  }
  return spec;
}

// ---------------------------------------------------------------------------------------------- hashing

function hashTree(h: crypto.Hash, root: string, rel = ''): void {
  const dir = path.join(root, rel);
  for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const r = path.join(rel, entry.name);
    const full = path.join(root, r);
    if (entry.isDirectory()) {
      h.update(`d ${r}\0`);
      hashTree(h, root, r);
    } else if (entry.isSymbolicLink()) {
      h.update(`l ${r} ${fs.readlinkSync(full)}\0`);
    } else if (entry.isFile()) {
      if (entry.name.endsWith('.md')) continue; // documentation does not change the tree
      const st = fs.statSync(full);
      h.update(`f ${r} ${st.mode & 0o111 ? 'x' : '-'} ${st.size}\0`);
      h.update(fs.readFileSync(full));
    }
  }
}

/** The cache key of a host: its folder, _src/, this builder's code and the host tools it copies. */
export function fixtureHostHash(name: FixtureHostName): string {
  const hosts = hostsDir();
  const h = crypto.createHash('sha256');
  h.update('fixture-host v1\0');
  h.update(fs.readFileSync(thisFile()));
  hashTree(h, path.join(hosts, '_src'));
  h.update('\0host\0');
  hashTree(h, path.join(hosts, name));
  for (const c of readHostSpec(name).copies ?? []) {
    try {
      const st = fs.statSync(c.from);
      h.update(`copy ${c.from} ${st.size} ${st.mtimeMs}\0`);
    } catch {
      h.update(`copy ${c.from} missing\0`);
    }
  }
  return h.digest('hex').slice(0, 12);
}

// -------------------------------------------------------------------------------------------- tree paths

/**
 * TREE + an absolute tree path, refusing any existing ancestor that is a symlink: host.json paths are
 * canonical, and an absolute symlink in the tree (/usr/local/cuda -> /etc/alternatives/cuda) must never
 * let the builder write onto this machine.
 */
function inTree(root: string, p: string): string {
  if (!p.startsWith('/') || p.split('/').includes('..')) throw new FixtureHostError(`bad tree path "${p}"`);
  const parts = p.split('/').filter(Boolean);
  let cur = root;
  for (const part of parts.slice(0, -1)) {
    cur = path.join(cur, part);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(cur);
    } catch {
      break; // does not exist yet: nothing below it exists either
    }
    if (st.isSymbolicLink()) throw new FixtureHostError(`tree path "${p}" goes through the symlink ${path.relative(root, cur)}`);
  }
  return path.join(root, ...parts);
}

function mkdirFor(file: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
}

/** Resolves a tree path inside the tree, following symlinks (absolute ones from the tree root), like chroot. */
export function resolveInTree(root: string, p: string): string | undefined {
  const todo = p.split('/').filter(Boolean);
  const done: string[] = [];
  let hops = 0;
  while (todo.length > 0) {
    const part = todo.shift() as string;
    if (part === '.') continue;
    if (part === '..') {
      done.pop();
      continue;
    }
    const full = path.join(root, ...done, part);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(full);
    } catch {
      return undefined;
    }
    if (st.isSymbolicLink()) {
      if (++hops > 40) return undefined;
      const target = fs.readlinkSync(full);
      if (target.startsWith('/')) done.length = 0;
      todo.unshift(...target.split('/').filter(Boolean));
    } else {
      done.push(part);
    }
  }
  return path.join(root, ...done);
}

// ------------------------------------------------------------------------------------------------ tools

function run(cmd: string, args: string[], what: string, opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env, ...(opts.cwd ? { cwd: opts.cwd } : {}) });
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; message: string; code?: string };
    if (err.code === 'ENOENT') throw new FixtureHostError(`${what}: ${cmd} not found`);
    const detail = (err.stderr || err.stdout || err.message).trim().split('\n').slice(-3).join(' | ');
    throw new FixtureHostError(`${what} failed: ${detail}`);
  }
}

function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Runs commands (argv arrays) up to N at a time; fails with the first failure's stderr. */
function runParallel(commands: string[][], what: string): void {
  if (commands.length === 0) return;
  const jobs = Math.max(1, Math.min(os.availableParallelism?.() ?? os.cpus().length, 8));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fixture-host-jobs-'));
  try {
    const lines = commands.map((argv, i) => {
      const f = (ext: string) => shQuote(path.join(dir, `${i}.${ext}`));
      return `${argv.map(shQuote).join(' ')} >${f('err')} 2>&1; echo $? >${f('rc')}`;
    });
    fs.writeFileSync(path.join(dir, 'jobs'), lines.join('\n') + '\n');
    run('sh', ['-c', `xargs -d '\\n' -P ${jobs} -I CMD sh -c CMD < ${shQuote(path.join(dir, 'jobs'))}`], what);
    commands.forEach((argv, i) => {
      const rcFile = path.join(dir, `${i}.rc`);
      const rc = fs.existsSync(rcFile) ? fs.readFileSync(rcFile, 'utf8').trim() : 'missing';
      if (rc !== '0') {
        const err = fs.existsSync(path.join(dir, `${i}.err`)) ? fs.readFileSync(path.join(dir, `${i}.err`), 'utf8').trim() : '';
        throw new FixtureHostError(`${what} failed (exit ${rc}): ${argv.join(' ')}: ${err.split('\n').slice(0, 3).join(' | ')}`);
      }
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function archFlags(arch: 'x86_64' | 'i386' | undefined): string[] {
  return arch === 'i386' ? ['-m32'] : [];
}

function cIdent(s: string): string {
  return s.replace(/[^A-Za-z0-9]/g, '_');
}

function mode(m: string | undefined, def: number): number {
  if (m === undefined) return def;
  if (!/^0?[0-7]{3,4}$/.test(m)) throw new FixtureHostError(`bad mode "${m}"`);
  return parseInt(m, 8);
}

function ldconfigOnThisMachine(): string {
  for (const p of ['/sbin/ldconfig.real', '/usr/sbin/ldconfig.real', '/sbin/ldconfig', '/usr/sbin/ldconfig']) {
    try {
      // The Ubuntu /sbin/ldconfig is a shell wrapper around ldconfig.real; either works, prefer the ELF.
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return 'ldconfig';
}

/** Entries of an ld.so.cache as `ldconfig -p` prints them. */
export function listLdCache(cacheFile: string): { name: string; flags: string; path: string }[] {
  const out = run(ldconfigOnThisMachine(), ['-p', '-C', cacheFile], `ldconfig -p -C ${cacheFile}`);
  const entries: { name: string; flags: string; path: string }[] = [];
  for (const line of out.split('\n')) {
    const m = /^\s+(\S+) \((.*)\) => (.+)$/.exec(line);
    if (m) entries.push({ name: m[1] as string, flags: m[2] as string, path: m[3] as string });
  }
  return entries;
}

// ------------------------------------------------------------------------------------------------- build

function buildInto(name: FixtureHostName, spec: HostSpec, root: string): void {
  const hosts = hostsDir();
  const hostDir = path.join(hosts, name);

  // 1. checked-in text files
  const tree = path.join(hostDir, 'tree');
  if (fs.existsSync(tree)) run('cp', ['-a', '--no-preserve=ownership', `${tree}/.`, root], 'copying tree/');

  // 2. directories (empty ones git cannot hold)
  for (const d of spec.dirs ?? []) {
    const full = inTree(root, d.path);
    fs.mkdirSync(full, { recursive: true });
    if (d.mode) fs.chmodSync(full, mode(d.mode, 0o755));
  }

  // 3. libraries, then their symlink chains
  const fakelib = path.join(hosts, '_src', 'fakelib.c');
  const gccLib: string[][] = [];
  for (const lib of spec.libraries ?? []) {
    const full = inTree(root, lib.path);
    mkdirFor(full);
    const base = path.basename(lib.path);
    const stem = base.replace(/\.so(\..*)?$/, '');
    const args = [...archFlags(lib.arch), '-shared', '-fPIC', '-O1', '-Wl,--no-as-needed'];
    if (lib.soname !== undefined) args.push(`-Wl,-soname,${lib.soname}`);
    if (lib.nostdlib) args.push('-nostdlib');
    args.push(`-DFAKE_FN=oci_gpu_fake_${cIdent(stem)}`, `-DFAKE_FILE="${base}"`);
    if (lib.nvml !== undefined) args.push(`-DFAKE_NVML="${lib.nvml}"`);
    if (lib.nvmlMig !== undefined) args.push(`-DFAKE_NVML_MIG="${lib.nvmlMig}"`);
    args.push('-o', full, fakelib);
    if (!lib.nostdlib) args.push('-lc');
    gccLib.push(['gcc', ...args]);
  }
  runParallel(gccLib, 'gcc (libraries)');
  for (const lib of spec.libraries ?? []) {
    const dir = path.posix.dirname(lib.path);
    let prev = path.basename(lib.path);
    for (const link of lib.links ?? []) {
      fs.symlinkSync(prev, inTree(root, path.posix.join(dir, link)));
      prev = link;
    }
  }

  // 4. executables
  const gccExe: string[][] = [];
  for (const exe of spec.executables ?? []) {
    const full = inTree(root, exe.path);
    mkdirFor(full);
    const args = [...archFlags(exe.arch), '-O1'];
    for (const [k, v] of Object.entries(exe.defines ?? {})) args.push(`-D${k}="${v}"`);
    args.push('-o', full, path.join(hosts, exe.source));
    for (const l of exe.linkLibs ?? []) {
      args.push(`-L${inTree(root, path.posix.dirname(l))}`, `-l:${path.posix.basename(l)}`);
    }
    gccExe.push(['gcc', ...args]);
  }
  runParallel(gccExe, 'gcc (executables)');

  // 5. copies of this machine's tools
  for (const c of spec.copies ?? []) {
    const full = inTree(root, c.path);
    mkdirFor(full);
    try {
      fs.copyFileSync(c.from, full);
    } catch (e) {
      throw new FixtureHostError(`cannot copy ${c.from}: ${(e as Error).message}`);
    }
    fs.chmodSync(full, mode(c.mode, fs.statSync(c.from).mode & 0o7777));
  }

  // 6. symlinks (after every file: writes never go through them)
  for (const s of spec.symlinks ?? []) {
    const full = inTree(root, s.path);
    mkdirFor(full);
    fs.symlinkSync(s.target, full);
  }

  // 7. device nodes, fifos, sockets
  for (const d of spec.devices ?? []) {
    const full = inTree(root, d.path);
    mkdirFor(full);
    run('mknod', ['-m', d.mode, full, d.type, String(d.major), String(d.minor)], `mknod ${d.path}`);
  }
  for (const f of spec.fifos ?? []) {
    const full = inTree(root, f.path);
    mkdirFor(full);
    run('mkfifo', ['-m', f.mode ?? '0600', full], `mkfifo ${f.path}`);
  }
  if ((spec.sockets ?? []).length > 0) {
    const files = (spec.sockets ?? []).map((s) => {
      const full = inTree(root, s.path);
      mkdirFor(full);
      return full;
    });
    // Bind and exit without close(): the socket file stays on disk, as a daemon's does while it runs.
    // Bound by name from inside its folder: a full path can pass the 107-byte limit of a socket
    // address (a deep checkout), which truncates it silently.
    const script =
      "const net=require('node:net');const p=process.argv[1];const s=net.createServer();" +
      's.on("error",e=>{console.error(p+": "+e.message);process.exit(1)});s.listen(p,()=>process.exit(0))';
    for (const file of files) run(process.execPath, ['-e', script, path.basename(file)], `creating unix socket ${file}`, { cwd: path.dirname(file) });
    (spec.sockets ?? []).forEach((s, i) => fs.chmodSync(files[i] as string, mode(s.mode, 0o777)));
  }

  // 8. modes
  for (const m of spec.modes ?? []) {
    fs.chmodSync(inTree(root, m.path), mode(m.mode, 0o644));
  }

  // 9. etc/ld.so.cache, generated for the tree as ldconfig -r sees it (chrooted: entries are tree paths)
  if (spec.ldconfig) {
    const tool = spec.ldconfig.tool ? resolveInTree(root, spec.ldconfig.tool) : ldconfigOnThisMachine();
    if (!tool) throw new FixtureHostError(`ldconfig tool ${spec.ldconfig.tool} is not in the tree`);
    fs.mkdirSync(path.join(root, 'etc'), { recursive: true });
    // -X: do not create links; host.json declares every link, so the tree is exactly what it says.
    run(tool, ['-X', '-r', root, ...(spec.ldconfig.dirs ?? [])], `ldconfig -r ${name}`);
    // ldconfig also saves its aux cache; a real host has one too, but it is noise in a fixture.
    fs.rmSync(path.join(root, 'var', 'cache', 'ldconfig'), { recursive: true, force: true });
    for (const e of listLdCache(path.join(root, 'etc', 'ld.so.cache'))) {
      const target = resolveInTree(root, e.path);
      if (!target || !fs.statSync(target).isFile()) {
        throw new FixtureHostError(`${name}: ld.so.cache entry ${e.name} => ${e.path} does not resolve to a file in the tree (a link missing from host.json?)`);
      }
    }
  }
}

/** Removes temp dirs of crashed builds (> 1 h) and builds of older versions of this host (> 6 h). */
function pruneStale(buildDir: string, name: FixtureHostName, keep: string): void {
  const hour = 3600_000;
  for (const e of fs.readdirSync(buildDir)) {
    const full = path.join(buildDir, e);
    const maxAge = e.startsWith('.tmp-') ? hour : e.startsWith(`${name}-`) && full !== keep ? 6 * hour : undefined;
    if (maxAge === undefined) continue;
    try {
      if (Date.now() - fs.statSync(full).mtimeMs > maxAge) fs.rmSync(full, { recursive: true, force: true });
    } catch {
      /* another process got it */
    }
  }
}

function copyTree(from: string, to: string): void {
  fs.mkdirSync(to, { recursive: true });
  if (fs.readdirSync(to).length > 0) throw new FixtureHostError(`destination ${to} is not empty`);
  run('cp', ['-a', `${from}/.`, to], `cp -a ${from} ${to}`);
}

function needRoot(what: string): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new FixtureHostError(`${what} needs root (mknod of device nodes); run as root`);
  }
}

/**
 * Builds (or reuses a cached build of) a fixture host and returns its absolute path; the cache key is a hash
 * of the host folder's content and the builder's source, under node_modules/.cache/oci-gpu-fixture-hosts/<name>-<hash>
 * (ignored by git and by every globber; a tree under test/ made ava's test-file search loop on its symlinks).
 * Needs root for mknod; throws a one-line Error otherwise.
 */
export function buildFixtureHost(name: FixtureHostName, options: BuildOptions = {}): string {
  assertName(name);
  const buildDir = fixtureBuildDir();
  const final = path.join(buildDir, `${name}-${fixtureHostHash(name)}`);
  if (!fs.existsSync(final)) {
    needRoot(`building fixture host ${name}`);
    const spec = readHostSpec(name);
    fs.mkdirSync(buildDir, { recursive: true });
    pruneStale(buildDir, name, final);
    const tmp = fs.mkdtempSync(path.join(buildDir, `.tmp-${name}-`));
    fs.chmodSync(tmp, 0o755);
    try {
      buildInto(name, spec, tmp);
      try {
        fs.renameSync(tmp, final);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
        // Another process finished the same build first: use its tree.
      }
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }
  if (options.dest !== undefined) {
    const dest = path.resolve(options.dest);
    needRoot(`copying fixture host ${name}`);
    copyTree(final, dest);
    return dest;
  }
  return final;
}

/** Copies a built host to a fresh temp dir (cp -a, keeping device nodes/sockets) for tests that change it. */
export function copyFixtureHost(name: FixtureHostName): string {
  const built = buildFixtureHost(name);
  needRoot(`copying fixture host ${name}`);
  const dest = fs.mkdtempSync(path.join(os.tmpdir(), `oci-gpu-host-${name}-`));
  fs.chmodSync(dest, 0o755);
  copyTree(built, dest);
  return dest;
}

// -------------------------------------------------------------------------------------------------- CLI

function main(argv: string[]): number {
  const [name, dest, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || rest.length > 0) {
    process.stderr.write(`usage: fixture-host <${FIXTURE_HOST_NAMES.join('|')}> [DEST]\n`);
    return name === undefined || rest.length > 0 ? 2 : 0;
  }
  try {
    assertName(name);
    process.stdout.write(buildFixtureHost(name, dest === undefined ? {} : { dest }) + '\n');
    return 0;
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 1;
  }
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === thisFile()) {
  process.exitCode = main(process.argv.slice(2));
}
