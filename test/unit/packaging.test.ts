// packaging/: the systemd unit (checked by systemd-analyze), the tmpfiles.d entry (applied by
// systemd-tmpfiles to a temp root), the udev rules, and the generated config.json5 and
// docs/configuration.md, which must equal what scripts/gen-config.ts renders from SETTINGS.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CONFIG_FILE, DOC_FILE, accepts, renderConfigDoc, renderConfigJson5 } from '../../scripts/gen-config.js';
import { SETTINGS, defaultConfig, parseConfig } from '../../src/core/config.js';
import { missingBinary, need, needs, ROOT } from '../helpers/needs.js';
import { REPO_ROOT } from '../helpers/paths.js';

const UNIT_FILE = path.join(REPO_ROOT, 'packaging/systemd/oci-gpu-watch.service');
const TMPFILES = path.join(REPO_ROOT, 'packaging/tmpfiles.d/oci-gpu.conf');
const RULES = path.join(REPO_ROOT, 'packaging/udev/71-oci-gpu.rules');
const CLI = path.join(REPO_ROOT, 'bin/oci-gpu');

// systemd-analyze and systemd-tmpfiles come with Debian's systemd package (setup-host.sh installs it
// when they are missing): skipped with the reason without them, failed under test:all.
const systemdTool = (tool: string) => need(() => missingBinary([`/usr/bin/${tool}`], 'apt-get install systemd; scripts/setup-host.sh does'));
const withAnalyze = needs(systemdTool('systemd-analyze'));
// `security --offline` arrived in systemd 250 (Debian 12 has 252).
const withOffline = needs(
  systemdTool('systemd-analyze'),
  need(() => {
    const r = spawnSync('/usr/bin/systemd-analyze', ['security', '--offline=true', '--help'], { encoding: 'utf8' });
    return /unrecognized option|unknown option/i.test(`${r.stdout}${r.stderr}`) ? 'this systemd-analyze has no security --offline (systemd < 250)' : undefined;
  }),
);
// systemd-tmpfiles chowns what it creates to root: only root may.
const withTmpfiles = needs(ROOT, systemdTool('systemd-tmpfiles'));

const unitText = () => fs.readFileSync(UNIT_FILE, 'utf8');

/** The unit's [Service] (or other section's) settings: key → every value it is given, comments dropped. */
function section(text: string, name: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) current = header[1]!;
    else if (current === name) {
      const eq = line.indexOf('=');
      const key = line.slice(0, eq);
      (out.get(key) ?? out.set(key, []).get(key)!).push(line.slice(eq + 1));
    }
  }
  return out;
}

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oci-gpu-packaging-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A copy of the unit, as oci-gpu-watch.service in a temp dir, with ExecStart's program replaced by `program`. */
function unitCopy(t: { teardown(fn: () => void): void }, program: string, edit: (text: string) => string = (x) => x): string {
  const file = path.join(tempDir(t), 'oci-gpu-watch.service');
  fs.writeFileSync(file, edit(unitText().replace(/^ExecStart=\/usr\/bin\/oci-gpu /m, `ExecStart=${program} `)));
  return file;
}

