// A symlink swapped while a start is prepared (the race half of CVE-2024-0132). A gcc-built flipper
// exchanges a folder of the rootfs and a symlink to a host canary folder atomically (renameat2
// RENAME_EXCHANGE), at random short intervals, in the host's view of the rootfs, while containers
// start one after the other, with runc and crun, on every path that makes something in a rootfs:
// - the legacy createRuntime stage (cgroup v1 hosts only; on v2 it refuses before it looks at the
//   rootfs): the hook creates its mount targets itself (src/adapters/rootfs.ts openTargetInRoot);
// - precreate (Podman --rootfs): the hook's linked-folder check on /dev (refuseLinkedDeviceFolders),
//   then the runtime creates the device nodes and the mount targets;
// - oci-gpu-runtime on a bare bundle: the same check, then the runtime; /usr/local/nvidia flipping
//   races the runtime's own creation of our mount targets;
// - the post-mount step (sh + awk + nsenter + ldconfig -r), with /etc flipping: it writes the
//   rootfs's ld.so.cache.
// Every attempt must have reached the code under attack, and is counted: the hook (or the wrapper,
// or ldconfig) ran exactly once, and either went through (exit 0: it checked or created every
// target) or refused with one of its own lines about the rootfs — any other outcome (the hook never
// ran, a refusal for another reason such as cgroup v2) fails the test, so it cannot pass without
// racing anything. The flipper must have swapped during every start. The canary folder must end
// exactly as it began, no host mount may appear under it, and the host's ld cache must stay.
// OCI_GPU_RACE_STARTS raises the number of starts for a longer soak. Needs root.
import type { ExecutionContext } from 'ava';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { fixtureManifest, hookBinary, makeBundle, PROBE, repoHooksD, RUNTIME_BIN, RUNTIME_PATHS, show, tempDir, type FixtureManifest } from '../helpers/hook-env.js';
import { hostileRootfs, hostLdCacheFingerprint, hostMountsUnder, LEGACY_GATE, makeCanary, makeMarkers, MINIMAL_ENV, PODMAN_GATE, recordingManifest, treeChanges, type Canary } from '../helpers/hostile.js';
import { podmanRun, podmanUnavailableReason, run, RUNTIMES, type RunResult, type Runtime } from '../helpers/podman.js';

const execFileP = promisify(execFile);
const STARTS = Number(process.env.OCI_GPU_RACE_STARTS ?? 30);
const test = PODMAN_GATE.test;

let flipper = '';

test.before('environment, binary, fixtures, flipper', async (t) => {
  if (PODMAN_GATE.skipped) return;
  t.is(podmanUnavailableReason(), undefined);
  await hookBinary();
  await fixtureManifest('h200');
  const dir = tempDir('flipper');
  const src = path.join(dir, 'flip.c');
  writeFileSync(
    src,
    [
      '#define _GNU_SOURCE',
      '#include <fcntl.h>',
      '#include <signal.h>',
      '#include <stdio.h>',
      '#include <stdlib.h>',
      '#include <unistd.h>',
      '#include <sys/syscall.h>',
      '#include <linux/fs.h>',
      'static volatile sig_atomic_t stop;',
      'static void on_term(int s) { (void)s; stop = 1; }',
      '/* flip A B MAXUS [GO]: exchange A and B until SIGTERM, sleeping 0..MAXUS us between swaps, then print',
      '   the number of swaps; MAXUS < 0: swap once. With GO, start swapping once the file GO exists. */',
      'int main(int argc, char **argv) {',
      '  int max = argc > 3 ? atoi(argv[3]) : 100;',
      '  long n = 0;',
      '  signal(SIGTERM, on_term);',
      '  srand(getpid());',
      '  if (argc > 4) while (!stop && access(argv[4], F_OK) != 0) usleep(20);',
      '  while (!stop) {',
      '    if (syscall(SYS_renameat2, AT_FDCWD, argv[1], AT_FDCWD, argv[2], RENAME_EXCHANGE) != 0) { perror("renameat2"); return 1; }',
      '    n++;',
      '    if (max < 0) return 0;',
      '    if (max > 0) usleep(rand() % max);',
      '  }',
      '  printf("%ld\\n", n);',
      '  return 0;',
      '}',
      '',
    ].join('\n'),
  );
  flipper = path.join(dir, 'flip');
  await execFileP('gcc', ['-O2', '-o', flipper, src], { timeout: 60_000 });
});

