// Install/uninstall planning on an in-memory host: what a fresh install does, that a second one
// changes nothing, the config kept, the record, systemd or not, --prefix, --docker, uninstall.
import test from 'ava';
import crypto from 'node:crypto';
import { parseInstallRecord, planInstall, planUninstall, type DockerState } from '../../src/core/install/install-plan.js';
import { layoutInstall, rewriteConfig, rewriteHooksEntry, rewriteUnit, type InstallSources } from '../../src/core/install/install-layout.js';
import { OciGpuError, ParseError } from '../../src/errors.js';
import type { HostFacts, InstallAction, InstallOptions, InstallPlan, InstallRecord, PathState } from '../../src/model/install.js';

const sha = (text: string) => crypto.createHash('sha256').update(text).digest('hex');

const HOOK_ENTRY = JSON.stringify({ version: '1.0.0', hook: { path: '/usr/libexec/oci-gpu/oci-gpu-hook', args: ['oci-gpu-hook', 'precreate'] }, when: { always: true }, stages: ['precreate'] });
const SOURCES: InstallSources = {
  binary: { file: '/src/build/oci-gpu', sha256: sha('binary') },
  hooksD: { 'oci-gpu.json': HOOK_ENTRY, 'oci-gpu-cdi.json': HOOK_ENTRY, 'oci-gpu-nvidia-env.json': HOOK_ENTRY },
  unit: '[Service]\nType=notify\nExecStart=/usr/bin/oci-gpu watch\n',
  tmpfiles: 'd /run/oci-gpu 0755 root root -\n',
  udevRules: 'ACTION=="add", SUBSYSTEM=="module", KERNEL=="nvidia"\n',
  config: '{\n  hook: {\n    // scanCommand: "/usr/bin/oci-gpu",\n  },\n}\n',
};
const FILE_SHAS = new Map([['/src/build/oci-gpu', SOURCES.binary.sha256]]);

const SYSTEMD: HostFacts = { systemd: true, unitEnabled: false, unitActive: false, systemctl: '/usr/bin/systemctl', systemdTmpfiles: '/usr/bin/systemd-tmpfiles', udevadm: null, debInstalled: false };
const NO_SYSTEMD: HostFacts = { ...SYSTEMD, systemd: false, systemctl: null };

/** A host in memory: a Debian-like tree of folders, then whatever plans do to it. */
class Host {
  paths = new Map<string, PathState>();
  constructor(dirs = ['/usr', '/usr/bin', '/usr/lib', '/usr/libexec', '/usr/share', '/usr/lib/systemd', '/usr/lib/systemd/system', '/usr/lib/tmpfiles.d', '/etc', '/var', '/var/lib']) {
    for (const d of dirs) this.paths.set(d, { type: 'dir' });
  }
  state = (p: string): PathState => this.paths.get(p) ?? { type: 'absent' };
  record(at = '/var/lib/oci-gpu/installed.json'): InstallRecord | null {
    const s = this.paths.get(at) as (PathState & { text?: string }) | undefined;
    return s?.text ? parseInstallRecord(s.text, at) : null;
  }
  text(p: string): string | undefined {
    return (this.paths.get(p) as { text?: string } | undefined)?.text;
  }
  apply(plan: InstallPlan): void {
    for (const a of plan.actions) {
      switch (a.op) {
        case 'mkdir':
          this.paths.set(a.path, { type: 'dir' });
          break;
        case 'write': {
          const text = 'text' in a.source ? a.source.text : undefined;
          const sum = text !== undefined ? sha(text) : FILE_SHAS.get((a.source as { file: string }).file)!;
          this.paths.set(a.path, { type: 'file', sha256: sum, mode: a.mode, text } as PathState);
          break;
        }
        case 'chmod':
          this.paths.set(a.path, { ...(this.paths.get(a.path) as PathState & { type: 'file' }), mode: a.mode });
          break;
        case 'link':
          this.paths.set(a.path, { type: 'symlink', target: a.target });
          break;
        case 'copy':
          this.paths.set(a.path, { ...this.paths.get(a.from)! });
          break;
        case 'remove':
          this.paths.delete(a.path);
          break;
        case 'rmdir':
          if (![...this.paths.keys()].some((p) => p.startsWith(`${a.path}/`))) this.paths.delete(a.path);
          break;
        case 'record':
          if (a.record) {
            const text = JSON.stringify(a.record, null, 2) + '\n';
            this.paths.set(a.path, { type: 'file', sha256: sha(text), mode: 0o644, text } as PathState);
          } else this.paths.delete(a.path);
          break;
        default:
          break;
      }
    }
  }
  editFile(p: string, text: string): void {
    this.paths.set(p, { type: 'file', sha256: sha(text), mode: 0o644, text } as PathState);
  }
  docker(p = '/etc/docker/daemon.json'): DockerState | null {
    const text = this.text(p) ?? null;
    return { text, mode: 0o644, sha256: text === null ? null : sha(text), backupExists: this.paths.has(`${p}.oci-gpu.bak`) };
  }
}

