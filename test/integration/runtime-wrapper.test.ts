// oci-gpu-runtime (build/oci-gpu-runtime -> oci-gpu-hook) wrapping bare runc and crun, no Podman:
// bundles made with `<runtime> spec` on a copy of the test rootfs (root.readonly stays true, the
// spec's default), each with its own runtime state folder (--root, a global flag the wrapper must
// skip to find the subcommand). `run` and `create`+`start` must give the container the GPUs it asks
// for; state/list/delete must pass straight through; exit codes must come back; a bundle asking for
// nothing must not be touched. Needs root.
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  assertProbe,
  configDevices,
  ENXIO,
  fixtureManifest,
  hookBinary,
  makeBundle,
  parseProbe,
  PROBE,
  RUNTIME_BIN,
  RUNTIME_PATHS,
  show,
  type Bundle,
  type ProbeResult,
} from '../helpers/hook-env.js';
import { podmanTests, podmanUnavailableReason, run, RUNTIMES, type Runtime } from '../helpers/podman.js';
import { validateOciConfig } from '../helpers/schema.js';
import { IS_ROOT, rootTest, NEEDS_ROOT as why } from '../helpers/root.js';

// Bundles need runc, crun and the test rootfs (podman's prerequisites); --help only root.
const pod = podmanTests();

test.before('binary and fixtures', async (t) => {
  if (!IS_ROOT) return;
  if (!pod.skipped) t.is(podmanUnavailableReason(), undefined);
  await hookBinary();
  await Promise.all([fixtureManifest('h200'), fixtureManifest('rhel-2gpu')]);
});

let seq = 0;
const containerId = (runtime: Runtime) => `oci-gpu-test-${runtime}-${process.pid}-${++seq}`;

/** The wrapper's argv: our options, then the runtime's (global --root first, as Docker passes them). */
function wrapperArgs(runtime: Runtime, manifest: string, b: Bundle, rest: string[]): string[] {
  return ['--runtime', RUNTIME_PATHS[runtime], '--manifest', manifest, '--root', b.stateRoot, ...rest];
}

/**
 * Runs a command with stdout/stderr in files: `create` leaves the container holding its stdio,
 * so a pipe would never reach EOF before `start`.
 */
function runToFiles(cmd: string, args: string[], outFile: string, cwd?: string): Promise<{ exitCode: number; out: string }> {
  const fd = openSync(outFile, 'w');
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }, ...(cwd ? { cwd } : {}) });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      closeSync(fd);
      resolve({ exitCode: code ?? (signal ? -1 : 0), out: readFileSync(outFile, 'utf8') });
    });
  });
}


const wrappedRun = test.macro({
  async exec(t, runtime: Runtime) {
    const m = await fixtureManifest('rhel-2gpu');
    const b = await makeBundle(runtime, { args: ['sh', '-c', `${PROBE}\nexit 7`], annotations: { 'oci-gpu/devices': '1' } });
    const r = await run(RUNTIME_BIN, wrapperArgs(runtime, m.file, b, ['run', containerId(runtime)]), { cwd: b.dir });
    const ctx = show(r);
    t.is(r.exitCode, 7, `the container's exit status must come back\n${ctx}`);
    assertProbe(t, parseProbe(r.stdout), ctx, { gpus: [3], libDir: '/usr/lib64', driver: m.data.driver!.version });
    const edited = JSON.parse(readFileSync(b.config, 'utf8')) as Record<string, any>;
    t.deepEqual(validateOciConfig(edited), []);
    t.deepEqual(configDevices(edited), ['/dev/nvidia-uvm', '/dev/nvidia-uvm-tools', '/dev/nvidia3', '/dev/nvidiactl']);
    t.is(edited.root.readonly, true);
    t.is((statSync(b.config).mode & 0o777).toString(8), '644', 'the config keeps its mode');
  },
  title: (_ = '', runtime: Runtime) => `${runtime}: oci-gpu-runtime run (read-only rootfs) gives GPU 1 = /dev/nvidia3, ld cache, nvidia-smi, exit status 7${pod.why}`,
});