/**
 * Starts the flipper on `real` (a folder) and `link` (a symlink beside it), at once or when the file
 * `go` appears; `stop` leaves `real` a folder again and returns the swaps made.
 */
function flip(real: string, link: string, maxSleepUs: number, go?: string): { stop(): Promise<number> } {
  const child = spawn(flipper, [real, link, String(maxSleepUs), ...(go ? [go] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d));
  const exited = new Promise((r) => child.once('close', r));
  return {
    async stop() {
      child.kill('SIGTERM');
      await exited;
      if (lstatSync(real).isSymbolicLink()) await execFileP(flipper, [real, link, '-1']);
      return Number(out.trim() || 0);
    },
  };
}

/** A folder of the rootfs and, beside it, the link to the canary the flipper swaps in. */
function racedFolder(rootfs: string, folder: string, canary: Canary): { real: string; link: string } {
  const real = path.join(rootfs, folder);
  mkdirSync(real, { recursive: true });
  const link = `${real}.swap`;
  symlinkSync(canary.dir, link);
  return { real, link };
}

/** How one attempt ended, when it reached the code under attack; `why` when it did not. */
type Attempt = { reached: 'through' | 'refused'; r: RunResult } | { reached?: undefined; why: string; r: RunResult };

/**
 * Names a canary change that is a runtime's own known doing (SECURITY.md, "Known limits"), or
 * returns undefined: then it is a failure.
 */
type KnownLimit = (change: string, canaryDir: string) => string | undefined;

/**
 * Runs `start` STARTS times while the flipper swaps `real` and `link`; fails unless every attempt
 * reached the code under attack during swaps, and the canary (but for `known` runtime limits, which
 * are logged and undone), the mounts under it and the host's ld cache stay as they were.
 */
async function race(
  t: ExecutionContext,
  real: string,
  link: string,
  canary: Canary,
  start: (i: number) => Promise<Attempt>,
  o: { between?: () => Promise<void>; known?: KnownLimit; go?: string } = {},
): Promise<void> {
  const before = canary.snapshot();
  const ldCache = hostLdCacheFingerprint();
  const tally = { through: 0, refused: 0 };
  const notReached: string[] = [];
  const lines = new Map<string, number>();
  const limits = new Map<string, number>();
  for (let i = 0; i < STARTS; i++) {
    if (o.go) rmSync(o.go, { force: true });
    const flipping = flip(real, link, [0, 50, 500][i % 3]!, o.go);
    const a = await start(i);
    const swaps = await flipping.stop();
    if (swaps === 0) notReached.push(`start ${i}: the flipper never swapped during it`);
    if (a.reached === undefined) notReached.push(`start ${i}: ${a.why}\n${show(a.r)}`);
    else tally[a.reached]++;
    if (a.reached === 'refused') {
      const line = (a.r.stderr.match(/oci-gpu[-a-z]*: [^\n"]*/)?.[0] ?? '').slice(0, 160);
      lines.set(line, (lines.get(line) ?? 0) + 1);
    }
    const changes = treeChanges(before, canary.snapshot());
    const unknown = changes.filter((c) => o.known?.(c, canary.dir) === undefined);
    if (unknown.length) {
      t.fail(`start ${i}: the canary changed: ${unknown.join(', ')}\n${show(a.r)}`);
      break;
    }
    if (changes.length) {
      // A runtime's own known doing: count it, then undo it so the next start is compared afresh.
      for (const c of changes) limits.set(o.known!(c, canary.dir)!, (limits.get(o.known!(c, canary.dir)!) ?? 0) + 1);
      for (const c of changes.filter((x) => x.startsWith('added ')).reverse()) rmSync(path.join(canary.dir, c.split(' ')[1]!), { recursive: true, force: true });
      t.deepEqual(treeChanges(before, canary.snapshot()), [], `start ${i}: the canary could not be put back`);
    }
    await o.between?.();
  }
  t.deepEqual(notReached, [], 'every attempt must reach the code under attack');
  t.is(tally.through + tally.refused, STARTS, 'attempts that reached the code under attack');
  // Where a runtime makes the targets it may touch and undo (or we undo a known limit): folder times
  // change. Where only our code works on the rootfs, not even those may change.
  if (o.known) t.deepEqual(treeChanges(before, canary.snapshot()), [], 'the canary folder changed');
  else t.deepEqual(canary.snapshot(), before, 'the canary folder changed');
  t.deepEqual(hostMountsUnder(canary.dir), [], 'a host mount appeared under the canary');
  t.is(hostLdCacheFingerprint(), ldCache, "the host's /etc/ld.so.cache changed");
  t.log(`${STARTS} attempts reached it: ${tally.through} went through, ${tally.refused} refused${lines.size ? `: ${[...lines].map(([l, n]) => `${n}× ${l}`).join(' | ')}` : ''}`);
  if (limits.size) t.log(`known runtime limits seen (SECURITY.md): ${[...limits].map(([l, n]) => `${l}: ${n} entries`).join('; ')}`);
}

// ----------------------------------------------------------------- what the runtimes do themselves

const firstLine = (bin: string) => execFileSync(bin, ['--version'], { encoding: 'utf8' }).split('\n')[0] ?? '';
const CRUN_1_8_1 = /^crun version 1\.8\.1$/.test(firstLine('/usr/bin/crun'));
/** runc before 1.1.14 follows a folder swapped between its path check and mkdir (CVE-2024-45310). */
const RUNC_BEFORE_1_1_14 = (() => {
  const m = /^runc version (\d+)\.(\d+)\.(\d+)/.exec(firstLine('/usr/sbin/runc'));
  if (!m) return false;
  const [a, b, c] = m.slice(1).map(Number) as [number, number, number];
  return a < 1 || (a === 1 && (b < 1 || (b === 1 && c < 14)));
})();

// What runc 1.1.5 and crun 1.8.1 put in /dev for every container (GPU or not), as links or nodes;
// through an image's /dev link they land outside the rootfs (symlink-escape.test.ts shows the same
// for a container without GPU).
const RUNTIME_DEV_ENTRIES = new Set(['core', 'fd', 'stdin', 'stdout', 'stderr', 'ptmx', 'null', 'zero', 'full', 'random', 'urandom', 'tty', 'pts', 'shm', 'mqueue']);

/** /dev swapped after our check: the runtime's own /dev entries; with crun 1.8.1 also the planned GPU nodes. */
const devKnown: KnownLimit = (change) => {
  const m = /^added (\S+) (link|node|dir)/.exec(change);
  if (!m) return undefined;
  if (RUNTIME_DEV_ENTRIES.has(m[1]!)) return "the runtime's own /dev entries through a swapped /dev";
  if (CRUN_1_8_1 && m[2] === 'node' && /^nvidia(\d+|ctl|-uvm|-uvm-tools)$/.test(m[1]!)) return 'crun 1.8.1 makes linux.devices nodes through a /dev swapped after the check';
  return undefined;
};

/** runc < 1.1.14 (CVE-2024-45310): empty folders and files for mount targets, made through a swapped folder. */
const mkdirKnown: KnownLimit = (change, canaryDir) => {
  const m = /^added (\S+) (dir|file)$/.exec(change);
  if (!RUNC_BEFORE_1_1_14 || !m) return undefined;
  const st = lstatSync(path.join(canaryDir, m[1]!));
  if (st.isFile() && st.size !== 0) return undefined;
  return 'runc < 1.1.14 (CVE-2024-45310) makes empty mount targets through a swapped folder';
};

/**
 * A sh wrapper for `bin` that logs each run's exit status (`<dir>/rc`) and stderr (`<dir>/err`), so
 * attempts can be counted; it creates the file `go` first (the flipper's start signal).
 */
function counting(bin: string): { path: string; go: string; mark(): { rc: number; err: number }; since(m: { rc: number; err: number }): { rcs: number[]; err: string } } {
  const dir = tempDir('counting');
  const file = path.join(dir, 'run');
  const go = path.join(dir, 'go');
  writeFileSync(file, `#!/bin/sh\n: >'${go}'\n'${bin}' "$@" 2>>'${dir}/err'\nrc=$?\necho $rc >>'${dir}/rc'\nexit $rc\n`);
  chmodSync(file, 0o755);
  const read = (f: string) => (existsSync(path.join(dir, f)) ? readFileSync(path.join(dir, f), 'utf8') : '');
  return {
    path: file,
    go,
    mark: () => ({ rc: read('rc').split('\n').filter(Boolean).length, err: read('err').length }),
    since: (m) => ({ rcs: read('rc').split('\n').filter(Boolean).slice(m.rc).map(Number), err: read('err').slice(m.err) }),
  };
}

/** Runs a bare bundle with `argv` (the runtime, or the wrapper and its options) and deletes what is left of it. */
async function runBundle(argv: string[], runtime: Runtime, b: { dir: string; stateRoot: string }, id: string): Promise<RunResult> {
  const r = await run(argv[0]!, [...argv.slice(1), '--root', b.stateRoot, 'run', '--bundle', b.dir, id], { timeout: 60_000 });
  await run(RUNTIME_PATHS[runtime], ['--root', b.stateRoot, 'delete', '--force', id]);
  return r;
}

// What the code under attack says when it catches a swap or a wrong type in the rootfs (any other line is not this race).
const LEGACY_REFUSAL = /oci-gpu-hook: .*(changed while it was prepared|setting up the GPU files in container pid \d+ failed|is not mounted in the container after setup|ended up writable|cannot create mount target|in the container image where a (file|folder) is needed|too many levels of symbolic links)/;
const LINKED_FOLDER = (program: string) => new RegExp(`${program}: .*the container image's "/dev" is a symlink \\((to "[^"]+"|that changed while it was checked)\\): refusing to add GPU device nodes`);

// ------------------------------------------------------------------------------ legacy createRuntime

const legacyRace = test.macro({
  async exec(t, runtime: Runtime, folder: string) {
    const m = await fixtureManifest('h200');
    const canary = makeCanary();
    const hook = counting(await hookBinary());
    const b = await makeBundle(runtime, {
      args: ['sh', '-c', `${PROBE}\necho RAN`],
      annotations: { 'oci-gpu/devices': 'all' },
      readonly: false,
      hooks: { createRuntime: [{ path: hook.path, args: ['oci-gpu-hook', 'createRuntime', '--manifest', m.file], env: MINIMAL_ENV, timeout: 30 }] },
    });
    const { real, link } = racedFolder(path.join(b.dir, 'rootfs'), folder, canary);
    await race(
      t,
      real,
      link,
      canary,
      async (i) => {
        const mark = hook.mark();
        const r = await runBundle([RUNTIME_PATHS[runtime]], runtime, b, `oci-gpu-race-legacy-${runtime}-${process.pid}-${i}`);
        const { rcs, err } = hook.since(mark);
        if (rcs.length !== 1) return { why: `the hook ran ${rcs.length} times`, r };
        if (rcs[0] === 0) return { reached: 'through', r };
        return LEGACY_REFUSAL.test(err) ? { reached: 'refused', r: { ...r, stderr: err } } : { why: `the hook refused for another reason: ${err.trim()}`, r };
      },
      // A fresh folder for the next start: remove what this one created in it.
      { between: async () => void (await run('/bin/sh', ['-c', 'rm -rf "$1"/* "$1"/.[!.]* 2>/dev/null; true', 'sh', real])) },
    );
  },
  title: (_ = '', runtime: Runtime, folder: string) => `${runtime}: legacy createRuntime, ${folder} flipping to a host symlink during ${STARTS} starts: each start reaches the target creation, nothing lands outside the rootfs${LEGACY_GATE.why}`,
});

for (const runtime of RUNTIMES) {
  LEGACY_GATE.serial(legacyRace, runtime, '/usr/local/nvidia');
  LEGACY_GATE.serial(legacyRace, runtime, '/usr/local/nvidia/lib64');
}

// -------------------------------------------------------------------------------------- precreate

/** A hooks dir with our precreate entry, its hook counted. */
async function countedHooksDir(manifest: string): Promise<{ dir: string; hook: ReturnType<typeof counting> }> {
  const hook = counting(await hookBinary());
  const dir = path.join(tempDir('hooks-race'), 'hooks.d');
  mkdirSync(dir);
  const entry = structuredClone(repoHooksD().get('oci-gpu.json')!);
  entry.hook.path = hook.path;
  entry.hook.args = [...(entry.hook.args ?? ['oci-gpu-hook', 'precreate']), '--manifest', manifest];
  writeFileSync(path.join(dir, 'oci-gpu.json'), JSON.stringify(entry));
  return { dir, hook };
}

const precreateRace = test.macro({
  async exec(t, runtime: Runtime) {
    const m = await fixtureManifest('h200');
    const canary = makeCanary();
    const hooks = await countedHooksDir(m.file);
    const rootfs = hostileRootfs([]);
    const { real, link } = racedFolder(rootfs, '/dev', canary);
    await race(
      t,
      real,
      link,
      canary,
      async () => {
        const mark = hooks.hook.mark();
        const r = await podmanRun({ runtime, hooksDir: hooks.dir, rootfs, annotations: { 'oci-gpu/devices': 'all' }, args: ['sh', '-c', `${PROBE}\necho RAN`] });
        const { rcs, err } = hooks.hook.since(mark);
        if (rcs.length !== 1) return { why: `the hook ran ${rcs.length} times`, r };
        if (rcs[0] === 0) return { reached: 'through', r };
        return LINKED_FOLDER('oci-gpu-hook').test(err) ? { reached: 'refused', r: { ...r, stderr: err } } : { why: `the hook refused for another reason: ${err.trim()}`, r };
      },
      // Podman resolves /dev itself before the hook (and fails on a swap there): swap only once the hook starts.
      { known: devKnown, go: hooks.hook.go },
    );
  },
  title: (_ = '', runtime: Runtime) => `${runtime}: precreate (Podman --rootfs), /dev flipping to a host symlink during ${STARTS} starts: each start reaches the linked-folder check; outside the rootfs only the runtime's known /dev doings${PODMAN_GATE.why}`,
});

for (const runtime of RUNTIMES) PODMAN_GATE.serial(precreateRace, runtime);

// -------------------------------------------------------------------------------- oci-gpu-runtime

/** A stand-in for the real runtime that logs each run, then runs it. */
function recordedRuntime(runtime: Runtime): { path: string; runs(): number } {
  const dir = tempDir('runtime-recorder');
  const file = path.join(dir, runtime);
  writeFileSync(file, `#!/bin/sh\necho "$*" >>'${dir}/runs'\nexec '${RUNTIME_PATHS[runtime]}' "$@"\n`);
  chmodSync(file, 0o755);
  return { path: file, runs: () => (existsSync(path.join(dir, 'runs')) ? readFileSync(path.join(dir, 'runs'), 'utf8').split('\n').filter((l) => / run /.test(` ${l} `)).length : 0) };
}

/** One oci-gpu-runtime start on a bare bundle whose config.json is put back first (the wrapper edits it in place). */
async function wrapperStart(runtime: Runtime, b: { dir: string; config: string; stateRoot: string }, pristine: Buffer, m: string, recorder: { path: string }, id: string): Promise<RunResult> {
  writeFileSync(b.config, pristine);
  return runBundle([RUNTIME_BIN, '--runtime', recorder.path, '--manifest', m], runtime, b, id);
}

const wrapperRace = test.macro({
  async exec(t, runtime: Runtime, folder: '/dev' | '/usr/local/nvidia') {
    const m = await fixtureManifest('h200');
    const canary = makeCanary();
    const b = await makeBundle(runtime, { args: ['sh', '-c', `${PROBE}\necho RAN`], annotations: { 'oci-gpu/devices': 'all' }, readonly: false });
    const pristine = readFileSync(b.config);
    const recorder = recordedRuntime(runtime);
    const { real, link } = racedFolder(path.join(b.dir, 'rootfs'), folder, canary);
    await race(
      t,
      real,
      link,
      canary,
      async (i) => {
        const before = recorder.runs();
        const r = await wrapperStart(runtime, b, pristine, m.file, recorder, `oci-gpu-race-wrapper-${runtime}-${process.pid}-${i}`);
        const ran = recorder.runs() - before;
        // Through the check: the wrapper edited config.json and ran the real runtime once (which then creates the targets).
        if (ran === 1) return { reached: 'through', r };
        if (ran === 0 && r.exitCode === 1 && folder === '/dev' && LINKED_FOLDER('oci-gpu-runtime').test(r.stderr)) return { reached: 'refused', r };
        return { why: `the real runtime ran ${ran} times and oci-gpu-runtime exited ${r.exitCode}`, r };
      },
      {
        between: async () => void (await run('/bin/sh', ['-c', 'rm -rf "$1"/* "$1"/.[!.]* 2>/dev/null; true', 'sh', real])),
        known: folder === '/dev' ? devKnown : mkdirKnown,
      },
    );
  },
  title: (_ = '', runtime: Runtime, folder: string) =>
    `${runtime}: oci-gpu-runtime, ${folder} flipping to a host symlink during ${STARTS} starts: each start reaches ${folder === '/dev' ? "the linked-folder check; outside the rootfs only the runtime's known /dev doings" : "the runtime's creation of our mount targets; outside the rootfs only runc < 1.1.14's empty targets (CVE-2024-45310)"}${PODMAN_GATE.why}`,
});

for (const runtime of RUNTIMES) {
  PODMAN_GATE.serial(wrapperRace, runtime, '/dev');
  PODMAN_GATE.serial(wrapperRace, runtime, '/usr/local/nvidia');
}

// ------------------------------------------------------------------------------- post-mount step

const postMountRace = test.macro({
  async exec(t, runtime: Runtime) {
    const source: FixtureManifest = await fixtureManifest('h200');
    // ldconfig (and sh, nsenter) replaced by recorders that leave a marker per run, then run the real one.
    const markers = makeMarkers('race-ldconfig');
    const manifest = recordingManifest(source, markers);
    const canary = makeCanary();
    const b = await makeBundle(runtime, { args: ['sh', '-c', `${PROBE}\necho RAN`], annotations: { 'oci-gpu/devices': 'all' }, readonly: false });
    const pristine = readFileSync(b.config);
    const recorder = recordedRuntime(runtime);
    const { real, link } = racedFolder(path.join(b.dir, 'rootfs'), '/etc', canary);
    const ldconfigRuns = () => markers.list().filter((f) => f.startsWith('env-ldconfig-')).length;
    await race(t, real, link, canary, async (i) => {
      const before = ldconfigRuns();
      const r = await wrapperStart(runtime, b, pristine, manifest, recorder, `oci-gpu-race-postmount-${runtime}-${process.pid}-${i}`);
      const ran = ldconfigRuns() - before;
      // ldconfig -r <rootfs> ran (it writes <rootfs>/etc/ld.so.cache, or fails when /etc is the link then).
      return ran === 1 ? { reached: 'through', r } : { why: `the post-mount step's ldconfig ran ${ran} times`, r };
    });
  },
  title: (_ = '', runtime: Runtime) => `${runtime}: the post-mount step (oci-gpu-runtime), /etc flipping to a host symlink during ${STARTS} starts: ldconfig runs every time, the host's ld cache and the canary stay${PODMAN_GATE.why}`,
});

for (const runtime of RUNTIMES) PODMAN_GATE.serial(postMountRace, runtime);