const OPTIONS: InstallOptions = { prefix: '/', nvidiaEnv: false, docker: false, manifest: null };

function install(host: Host, options: Partial<InstallOptions> = {}, facts: HostFacts = SYSTEMD): InstallPlan {
  const o = { ...OPTIONS, ...options };
  const recordAt = o.prefix === '/' ? '/var/lib/oci-gpu/installed.json' : `${o.prefix}/var/lib/oci-gpu/installed.json`;
  return planInstall({
    options: o,
    version: '0.1.0',
    placements: layoutInstall(SOURCES, o, sha),
    state: host.state,
    previous: host.record(recordAt),
    facts,
    docker: o.docker || host.record(recordAt)?.docker ? host.docker(o.prefix === '/' ? undefined : `${o.prefix}/etc/docker/daemon.json`) : null,
  });
}

const ops = (plan: InstallPlan, op: InstallAction['op']) => plan.actions.filter((a) => a.op === op);
const paths = (plan: InstallPlan, op: InstallAction['op']) => ops(plan, op).map((a) => ('path' in a ? a.path : ''));
const runs = (plan: InstallPlan) => ops(plan, 'run').map((a) => (a as { argv: string[] }).argv.join(' '));
const changes = (plan: InstallPlan) => plan.actions.filter((a) => a.op !== 'keep' && a.op !== 'leave');

test('fresh install with systemd: every file, folders first, the record, then tmpfiles, daemon-reload, enable --now', (t) => {
  const host = new Host();
  const plan = install(host);
  t.deepEqual(paths(plan, 'write').sort(), [
    '/etc/oci-gpu/config.json5',
    '/usr/bin/oci-gpu',
    '/usr/lib/systemd/system/oci-gpu-watch.service',
    '/usr/lib/tmpfiles.d/oci-gpu.conf',
    '/usr/lib/udev/rules.d/71-oci-gpu.rules',
    '/usr/share/containers/oci/hooks.d/oci-gpu-cdi.json',
    '/usr/share/containers/oci/hooks.d/oci-gpu.json',
  ]);
  t.deepEqual(ops(plan, 'link'), [
    { op: 'link', path: '/usr/libexec/oci-gpu/oci-gpu-hook', target: '../../bin/oci-gpu', why: 'new' },
    { op: 'link', path: '/usr/bin/oci-gpu-runtime', target: 'oci-gpu', why: 'new' },
  ]);
  t.deepEqual(paths(plan, 'mkdir').slice(0, 1), ['/usr/libexec/oci-gpu']);
  t.true(paths(plan, 'mkdir').includes('/usr/share/containers'), 'creates each missing level');
  t.false(paths(plan, 'mkdir').includes('/usr/lib/systemd/system'), 'never an existing folder');
  // Each folder is created before anything in it.
  plan.actions.forEach((a, i) => {
    if (a.op === 'mkdir') t.false(plan.actions.slice(0, i).some((b) => 'path' in b && b.path.startsWith(`${a.path}/`)), a.path);
  });
  t.deepEqual(runs(plan), [
    '/usr/bin/systemd-tmpfiles --create /usr/lib/tmpfiles.d/oci-gpu.conf',
    '/usr/bin/systemctl daemon-reload',
    '/usr/bin/systemctl enable --now oci-gpu-watch.service',
  ]);
  const recordAt = plan.actions.findIndex((a) => a.op === 'record');
  t.true(recordAt > 0 && recordAt < plan.actions.findIndex((a) => a.op === 'run'), 'recorded before any command runs');
  t.deepEqual(plan.notes, []);
});