const createStart = test.macro({
  async exec(t, runtime: Runtime) {
    const m = await fixtureManifest('h200');
    const real = RUNTIME_PATHS[runtime];
    const b = await makeBundle(runtime, { args: ['sh', '-c', `{\n${PROBE}\n} >/out/probe.txt 2>&1`], annotations: { 'oci-gpu/devices': 'all' } });
    const id = containerId(runtime);
    const wrap = (rest: string[]) => run(RUNTIME_BIN, wrapperArgs(runtime, m.file, b, rest));
    const direct = (rest: string[]) => run(real, ['--root', b.stateRoot, ...rest]);
    t.teardown(() => direct(['delete', '--force', id]).then(() => undefined));

    const created = await runToFiles(RUNTIME_BIN, wrapperArgs(runtime, m.file, b, ['create', '--bundle', b.dir, id]), path.join(b.dir, 'create.log'));
    t.is(created.exitCode, 0, created.out);
    t.deepEqual(configDevices(JSON.parse(readFileSync(b.config, 'utf8'))), ['/dev/nvidia-uvm', '/dev/nvidia-uvm-tools', '/dev/nvidia0', '/dev/nvidiactl']);

    // state and list: the wrapper's output is the runtime's, byte for byte
    const [ws, ds] = [await wrap(['state', id]), await direct(['state', id])];
    t.is(ws.exitCode, 0, show(ws));
    t.is(ws.stdout, ds.stdout);
    t.is((JSON.parse(ws.stdout) as { status: string }).status, 'created');
    const [wl, dl] = [await wrap(['list']), await direct(['list'])];
    t.is(wl.exitCode, dl.exitCode);
    t.is(wl.stdout, dl.stdout);
    t.true(wl.stdout.includes(id), wl.stdout);
    const [wj, dj] = [await wrap(['list', '--format', 'json']), await direct(['list', '--format', 'json'])];
    t.is(wj.stdout, dj.stdout);

    const started = await wrap(['start', id]);
    t.is(started.exitCode, 0, show(started));
    let status = '';
    for (let i = 0; i < 100 && status !== 'stopped'; i++) {
      const s = await direct(['state', id]);
      status = s.exitCode === 0 ? (JSON.parse(s.stdout) as { status: string }).status : `state failed: ${s.stderr}`;
      if (status !== 'stopped') await new Promise((r) => setTimeout(r, 50));
    }
    t.is(status, 'stopped');
    const probeText = readFileSync(path.join(b.out, 'probe.txt'), 'utf8');
    assertProbe(t, parseProbe(probeText), probeText, { gpus: [0], libDir: '/usr/local/nvidia/lib64', driver: m.data.driver!.version });

    const deleted = await wrap(['delete', id]);
    t.is(deleted.exitCode, 0, show(deleted));
    const [gone, goneDirect] = [await wrap(['state', id]), await direct(['state', id])];
    t.not(gone.exitCode, 0);
    t.is(gone.exitCode, goneDirect.exitCode, 'a failing subcommand keeps the runtime exit status');
    t.is(gone.stdout, goneDirect.stdout);
    t.regex(gone.stderr, /not exist|not found|No such file/i, show(gone));
    const wrapDelMissing = await wrap(['delete', id]);
    const directDelMissing = await direct(['delete', id]);
    t.is(wrapDelMissing.exitCode, directDelMissing.exitCode);
  },
  title: (_ = '', runtime: Runtime) => `${runtime}: create+start+delete through oci-gpu-runtime; state, list, delete pass straight through${pod.why}`,
});

const untouched = test.macro({
  async exec(t, runtime: Runtime) {
    const m = await fixtureManifest('h200');
    const b = await makeBundle(runtime, { args: ['sh', '-c', 'ls /dev; exit 3'], annotations: { 'org.example/other': 'x' }, env: ['NVIDIA_VISIBLE_DEVICES=void'] });
    const before = { bytes: readFileSync(b.config), mtime: statSync(b.config).mtimeMs, ino: statSync(b.config).ino };
    await new Promise((r) => setTimeout(r, 20)); // a rewrite within the same mtime tick would hide
    const r = await run(RUNTIME_BIN, wrapperArgs(runtime, m.file, b, ['run', '--bundle', b.dir, containerId(runtime)]));
    t.is(r.exitCode, 3, show(r));
    t.notRegex(r.stdout, /nvidia/, show(r));
    const after = statSync(b.config);
    t.true(readFileSync(b.config).equals(before.bytes), 'config.json bytes changed');
    t.is(after.mtimeMs, before.mtime, 'config.json was rewritten');
    t.is(after.ino, before.ino, 'config.json was replaced');
  },
  title: (_ = '', runtime: Runtime) => `${runtime}: a bundle that asks for nothing is not rewritten (bytes, mtime, inode) and exit 3 comes back${pod.why}`,
});