function analyze(args: string[]): { code: number | null; output: string } {
  const r = spawnSync('systemd-analyze', args, { encoding: 'utf8', env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', SYSTEMD_LOG_COLOR: '0' } });
  return { code: r.status, output: (r.stdout + r.stderr).trim() };
}

withAnalyze.test(`systemd-analyze verify: the unit loads without a single warning${withAnalyze.why}`, (t) => {
  const r = analyze(['verify', unitCopy(t, CLI)]);
  t.deepEqual(r, { code: 0, output: '' });
});

withAnalyze.test(`systemd-analyze verify: the check sees a typo and a missing binary (so the test above means something)${withAnalyze.why}`, (t) => {
  const typo = analyze(['verify', unitCopy(t, CLI, (u) => u.replace('NotifyAccess=main', 'NotifyAccess=main\nNotifAccess=main').replace('Type=notify', 'Type=notfy'))]);
  t.regex(typo.output, /Unknown key 'NotifAccess'|Unknown key name 'NotifAccess'/);
  t.regex(typo.output, /notfy/);
  const missing = analyze(['verify', unitCopy(t, '/nonexistent/oci-gpu')]);
  t.not(missing.code, 0);
  t.regex(missing.output, /nonexistent\/oci-gpu/);
});

withOffline.test(`systemd-analyze security: exposure stays at 5.0 ("OK") or below${withOffline.why}`, (t) => {
  const file = unitCopy(t, CLI);
  const probe = analyze(['security', '--offline=true', file]);
  const overall = /Overall exposure level for oci-gpu-watch\.service: ([\d.]+)/.exec(probe.output);
  t.truthy(overall, probe.output.split('\n').slice(-3).join('\n'));
  t.log(`exposure ${overall?.[1]}`);
  t.is(analyze(['security', '--offline=true', '--threshold=50', file]).code, 0, `exposure ${overall?.[1]} is above 5.0`);
});

test('the unit: notify readiness from the daemon itself, a watchdog, reload by SIGHUP, restart on failure, the runtime folder kept', (t) => {
  const s = section(unitText(), 'Service');
  t.deepEqual(s.get('Type'), ['notify']);
  t.deepEqual(s.get('NotifyAccess'), ['main'], 'the daemon sends its own notifications');
  const watchdog = /^(\d+)s$/.exec(s.get('WatchdogSec')?.[0] ?? '');
  t.truthy(watchdog, `WatchdogSec: ${s.get('WatchdogSec')}`);
  t.true(Number(watchdog?.[1]) >= 30 && Number(watchdog?.[1]) <= 300, 'long enough for a scan of a large host, short enough to matter');
  t.deepEqual(s.get('ExecStart'), ['/usr/bin/oci-gpu watch']);
  t.deepEqual(s.get('ExecReload'), ["/bin/sh -c 'kill -HUP $MAINPID'"], 'no /bin/kill: procps is not on every host');
  t.deepEqual(s.get('WatchdogSignal'), ['SIGKILL']);
  t.deepEqual(s.get('Restart'), ['on-failure']);
  t.deepEqual(s.get('RuntimeDirectory'), ['oci-gpu']);
  t.deepEqual(s.get('RuntimeDirectoryPreserve'), ['yes'], 'a restart must not delete the manifest containers read');
  t.deepEqual(section(unitText(), 'Install').get('WantedBy'), ['multi-user.target']);
  // The daemon's side: it sends READY=1 and WATCHDOG=1 itself (a helper process would need NotifyAccess=all).
  const notify = fs.readFileSync(path.join(REPO_ROOT, 'src/adapters/sd-notify.ts'), 'utf8');
  t.regex(notify, /READY: '1'/);
  t.regex(notify, /WATCHDOG: '1'/);
  t.false(/systemd-notify'/.test(fs.readFileSync(path.join(REPO_ROOT, 'src/cli/watch.ts'), 'utf8')), 'no systemd-notify child');
});

test('the unit: no capability beyond reading and writing files of any mode (no CAP_SYS_ADMIN)', (t) => {
  const s = section(unitText(), 'Service');
  const caps = (s.get('CapabilityBoundingSet') ?? []).flatMap((v) => v.split(/\s+/)).sort();
  t.deepEqual(caps, ['CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH']);
  t.false(s.has('AmbientCapabilities'));
});

test('the unit: hardened, with the default manifest and CDI folders writable, and none of the options that would break it', (t) => {
  const s = section(unitText(), 'Service');
  t.deepEqual(s.get('ProtectSystem'), ['strict']);
  t.deepEqual(s.get('ProtectHome'), ['yes']);
  t.deepEqual(s.get('NoNewPrivileges'), ['yes']);
  const writable = (s.get('ReadWritePaths') ?? []).flatMap((v) => v.split(/\s+/)).map((p) => p.replace(/^-/, ''));
  const real = (p: string) => p.replace(/^\/var\/run\//, '/run/'); // /var/run is a link to /run
  const defaults = defaultConfig();
  for (const file of [defaults.manifest, defaults.cdi.path]) {
    t.true(writable.includes(real(path.dirname(file))), `${path.dirname(file)} (of the default ${file}) is writable: ${writable.join(' ')}`);
  }
  t.true(writable.includes('/dev/char'));
  const off = (key: string, bad: RegExp, why: string) => t.false((s.get(key) ?? []).some((v) => bad.test(v)), `${key}: ${why}`);
  off('ProcSubset', /pid/, 'the driver speaks through /proc/driver/nvidia and /proc/devices');
  off('ProtectProc', /invisible|noaccess/, 'nvidia-persistenced runs as another user');
  off('PrivateNetwork', /yes|true/, 'udevadm monitor needs the host netlink');
  off('MemoryDenyWriteExecute', /yes|true/, "Node's JIT needs W+X memory");
  off('PrivateTmp', /yes|true/, 'the MPS pipe folder is /tmp/nvidia-mps');
  off('PrivateDevices', /yes|true/, 'GPU nodes appear in the real /dev');
  off('ProtectClock', /yes|true/, 'it adds a device allow-list, which would deny keep-warm');
  t.false(s.has('DevicePolicy') || s.has('DeviceAllow'), 'device majors of nvidia-uvm/caps are assigned at driver load, after the unit starts');
});

withTmpfiles.test(`tmpfiles.d: systemd-tmpfiles creates the folders the unit writes to, 0755 root${withTmpfiles.why}`, (t) => {
  const root = tempDir(t);
  const r = spawnSync('systemd-tmpfiles', ['--create', `--root=${root}`, TMPFILES], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  t.is((r.stdout + r.stderr).trim(), '');
  const writable = (section(unitText(), 'Service').get('ReadWritePaths') ?? []).flatMap((v) => v.split(/\s+/)).filter((p) => !p.startsWith('-'));
  t.deepEqual(writable, ['/run/oci-gpu', '/run/cdi'], 'the writable folders without "-" must exist at start');
  for (const dir of writable) {
    const st = fs.statSync(path.join(root, dir));
    t.true(st.isDirectory(), dir);
    t.is(st.mode & 0o7777, 0o755, dir);
    t.is(st.uid, 0, dir);
  }
});

test('udev rules: well-formed, start the unit on the nvidia module, never RUN anything', (t) => {
  const lines = fs.readFileSync(RULES, 'utf8').split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'));
  t.true(lines.length > 0);
  const pair = /^\s*([A-Z_]+)(\{[^}]+\})?\s*(==|!=|\+=|-=|:=|=)\s*"((?:[^"\\]|\\.)*)"\s*$/;
  for (const line of lines) {
    const pairs = line.split(/,(?=(?:[^"]*"[^"]*")*[^"]*$)/);
    for (const p of pairs) t.regex(p, pair, `${line}: bad key/value "${p}"`);
    const keys = pairs.map((p) => pair.exec(p)!);
    for (const m of keys.filter((k) => ['ACTION', 'SUBSYSTEM', 'KERNEL'].includes(k[1]!))) t.is(m[3], '==', `${m[1]} is a match`);
    t.false(keys.some((k) => k[1] === 'RUN'), 'the watcher listens to udev itself');
    for (const m of keys.filter((k) => k[1] === 'ENV' && k[2] === '{SYSTEMD_WANTS}')) {
      t.true(fs.existsSync(path.join(REPO_ROOT, 'packaging/systemd', m[4]!)), `SYSTEMD_WANTS names ${m[4]}, which packaging/systemd holds`);
      t.true(keys.some((k) => k[1] === 'TAG' && k[4] === 'systemd'), 'SYSTEMD_WANTS needs TAG+="systemd"');
    }
  }
  t.true(lines.some((l) => /SUBSYSTEM=="module"/.test(l) && /KERNEL=="nvidia"/.test(l) && /SYSTEMD_WANTS/.test(l)));
});

test(`${CONFIG_FILE} and ${DOC_FILE} are what scripts/gen-config.ts renders from SETTINGS (run node dist/scripts/gen-config.js)`, (t) => {
  t.is(fs.readFileSync(path.join(REPO_ROOT, CONFIG_FILE), 'utf8'), renderConfigJson5());
  t.is(fs.readFileSync(path.join(REPO_ROOT, DOC_FILE), 'utf8'), renderConfigDoc());
});

test('config.json5: parses to the defaults as shipped, and still does with every setting uncommented', (t) => {
  const text = fs.readFileSync(path.join(REPO_ROOT, CONFIG_FILE), 'utf8');
  t.deepEqual(parseConfig(text, CONFIG_FILE), defaultConfig());
  const settingLine = /^(\s*)\/\/ ([A-Za-z]+: .*,)$/;
  const uncommented = text
    .split('\n')
    .map((l) => l.replace(settingLine, '$1$2'))
    .join('\n');
  t.is(uncommented.split('\n').filter((l) => /^\s+[A-Za-z]+: [^{]/.test(l)).length, SETTINGS.length, 'one line per setting');
  t.deepEqual(parseConfig(uncommented, CONFIG_FILE), defaultConfig());
});

test('docs/configuration.md lists every setting with its default and what it accepts', (t) => {
  const doc = fs.readFileSync(path.join(REPO_ROOT, DOC_FILE), 'utf8');
  for (const s of SETTINGS) {
    const row = doc.split('\n').find((l) => l.startsWith(`| \`${s.key}\` |`));
    t.truthy(row, s.key);
    t.true(row!.includes(`\`${JSON.stringify(s.default)}\``), `${s.key} default`);
    t.true(row!.includes(accepts(s)), `${s.key} accepts`);
  }
});