test('a second install changes nothing: only keeps, no record rewrite, no command', (t) => {
  const host = new Host();
  host.apply(install(host));
  const again = install(host, {}, { ...SYSTEMD, unitEnabled: true, unitActive: true });
  t.deepEqual(changes(again), []);
  t.true(again.actions.every((a) => a.op === 'keep' && a.why === 'unchanged'));
});

test('the service is enabled again when it was disabled, and restarted after an upgrade', (t) => {
  const host = new Host();
  host.apply(install(host));
  t.deepEqual(runs(install(host, {}, { ...SYSTEMD, unitEnabled: false, unitActive: true })), ['/usr/bin/systemctl enable --now oci-gpu-watch.service']);
  host.editFile('/usr/bin/oci-gpu', 'old binary');
  const upgrade = install(host, {}, { ...SYSTEMD, unitEnabled: true, unitActive: true });
  t.deepEqual(ops(upgrade, 'write'), [{ op: 'write', path: '/usr/bin/oci-gpu', mode: 0o755, source: { file: '/src/build/oci-gpu' }, why: 'changed' }]);
  t.deepEqual(runs(upgrade), ['/usr/bin/systemctl daemon-reload', '/usr/bin/systemctl try-restart oci-gpu-watch.service']);
});

test('the config is written only when absent and never overwritten; uninstall leaves it once edited', (t) => {
  const host = new Host();
  host.apply(install(host));
  t.is(host.text('/etc/oci-gpu/config.json5'), SOURCES.config);
  host.editFile('/etc/oci-gpu/config.json5', '{ log: { level: "debug" } }');
  const again = install(host, {}, { ...SYSTEMD, unitEnabled: true, unitActive: true });
  t.deepEqual(again.actions.find((a) => 'path' in a && a.path === '/etc/oci-gpu/config.json5'), { op: 'keep', path: '/etc/oci-gpu/config.json5', why: 'exists: never overwritten' });
  t.deepEqual(changes(again), []);
  const un = planUninstall({ record: host.record()!, recordPath: '/var/lib/oci-gpu/installed.json', state: host.state, facts: SYSTEMD, docker: null });
  t.deepEqual(un.actions.find((a) => 'path' in a && a.path === '/etc/oci-gpu/config.json5'), { op: 'leave', path: '/etc/oci-gpu/config.json5', why: 'changed since install: left in place' });
});

test('a config that was there before install is not ours: uninstall never lists it', (t) => {
  const host = new Host([...new Host().paths.keys(), '/etc/oci-gpu']);
  host.editFile('/etc/oci-gpu/config.json5', '{}');
  host.apply(install(host));
  t.false(host.record()!.files.some((f) => f.path === '/etc/oci-gpu/config.json5'));
  t.false(host.record()!.dirs.includes('/etc/oci-gpu'));
});

test('without systemd as PID 1: no systemctl, a note with the watch command', (t) => {
  const plan = install(new Host(), {}, NO_SYSTEMD);
  t.deepEqual(runs(plan), ['/usr/bin/systemd-tmpfiles --create /usr/lib/tmpfiles.d/oci-gpu.conf']);
  t.is(plan.notes.length, 1);
  t.regex(plan.notes[0]!, /systemd is not running.*\/usr\/bin\/oci-gpu watch/);
});

test('--prefix: everything under it, files name each other under it, no command at all', (t) => {
  const host = new Host(['/tmp/p']);
  const plan = install(host, { prefix: '/tmp/p', docker: true }, SYSTEMD);
  t.deepEqual(runs(plan), []);
  for (const a of plan.actions) if ('path' in a) t.true(a.path.startsWith('/tmp/p/'), a.path);
  t.is(paths(plan, 'mkdir')[0], '/tmp/p/usr');
  host.apply(plan);
  const hook = JSON.parse(host.text('/tmp/p/usr/share/containers/oci/hooks.d/oci-gpu.json')!);
  t.is(hook.hook.path, '/tmp/p/usr/libexec/oci-gpu/oci-gpu-hook');
  t.deepEqual(hook.hook.args, ['oci-gpu-hook', 'precreate', '--config', '/tmp/p/etc/oci-gpu/config.json5']);
  t.regex(host.text('/tmp/p/usr/lib/systemd/system/oci-gpu-watch.service')!, /^ExecStart=\/tmp\/p\/usr\/bin\/oci-gpu watch --config \/tmp\/p\/etc\/oci-gpu\/config.json5$/m);
  t.deepEqual(host.paths.get('/tmp/p/usr/libexec/oci-gpu/oci-gpu-hook'), { type: 'symlink', target: '../../bin/oci-gpu' });
  t.deepEqual(JSON.parse(host.text('/tmp/p/etc/docker/daemon.json')!), {
    runtimes: { 'oci-gpu': { path: '/tmp/p/usr/bin/oci-gpu-runtime', runtimeArgs: ['--config', '/tmp/p/etc/oci-gpu/config.json5'] } },
  });
  t.regex(host.text('/tmp/p/etc/oci-gpu/config.json5')!, /^ {4}scanCommand: "\/tmp\/p\/usr\/bin\/oci-gpu",$/m);
});

