// The watcher's unit under a real systemd: a Debian 12 rootfs with systemd and no Node.js
// (scripts/setup-host.sh debootstraps it), booted by Podman with systemd as PID 1 (`--systemd=always`;
// `--privileged` so systemd can apply the unit's sandboxing), the .deb installed with dpkg, and a
// copied fixture host bind-mounted at /fixture for the config's `root`. It proves: the package
// starts the watcher (Type=notify, READY=1 sent by the daemon itself with NotifyAccess=main and no
// CAP_SYS_ADMIN), STATUS= in `systemctl show`, reload with a good and a broken config, journald
// priorities (`journalctl -p warning`), a refusal in the journal under the hook's tag, and a scan
// stuck on a read (a FIFO where the driver's GPU information file is) ending in a watchdog restart.
// The steps run in order on one container; each waits "eventually, within a generous bound".
import test, { type ExecutionContext } from 'ava';
import { closeSync, constants, existsSync, linkSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { copyFixtureHost } from '../../scripts/fixture-host.js';
import { show, tempDir } from '../helpers/hook-env.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { need } from '../helpers/needs.js';
import { PODMAN, podmanTests, run } from '../helpers/podman.js';

const SYSTEMD_ROOTFS = '/var/lib/oci-gpu-test/systemd-rootfs';
const UNIT = 'oci-gpu-watch';
const GPU_INFO = 'proc/driver/nvidia/gpus/0000:00:06.0/information';

/** The rootfs scripts/setup-host.sh debootstraps. */
const SYSTEMD_ROOTFS_NEED = need(() => (existsSync(path.join(SYSTEMD_ROOTFS, 'lib/systemd/systemd')) ? undefined : `${SYSTEMD_ROOTFS} is missing (scripts/setup-host.sh)`));
const gate = podmanTests(SYSTEMD_ROOTFS_NEED);
const { serial, why } = gate;

const name = `oci-gpu-systemd-${process.pid}`;
let fixture = '';
let deb = '';

/** Runs a shell command line in the container. */
async function sh(command: string, timeout = 120_000) {
  return run(PODMAN, ['exec', name, '/bin/sh', '-c', command], { timeout });
}

/** `systemctl show` of the unit as an object. */
async function unit(...props: string[]): Promise<Record<string, string>> {
  const r = await sh(`systemctl show ${props.map((p) => `-p ${p}`).join(' ')} ${UNIT}`);
  if (r.exitCode !== 0) throw new Error(show(r));
  return Object.fromEntries(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

/** Polls an async check until it returns something truthy; throws naming `what` after a generous bound. */
async function until<T>(check: () => Promise<T | null | false | undefined>, what: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function journal(args: string): Promise<string[]> {
  return (await sh(`journalctl --no-pager -o cat ${args}`)).stdout.split('\n').filter(Boolean);
}

async function config(t: ExecutionContext, settings: string): Promise<void> {
  const r = await sh(`printf '%s\\n' '${settings}' > /etc/oci-gpu/config.json5`);
  t.is(r.exitCode, 0, show(r));
}

test.before(async () => {
  // Skipped, or under test:all with a prerequisite missing: each test says why.
  if (gate.skipped || gate.missing() !== undefined) return;
  const out = tempDir('systemd-deb');
  const binary = await run('/bin/sh', [path.join(REPO_ROOT, 'scripts/build.sh'), 'amd64'], { cwd: REPO_ROOT, timeout: 300_000 });
  if (binary.exitCode !== 0) throw new Error(show(binary));
  const built = await run(process.execPath, [path.join(REPO_ROOT, 'dist/scripts/build-deb.js'), '--arch', 'amd64', '--output', out], { timeout: 300_000 });
  if (built.exitCode !== 0) throw new Error(show(built));
  const version = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  deb = `oci-gpu_${version}_amd64.deb`;
  fixture = copyFixtureHost('h200');
  const started = await run(PODMAN, [
    'run', '-d', '--name', name, '--privileged', '--systemd=always', '--network', 'none',
    '-v', `${out}:/deb:ro`, '-v', `${fixture}:/fixture`,
    '--rootfs', `${SYSTEMD_ROOTFS}:O`, '/sbin/init',
  ]);
  if (started.exitCode !== 0) throw new Error(show(started));
  await until(async () => ['running', 'degraded'].includes((await sh('systemctl is-system-running')).stdout.trim()), `systemd in ${name} to come up`);
});

test.after.always(async () => {
  await run(PODMAN, ['rm', '-f', '-t', '0', name]);
  if (fixture) rmSync(fixture, { recursive: true, force: true });
});

serial(`.deb on Debian 12 with systemd and no Node.js: dpkg -i starts the watcher; READY=1 from the daemon itself, NotifyAccess=main, no CAP_SYS_ADMIN${why}`, async (t) => {
  t.not((await sh('command -v node')).exitCode, 0, 'no node in this rootfs');
  const installed = await sh(`dpkg -i /deb/${deb}`);
  t.is(installed.exitCode, 0, show(installed));
  // `systemctl enable --now` in postinst returned: Type=notify, so systemd got READY=1 before that.
  t.is((await sh(`systemctl is-active ${UNIT}`)).stdout.trim(), 'active');
  t.like(await unit('NotifyAccess', 'CapabilityBoundingSet', 'WatchdogUSec', 'NRestarts', 'StatusText', 'Type'), {
    Type: 'notify',
    NotifyAccess: 'main',
    CapabilityBoundingSet: 'cap_dac_override cap_dac_read_search',
    WatchdogUSec: '1min',
    NRestarts: '0',
    // This container has no driver: what the first scan found.
    StatusText: 'no NVIDIA driver loaded',
  });
});

serial(`reload: a config naming the fixture host is applied (StatusText); a broken one is rejected and said so; journalctl -p warning shows the error, not the info lines${why}`, async (t) => {
  const { MainPID } = await unit('MainPID');
  await config(t, '{ root: "/fixture", watch: { udev: false, charLinks: false, debounceMs: 50 } }');
  const reload = await sh(`systemctl reload ${UNIT}`);
  t.is(reload.exitCode, 0, show(reload));
  const status = await until(async () => {
    const text = (await unit('StatusText')).StatusText!;
    return text.startsWith('driver ') ? text : null;
  }, 'StatusText with the fixture host\'s driver');
  t.regex(status, /^driver 580\.159\.04, 1 GPU, \d+ driver files$/);
  const manifest = JSON.parse((await sh('cat /run/oci-gpu/manifest.json')).stdout);
  t.is(manifest.driver.version, '580.159.04');
  t.is((await sh('stat -c %a /run/oci-gpu/manifest.json')).stdout.trim(), '644');

  await config(t, '{ watch: { debounceMs: "fast" } }');
  t.is((await sh(`systemctl reload ${UNIT}`)).exitCode, 0);
  const rejected = `${status}; configuration rejected, running on the previous one: config "/etc/oci-gpu/config.json5": watch.debounceMs: must be an integer from 0 to 60000`;
  await until(async () => (await unit('StatusText')).StatusText === rejected, 'StatusText saying the config was rejected');
  t.like(await unit('StatusText', 'MainPID', 'ActiveState'), { StatusText: rejected, MainPID, ActiveState: 'active' });

  const warnings = await journal(`-u ${UNIT} -p warning`);
  t.true(warnings.includes('error: SIGHUP: keeping the current configuration: config "/etc/oci-gpu/config.json5": watch.debounceMs: must be an integer from 0 to 60000'), warnings.join('\n'));
  t.deepEqual(warnings.filter((l) => /^(info|debug): /.test(l)), []);
  const all = await journal(`-u ${UNIT} -p info`);
  t.true(all.includes('info: configuration reloaded'), all.join('\n'));
  t.false(all.some((l) => /^<\d>/.test(l)), 'journald took the prefixes as priorities');
  await config(t, '{ root: "/fixture", watch: { udev: false, charLinks: false, debounceMs: 50 } }');
  t.is((await sh(`systemctl reload ${UNIT}`)).exitCode, 0);
});

serial(`a refused container start is in the journal under the hook's tag and in oci-gpu status${why}`, async (t) => {
  const id = 'a'.repeat(64);
  const input = JSON.stringify({ ociVersion: '1.0.2', root: { path: '/r' }, annotations: { 'oci-gpu/devices': '0' }, mounts: [{ destination: '/etc/hostname', source: `/var/lib/containers/storage/overlay-containers/${id}/userdata/hostname` }] });
  const hook = await sh(`printf '%s' '${input}' | /usr/libexec/oci-gpu/oci-gpu-hook precreate --manifest /run/oci-gpu/missing.json`);
  t.is(hook.exitCode, 3, show(hook));
  const expected = `container ${id}: manifest "/run/oci-gpu/missing.json" does not exist`;
  await until(async () => (await journal('-t oci-gpu-hook -p err')).some((l) => l.startsWith(expected)), `"${expected}" in journalctl -t oci-gpu-hook -p err`);
  const status = await sh('oci-gpu status --manifest /run/oci-gpu/missing.json');
  t.is(status.exitCode, 3);
  t.true(status.stderr.includes(expected), status.stderr);
});

serial(`watchdog: a scan stuck reading the driver's GPU file gets the watcher killed and restarted; it recovers once the read returns${why}`, async (t) => {
  // A short watchdog for the test (the unit's is 60 s), through a drop-in as an admin would.
  const dropIn = await sh(`mkdir -p /etc/systemd/system/${UNIT}.service.d && printf '[Service]\\nWatchdogSec=3s\\n' > /etc/systemd/system/${UNIT}.service.d/test.conf && systemctl daemon-reload && systemctl restart ${UNIT}`);
  t.is(dropIn.exitCode, 0, show(dropIn));
  const before = await unit('MainPID', 'NRestarts', 'WatchdogUSec', 'ActiveState');
  t.like(before, { WatchdogUSec: '3s', ActiveState: 'active' });
  await new Promise((r) => setTimeout(r, 4000)); // longer than the watchdog: pings keep a healthy watcher alive
  t.like(await unit('MainPID', 'NRestarts'), { MainPID: before.MainPID, NRestarts: before.NRestarts });

  // The driver's file becomes a FIFO with no writer: the next scan blocks in open(2), as a hung driver read would.
  const info = path.join(fixture, GPU_INFO);
  const content = readFileSync(info);
  rmSync(info);
  t.is((await run('/usr/bin/mkfifo', [info])).exitCode, 0);
  t.is((await sh(`kill -HUP ${before.MainPID}`)).exitCode, 0);
  const after = await until(async () => {
    const u = await unit('MainPID', 'NRestarts');
    // NRestarts counts up before the new process exists (MainPID is 0 for that moment): wait for its pid.
    return u.NRestarts !== before.NRestarts && u.MainPID !== '0' ? u : null;
  }, 'a restart after the watchdog timeout');
  t.is(Number(after.NRestarts), Number(before.NRestarts) + 1);
  t.not(after.MainPID, before.MainPID);
  const log = await journal(`-u ${UNIT}`);
  t.true(log.some((l) => l.includes('Watchdog timeout (limit 3s)!')), log.slice(-15).join('\n'));
  t.true(log.some((l) => l.includes("Failed with result 'watchdog'")), log.slice(-15).join('\n'));

  // The new watcher's first scan blocks on the same FIFO. Put the file back, then feed the FIFO it
  // opened (through a second link to it): its read returns and it becomes ready without a restart.
  const keep = path.join(fixture, '.stuck-fifo');
  linkSync(info, keep);
  writeFileSync(`${info}.new`, content);
  renameSync(`${info}.new`, info);
  const fed = Date.now() + 30_000;
  for (;;) {
    try {
      const fd = openSync(keep, constants.O_WRONLY | constants.O_NONBLOCK);
      writeSync(fd, content);
      closeSync(fd);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENXIO' || Date.now() > fed) throw error; // no reader yet
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  rmSync(keep);
  const state = await until(async () => {
    const u = await unit('ActiveState', 'MainPID', 'StatusText', 'NRestarts');
    return u.ActiveState === 'active' ? u : null;
  }, 'the restarted watcher to become active');
  t.like(state, { ActiveState: 'active', MainPID: after.MainPID, NRestarts: after.NRestarts });
  t.regex(state.StatusText!, /^driver 580\.159\.04, 1 GPU, /);
});