const refused = test.macro({
  async exec(t, runtime: Runtime) {
    const m = await fixtureManifest('rhel-2gpu');
    const b = await makeBundle(runtime, { args: ['sh', '-c', 'echo RAN'], annotations: { 'oci-gpu/devices': '7' } });
    const before = readFileSync(b.config);
    const id = containerId(runtime);
    const r = await run(RUNTIME_BIN, wrapperArgs(runtime, m.file, b, ['run', '--bundle', b.dir, id]));
    t.not(r.exitCode, 0, show(r));
    t.notRegex(r.stdout, /RAN/);
    const lines = r.stderr.split('\n').filter(Boolean);
    t.is(lines.length, 1, r.stderr);
    t.regex(lines[0] ?? '', /^oci-gpu-runtime: .*GPU "7", which does not exist; this host has 2 GPUs/);
    t.true(readFileSync(b.config).equals(before), 'config.json changed although the start was refused');
    const state = await run(RUNTIME_PATHS[runtime], ['--root', b.stateRoot, 'state', id]);
    t.not(state.exitCode, 0, 'the runtime was started anyway');
  },
  title: (_ = '', runtime: Runtime) => `${runtime}: an unknown GPU is refused in one line before the runtime runs${pod.why}`,
});

for (const runtime of RUNTIMES) {
  pod.test(wrappedRun, runtime);
  pod.test(createStart, runtime);
  pod.test(untouched, runtime);
  pod.test(refused, runtime);
}

rootTest(`oci-gpu-runtime --help and a missing runtime binary${why}`, async (t) => {
  await hookBinary();
  const help = await run(RUNTIME_BIN, ['--help']);
  t.is(help.exitCode, 0);
  t.regex(help.stdout, /^Usage: oci-gpu-runtime/);
  const missing = await run(RUNTIME_BIN, ['--runtime', '/nonexistent/runc', 'list']);
  t.not(missing.exitCode, 0);
  t.is(missing.stderr.trim().split('\n').length, 1, missing.stderr);
  t.regex(missing.stderr, /cannot run "\/nonexistent\/runc": ENOENT/);
});



// The wrapper becomes the runtime (execve), as if Docker had run it directly: same pid, our stdio,
// the caller's environment, and the signals Bun ignores (SIGPIPE, SIGXFSZ) back at their default,
// since an ignored signal stays ignored across execve. A stand-in runtime reports what it got.
rootTest(`oci-gpu-runtime replaces itself with the runtime: same pid, environment kept, no signal left ignored${why}`, async (t) => {
  await hookBinary();
  const dir = mkdtempSync(path.join(tmpdir(), 'oci-gpu-exec-'));
  const fake = path.join(dir, 'runtime');
  writeFileSync(fake, '#!/bin/sh\necho "pid $$"\necho "args $*"\necho "env $MARK"\ngrep -E "^Sig(Ign|Blk):" /proc/self/status\nexit 7\n', { mode: 0o755 });
  const child = spawn(RUNTIME_BIN, ['--runtime', fake, 'state', 'c1'], { env: { PATH: '/usr/bin:/bin', MARK: 'kept' } });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += String(d)));
  // 'close', not 'exit': the exit can come before the last of stdout has been read.
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  t.is(code, 7, out);
  t.regex(out, new RegExp(`^pid ${child.pid}$`, 'm'), 'the runtime runs in the wrapper\'s own process');
  t.regex(out, /^args state c1$/m);
  t.regex(out, /^env kept$/m);
  // sh reports what it inherited: nothing ignored, nothing blocked.
  t.regex(out, /^SigBlk:\s+0+$/m);
  t.regex(out, /^SigIgn:\s+0+$/m);
});
