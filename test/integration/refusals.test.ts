// A refused container start must be findable after the fact: Podman drops a precreate hook's stderr
// ("executing [oci-gpu-hook precreate]: exit status 3" is all `podman start` says), so the hook's
// one line also goes to syslog and to the refusal log that `oci-gpu status` and `oci-gpu doctor`
// print. The shipped binary throughout; syslog is a datagram listener standing in for /dev/log
// (config log.syslog), since this VM has none.
import test, { type ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { cliBinary, HOOK_BIN, RUNTIME_BIN, runBinary, show, tempDir, writeHooksDir } from '../helpers/hook-env.js';
import { PODMAN, podmanTests, run, TEST_IMAGE } from '../helpers/podman.js';
import { eventually, runCli } from '../helpers/watch.js';

const { serial, why } = podmanTests();

test.before(async () => {
  await cliBinary();
});

/** A unix datagram socket standing in for /dev/log: every message received, one per entry. */
class SyslogListener {
  readonly messages: string[] = [];
  private readonly child: ChildProcess;
  constructor(readonly socket: string) {
    this.child = spawn('python3', ['-u', '-c', LISTENER, socket], { stdio: ['ignore', 'pipe', 'inherit'] });
    let partial = '';
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      this.messages.push(...lines);
    });
  }
  async started(): Promise<void> {
    await eventually(() => fs.existsSync(this.socket), { what: `the syslog listener on ${this.socket}` });
  }
  stop(): void {
    this.child.kill('SIGTERM');
  }
}

const LISTENER = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
while True:
    print(s.recv(65536).decode('utf-8', 'replace').replace('\\n', '\\\\n'), flush=True)