test('--manifest goes to the hook, the watcher and the Docker runtime', (t) => {
  const host = new Host();
  host.apply(install(host, { manifest: '/srv/m.json', docker: true }));
  t.deepEqual(JSON.parse(host.text('/usr/share/containers/oci/hooks.d/oci-gpu.json')!).hook.args, ['oci-gpu-hook', 'precreate', '--manifest', '/srv/m.json']);
  t.regex(host.text('/usr/lib/systemd/system/oci-gpu-watch.service')!, /^ExecStart=\/usr\/bin\/oci-gpu watch --manifest \/srv\/m\.json$/m);
  t.deepEqual(JSON.parse(host.text('/etc/docker/daemon.json')!).runtimes['oci-gpu'], { path: '/usr/bin/oci-gpu-runtime', runtimeArgs: ['--manifest', '/srv/m.json'] });
});

test('--nvidia-env adds the always-on entry; a later install without it removes it (or leaves it when edited)', (t) => {
  const host = new Host();
  host.apply(install(host, { nvidiaEnv: true }));
  const env = '/usr/share/containers/oci/hooks.d/oci-gpu-nvidia-env.json';
  t.truthy(host.text(env));
  const without = install(host);
  t.deepEqual(ops(without, 'remove'), [{ op: 'remove', path: env, why: 'not asked for this time' }]);
  host.editFile(env, '{"edited": true}');
  t.deepEqual(ops(install(host), 'leave'), [{ op: 'leave', path: env, why: 'changed since install: left in place' }]);
});

test('--docker with an existing daemon.json: backed up once, merged, then unchanged', (t) => {
  const host = new Host([...new Host().paths.keys(), '/etc/docker']);
  host.editFile('/etc/docker/daemon.json', '{\n    "debug": true\n}\n');
  const plan = install(host, { docker: true });
  t.deepEqual(ops(plan, 'copy'), [{ op: 'copy', from: '/etc/docker/daemon.json', path: '/etc/docker/daemon.json.oci-gpu.bak', why: 'the original, before our first edit' }]);
  t.regex(plan.notes.join('\n'), /docker run --runtime oci-gpu/);
  host.apply(plan);
  t.deepEqual(JSON.parse(host.text('/etc/docker/daemon.json')!), { debug: true, runtimes: { 'oci-gpu': { path: '/usr/bin/oci-gpu-runtime' } } });
  const again = install(host, { docker: true }, { ...SYSTEMD, unitEnabled: true, unitActive: true });
  t.deepEqual(changes(again), []);
  // Uninstall: our entry out, the other key kept, the backup (unchanged) removed.
  const un = planUninstall({ record: host.record()!, recordPath: '/var/lib/oci-gpu/installed.json', state: host.state, facts: NO_SYSTEMD, docker: host.docker() });
  host.apply(un);
  t.deepEqual(JSON.parse(host.text('/etc/docker/daemon.json')!), { debug: true });
  t.false(host.paths.has('/etc/docker/daemon.json.oci-gpu.bak'));
  t.true(host.paths.has('/etc/docker'), 'a folder that was there before stays');
});

test('--docker refuses an unparsable daemon.json with one line naming it', (t) => {
  const host = new Host();
  host.editFile('/etc/docker/daemon.json', '{ "debug": true, }');
  const error = t.throws(() => install(host, { docker: true }), { instanceOf: ParseError });
  t.regex(error!.message, /^docker config "\/etc\/docker\/daemon\.json": not valid JSON/);
});

test('refuses when the Debian package owns the installation', (t) => {
  const error = t.throws(() => install(new Host(), {}, { ...SYSTEMD, debInstalled: true }), { instanceOf: OciGpuError });
  t.regex(error!.message, /Debian package.*dpkg -r oci-gpu/);
});

test('a folder in the way of a file is refused', (t) => {
  const host = new Host([...new Host().paths.keys(), '/usr/bin/oci-gpu']);
  t.throws(() => install(host), { instanceOf: OciGpuError, message: /"\/usr\/bin\/oci-gpu" is a folder/ });
});

test('uninstall: systemd stop first, every unchanged file, the record, created folders deepest first, daemon-reload last', (t) => {
  const host = new Host();
  const before = new Map(host.paths);
  host.apply(install(host));
  host.editFile('/usr/share/containers/oci/hooks.d/oci-gpu-cdi.json', 'mine now');
  const un = planUninstall({ record: host.record()!, recordPath: '/var/lib/oci-gpu/installed.json', state: host.state, facts: { ...SYSTEMD, unitEnabled: true, unitActive: true }, docker: null });
  t.deepEqual(un.actions[0], { op: 'run', argv: ['/usr/bin/systemctl', 'disable', '--now', 'oci-gpu-watch.service'], why: 'stop the watcher' });
  t.deepEqual(un.actions.at(-1), { op: 'run', argv: ['/usr/bin/systemctl', 'daemon-reload'], why: 'forget the unit' });
  t.deepEqual(ops(un, 'leave').map((a) => (a as { path: string }).path), ['/usr/share/containers/oci/hooks.d/oci-gpu-cdi.json']);
  const rmdirs = paths(un, 'rmdir');
  t.true(rmdirs.indexOf('/usr/share/containers/oci/hooks.d') < rmdirs.indexOf('/usr/share/containers'));
  host.apply(un);
  // Everything else is gone: only the edited file (and the folders holding it) remain.
  const left = [...host.paths.keys()].filter((p) => !before.has(p)).sort();
  t.deepEqual(left, ['/usr/share/containers', '/usr/share/containers/oci', '/usr/share/containers/oci/hooks.d', '/usr/share/containers/oci/hooks.d/oci-gpu-cdi.json']);
});

test('uninstall of a --prefix tree leaves nothing behind and runs nothing', (t) => {
  const host = new Host(['/tmp/p']);
  host.apply(install(host, { prefix: '/tmp/p', docker: true, nvidiaEnv: true }));
  const un = planUninstall({ record: host.record('/tmp/p/var/lib/oci-gpu/installed.json')!, recordPath: '/tmp/p/var/lib/oci-gpu/installed.json', state: host.state, facts: SYSTEMD, docker: host.docker('/tmp/p/etc/docker/daemon.json') });
  t.deepEqual(runs(un), []);
  host.apply(un);
  t.deepEqual([...host.paths.keys()], ['/tmp/p']);
});

test('layout pieces: hooks entry, unit and config', (t) => {
  t.deepEqual(JSON.parse(rewriteHooksEntry(HOOK_ENTRY, 'x.json', '/h', [])).hook, { path: '/h', args: ['oci-gpu-hook', 'precreate'] });
  t.throws(() => rewriteHooksEntry('{', 'hooks.d/x.json', '/h', []), { message: /hooks\.d\/x\.json is not valid JSON/ });
  t.throws(() => rewriteUnit('[Service]\nExecStart=/bin/true\n', '/usr/bin/oci-gpu', []), { message: /no "ExecStart=\.\.\. watch" line/ });
  t.is(rewriteUnit('ExecStart=-/usr/local/bin/oci-gpu watch --log-format json\n', '/x/oci-gpu', ['--config', '/c']), 'ExecStart=-/x/oci-gpu watch --config /c --log-format json\n');
  t.is(rewriteConfig(SOURCES.config, '/'), SOURCES.config);
  t.regex(rewriteConfig(SOURCES.config, '/p'), /^ {4}scanCommand: "\/p\/usr\/bin\/oci-gpu",$/m);
});

test('parseInstallRecord: every problem with its path', (t) => {
  const error = t.throws(() => parseInstallRecord('{"schema":"x","prefix":1,"files":[{"path":"rel","type":"file"}],"dirs":["a"]}', '/r.json'), { instanceOf: ParseError });
  t.regex(error!.message, /^install record "\/r\.json": schema: must be "oci-gpu\/installed\/v1"; prefix: must be a string; files\[0\]\.path: must be an absolute path/);
  t.throws(() => parseInstallRecord('nope', '/r.json'), { instanceOf: ParseError, message: /^install record "\/r\.json": / });
});