`;

interface Setup {
  dir: string;
  /** A manifest that does not exist (its folder does): every GPU request is refused with exit 3. */
  manifest: string;
  config: string;
  syslog: SyslogListener;
}

async function setup(t: ExecutionContext, settings: Record<string, unknown> = {}): Promise<Setup> {
  const dir = tempDir('refusals');
  fs.mkdirSync(path.join(dir, 'run'));
  const manifest = path.join(dir, 'run/manifest.json');
  const syslog = new SyslogListener(path.join(dir, 'syslog.sock'));
  t.teardown(() => syslog.stop());
  await syslog.started();
  const config = path.join(dir, 'config.json5');
  fs.writeFileSync(config, JSON.stringify({ log: { syslog: syslog.socket }, ...settings }));
  return { dir, manifest, config, syslog };
}

const syslogLine = (program: string, container: string, reason: string) =>
  new RegExp(`^<27>${program}\\[\\d+\\]: container ${container}: ${reason.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`);

serial(`podman: a precreate refusal podman start only reports as "exit status 3" is in syslog, oci-gpu status and oci-gpu doctor, with the container id${why}`, async (t) => {
  const s = await setup(t);
  const hooks = await writeHooksDir({ manifest: s.manifest, extraArgs: ['--config', s.config] });
  const created = await run(PODMAN, ['--hooks-dir', hooks.dir, 'create', '--network', 'none', '--pull', 'never', '--annotation', 'oci-gpu/devices=0', TEST_IMAGE, '/bin/true']);
  t.is(created.exitCode, 0, show(created));
  const id = created.stdout.trim();
  t.regex(id, /^[0-9a-f]{64}$/);
  t.teardown(() => void run(PODMAN, ['rm', '-f', id]));
  const started = await run(PODMAN, ['--hooks-dir', hooks.dir, 'start', id]);
  t.not(started.exitCode, 0, show(started));
  t.regex(started.stderr, /exit status 3/);
  t.log(`podman start says only: ${started.stderr.trim()}`);

  const reason = `manifest "${s.manifest}" does not exist: is oci-gpu-watch running?`;
  const status = runCli(['status', '--manifest', s.manifest]);
  t.is(status.code, 3, status.stderr);
  const log = path.join(s.dir, 'run/refusals.log');
  t.true(status.stderr.includes(`last refusals (${log}; also \`journalctl -t oci-gpu-hook -t oci-gpu-runtime\`):\n`), status.stderr);
  t.regex(status.stderr, new RegExp(`\\n  \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z container ${id}: ${reason.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  const json = JSON.parse(runCli(['status', '--manifest', s.manifest, '--json']).stdout);
  t.like(json.refusals.at(-1), { program: 'oci-gpu-hook', container: id });
  t.true(json.refusals.at(-1).reason.startsWith(reason));

  const doctor = runCli(['doctor', '--manifest', s.manifest]);
  t.true(doctor.stdout.includes(`container ${id}: ${reason}`), doctor.stdout);

  await eventually(() => s.syslog.messages.length > 0, { what: 'a syslog message' });
  t.is(s.syslog.messages.length, 1, s.syslog.messages.join('\n'));
  t.regex(s.syslog.messages[0]!, syslogLine('oci-gpu-hook', id, reason));
});

const GPU_CONFIG = (id: string) =>
  JSON.stringify({
    ociVersion: '1.0.2',
    process: { args: ['/bin/true'], env: ['PATH=/usr/bin:/bin'], cwd: '/' },
    root: { path: '/nonexistent-rootfs' },
    annotations: { 'oci-gpu/devices': '0' },
    mounts: [{ destination: '/etc/hostname', type: 'bind', source: `/run/containers/storage/overlay-containers/${id}/userdata/hostname` }],
  });
const ID = 'd0c7e2f1a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e';

test('the runtime wrapper: refusal in syslog and the refusal log, with the id from its argv', async (t) => {
  const s = await setup(t);
  const bundle = tempDir('refusal-bundle');
  fs.writeFileSync(path.join(bundle, 'config.json'), GPU_CONFIG(ID));
  const r = await run(RUNTIME_BIN, ['--manifest', s.manifest, '--config', s.config, '--root', path.join(bundle, 'state'), 'create', '--bundle', bundle, 'my-container']);
  t.is(r.exitCode, 3, show(r));
  t.is(r.stderr.split('\n').length, 2, r.stderr);
  const status = runCli(['status', '--manifest', s.manifest, '--json']);
  t.like(JSON.parse(status.stdout).refusals, [{ program: 'oci-gpu-runtime', container: 'my-container' }]);
  await eventually(() => s.syslog.messages.length > 0, { what: 'a syslog message' });
  t.regex(s.syslog.messages[0]!, syslogLine('oci-gpu-runtime', 'my-container', `manifest "${s.manifest}" does not exist`));
});

test('the legacy stages name the container from the state; a broken config is still recorded, beside --manifest', async (t) => {
  const s = await setup(t);
  const bundle = tempDir('refusal-legacy');
  fs.writeFileSync(path.join(bundle, 'config.json'), GPU_CONFIG(ID));
  const state = JSON.stringify({ ociVersion: '1.0.2', id: 'legacy-ctr-1', status: 'creating', pid: process.pid, bundle });
  const r = await runBinary(HOOK_BIN, ['createRuntime', '--manifest', s.manifest, '--config', s.config], state);
  t.not(r.exitCode, 0, show(r));
  const refusals = JSON.parse(runCli(['status', '--manifest', s.manifest, '--json']).stdout).refusals;
  t.like(refusals.at(-1), { program: 'oci-gpu-hook', container: 'legacy-ctr-1' });
  t.is(refusals.at(-1).reason, r.stderr.trim().replace(/^oci-gpu-hook: /, ''));

  // A config that does not parse refuses every container: recorded beside --manifest, naming none
  // (the hook fails before it reads the runtime's input).
  const broken = path.join(s.dir, 'broken.json5');
  fs.writeFileSync(broken, '{ log: ');
  const b = await runBinary(HOOK_BIN, ['precreate', '--manifest', s.manifest, '--config', broken], GPU_CONFIG(ID));
  t.is(b.exitCode, 1, show(b));
  const last = JSON.parse(runCli(['status', '--manifest', s.manifest, '--json']).stdout).refusals.at(-1);
  t.like(last, { program: 'oci-gpu-hook', container: 'unknown' });
  t.true(last.reason.startsWith(`config "${broken}"`), last.reason);
});

test('logging never changes a refusal: an unwritable log folder and a syslog path that is no socket still give exit 3 and one line', async (t) => {
  const dir = tempDir('refusal-nolog');
  fs.writeFileSync(path.join(dir, 'not-a-folder'), '');
  fs.writeFileSync(path.join(dir, 'not-a-socket'), '');
  const config = path.join(dir, 'config.json5');
  fs.writeFileSync(config, JSON.stringify({ log: { syslog: path.join(dir, 'not-a-socket') } }));
  const manifest = path.join(dir, 'not-a-folder/manifest.json');
  const r = await runBinary(HOOK_BIN, ['precreate', '--manifest', manifest, '--config', config], GPU_CONFIG(ID));
  t.is(r.exitCode, 3, show(r));
  t.is(r.stdout, '');
  t.regex(r.stderr, new RegExp(`^oci-gpu-hook: cannot read manifest "${manifest}": ENOTDIR[^\n]*\n$`));
  // No syslog socket at all, and syslog turned off: the same.
  for (const syslog of [path.join(dir, 'missing.sock'), '']) {
    fs.writeFileSync(config, JSON.stringify({ log: { syslog } }));
    const again = await runBinary(HOOK_BIN, ['precreate', '--manifest', manifest, '--config', config], GPU_CONFIG(ID));
    t.deepEqual([again.exitCode, again.stderr], [r.exitCode, r.stderr]);
  }
});

test('a container that asks for nothing is not a refusal and leaves no trace', async (t) => {
  const s = await setup(t);
  const input = JSON.stringify({ ociVersion: '1.0.2', process: { args: ['/bin/true'] }, root: { path: '/r' } });
  const r = await runBinary(HOOK_BIN, ['precreate', '--manifest', s.manifest, '--config', s.config], input);
  t.is(r.exitCode, 0, show(r));
  t.false(fs.existsSync(path.join(s.dir, 'run/refusals.log')));
  t.deepEqual(s.syslog.messages, []);
});
