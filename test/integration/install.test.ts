// `oci-gpu install` / `oci-gpu uninstall` into --prefix trees (never the real /usr): what lands where,
// idempotence, --dry-run, the root check, the edited config kept, uninstall leaving nothing else,
// daemon.json merged and its entry runnable by runc, and Podman using the installed hooks.d entry.
// Needs root (runc, podman, setpriv to act as another user). The real system install is system-install.test.ts.
import test from 'ava';
import { chownSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cliBinary, ENXIO, fixtureManifest, makeBundle, parseProbe, PROBE, show, tempDir } from '../helpers/hook-env.js';
import { cli, diffSnapshots, snapshot } from '../helpers/install-env.js';
import { podmanRun, podmanTests, podmanUnavailableReason, run } from '../helpers/podman.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { IS_ROOT, rootTest, NEEDS_ROOT as why } from '../helpers/root.js';

const NOBODY = 65534;
// The tests that run a container need podman's prerequisites (runc, the test rootfs); the rest only root.
const pod = podmanTests();

test.before('the binary and a fixture manifest', async () => {
  if (!IS_ROOT) return;
  await Promise.all([cliBinary(), fixtureManifest('h200')]);
});

/** An empty --prefix folder (0755, so another user can read what goes in). */
function prefixDir(name: string): string {
  const dir = path.join(tempDir(`prefix-${name}`), 'root');
  mkdirSync(dir, { mode: 0o755 });
  return dir;
}

async function install(prefix: string, ...flags: string[]) {
  return cli(['install', '--prefix', prefix, ...flags]);
}

const EXPECTED = [
  'etc/oci-gpu/config.json5',
  'usr/bin/oci-gpu',
  'usr/bin/oci-gpu-runtime',
  'usr/lib/systemd/system/oci-gpu-watch.service',
  'usr/lib/tmpfiles.d/oci-gpu.conf',
  'usr/lib/udev/rules.d/71-oci-gpu.rules',
  'usr/libexec/oci-gpu/oci-gpu-hook',
  'usr/share/containers/oci/hooks.d/oci-gpu-cdi.json',
  'usr/share/containers/oci/hooks.d/oci-gpu.json',
  'var/lib/oci-gpu/installed.json',
];

rootTest(`install places the binary and its files, a second install changes nothing, the installed binary runs with no Node.js anywhere, as CLI, hook and wrapper${why}`, async (t) => {
  const prefix = prefixDir('basic');
  const first = await install(prefix);
  t.is(first.exitCode, 0, show(first));
  t.regex(first.stdout, /^install: \d+ changes$/m);
  t.regex(first.stdout, /^note: --prefix: nothing was started; try the watcher with: .*\/usr\/bin\/oci-gpu watch --config .*\/etc\/oci-gpu\/config\.json5$/m);
  const files = [...snapshot(prefix)].filter(([, v]) => !v.startsWith('dir')).map(([k]) => k).sort();
  t.deepEqual(files, EXPECTED);
  t.is(statSync(path.join(prefix, 'usr/bin/oci-gpu')).size, statSync(await cliBinary()).size, 'the running binary installed itself');
  t.is(statSync(path.join(prefix, 'usr/bin/oci-gpu')).mode & 0o777, 0o755);
  t.is(statSync(path.join(prefix, 'etc/oci-gpu/config.json5')).mode & 0o777, 0o644);
  const hooks = JSON.parse(readFileSync(path.join(prefix, 'usr/share/containers/oci/hooks.d/oci-gpu.json'), 'utf8'));
  t.is(hooks.hook.path, path.join(prefix, 'usr/libexec/oci-gpu/oci-gpu-hook'));
  t.regex(readFileSync(path.join(prefix, 'usr/lib/systemd/system/oci-gpu-watch.service'), 'utf8'), new RegExp(`^ExecStart=${prefix}/usr/bin/oci-gpu watch --config ${prefix}/etc/oci-gpu/config.json5$`, 'm'));

  const before = snapshot(prefix);
  const second = await install(prefix);
  t.is(second.exitCode, 0, show(second));
  t.regex(second.stdout, /^install: nothing to change \(9 files already in place\)$/m);
  t.deepEqual(diffSnapshots(before, snapshot(prefix)), { gone: [], added: [], changed: [] });

  // An empty environment: no PATH, so no node (or anything else) could be found even if it were there.
  const version = await run('/usr/bin/env', ['-i', path.join(prefix, 'usr/bin/oci-gpu'), '--version']);
  const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  t.is(version.stdout, `oci-gpu ${pkg.version}\n`, show(version));
  const wrapper = await run(path.join(prefix, 'usr/bin/oci-gpu-runtime'), ['--help']);
  t.regex(wrapper.stdout, /^Usage: oci-gpu-runtime /, 'the link runs the binary as the runtime wrapper (argv0)');
  const hook = await run(path.join(prefix, 'usr/libexec/oci-gpu/oci-gpu-hook'), ['--help']);
  t.regex(hook.stdout, /^Usage: oci-gpu-hook /);
});

rootTest(`--dry-run prints every step and changes nothing, for install and uninstall${why}`, async (t) => {
  const prefix = prefixDir('dry');
  const dry = await install(prefix, '--dry-run', '--docker', '--nvidia-env');
  t.is(dry.exitCode, 0, show(dry));
  t.deepEqual([...snapshot(prefix).keys()], ['.'], 'nothing written');
  for (const f of [...EXPECTED.filter((f) => !f.endsWith('installed.json') && !f.endsWith('oci-gpu-runtime') && !f.endsWith('oci-gpu-hook')), 'usr/share/containers/oci/hooks.d/oci-gpu-nvidia-env.json', 'etc/docker/daemon.json']) {
    t.true(dry.stdout.includes(`would write ${prefix}/${f} (new)`), `${f} missing from:\n${dry.stdout}`);
  }
  t.regex(dry.stdout, /^would link .*\/usr\/bin\/oci-gpu-runtime -> oci-gpu \(new\)$/m);
  t.regex(dry.stdout, /^would link .*\/usr\/libexec\/oci-gpu\/oci-gpu-hook -> \.\.\/\.\.\/bin\/oci-gpu \(new\)$/m);
  t.regex(dry.stdout, /^install: dry run, nothing changed$/m);
  t.is((await install(prefix)).exitCode, 0);
  const before = snapshot(prefix);
  const undry = await cli(['uninstall', '--prefix', prefix, '--dry-run']);
  t.is(undry.exitCode, 0, show(undry));
  t.regex(undry.stdout, /^would remove .*\/usr\/libexec\/oci-gpu\/oci-gpu-hook \(installed\)$/m);
  t.deepEqual(diffSnapshots(before, snapshot(prefix)), { gone: [], added: [], changed: [] });
});

rootTest(`uninstall removes exactly what install placed; an edited config stays, and says so${why}`, async (t) => {
  const prefix = prefixDir('uninstall');
  // Something of the user's beside ours: must survive, and keep its folder.
  mkdirSync(path.join(prefix, 'usr/bin'), { recursive: true });
  writeFileSync(path.join(prefix, 'usr/bin/theirs'), 'x');
  const before = snapshot(prefix);
  t.is((await install(prefix, '--nvidia-env')).exitCode, 0);
  writeFileSync(path.join(prefix, 'etc/oci-gpu/config.json5'), '{ log: { level: "debug" } }\n');
  const reinstall = await install(prefix, '--nvidia-env');
  t.regex(reinstall.stdout, /^kept .*\/etc\/oci-gpu\/config\.json5 \(exists: never overwritten\)\ninstall: nothing to change \(9 files already in place\)$/m, show(reinstall));
  t.is(readFileSync(path.join(prefix, 'etc/oci-gpu/config.json5'), 'utf8'), '{ log: { level: "debug" } }\n');
  const un = await cli(['uninstall', '--prefix', prefix]);
  t.is(un.exitCode, 0, show(un));
  t.regex(un.stdout, /^left .*\/etc\/oci-gpu\/config\.json5 \(changed since install: left in place\)$/m);
  t.deepEqual(diffSnapshots(before, snapshot(prefix)), { gone: [], added: ['etc', 'etc/oci-gpu', 'etc/oci-gpu/config.json5'], changed: [] });
  const again = await cli(['uninstall', '--prefix', prefix]);
  t.is(again.exitCode, 0);
  t.regex(again.stdout, /^nothing to uninstall: no install record at /);
});

rootTest(`not root: refused in one line, except --dry-run and a writable --prefix${why}`, async (t) => {
  const refused = await cli(['install'], { asUser: NOBODY });
  t.is(refused.exitCode, 1, show(refused));
  t.is(refused.stderr, 'oci-gpu install: must run as root (or use --dry-run, or --prefix DIR with a writable DIR)\n');
  const refusedUn = await cli(['uninstall'], { asUser: NOBODY });
  t.is(refusedUn.exitCode, 1);
  t.is(refusedUn.stderr.split('\n').length, 2, 'one line');
  const notWritable = await cli(['install', '--prefix', prefixDir('root-owned')], { asUser: NOBODY });
  t.is(notWritable.exitCode, 1);
  t.regex(notWritable.stderr, /^oci-gpu install: --prefix ".*" is not writable by this user: run as root or choose a writable folder\n$/);
  const dry = await cli(['install', '--dry-run'], { asUser: NOBODY });
  t.is(dry.exitCode, 0, show(dry));
  t.regex(dry.stdout, /^would write \/usr\/bin\/oci-gpu /m);
  const mine = prefixDir('nobody');
  chownSync(mine, NOBODY, NOBODY);
  const ok = await cli(['install', '--prefix', mine], { asUser: NOBODY });
  t.is(ok.exitCode, 0, show(ok));
  t.is(statSync(path.join(mine, 'usr/bin/oci-gpu')).uid, NOBODY);
});

rootTest(`errors are one line naming what is wrong, with a non-zero exit${why}`, async (t) => {
  const cases: [string[], RegExp, number][] = [
    [['install', '--prefix', '/nonexistent/oci-gpu-x'], /^oci-gpu install: --prefix "\/nonexistent\/oci-gpu-x" does not exist: create it first\n$/, 2],
    [['install', '--bogus'], /^oci-gpu install: unknown option '--bogus' \(see `oci-gpu install --help`\)\n$/, 2],
    [['install', '--manifest', 'rel.json'], /^oci-gpu install: --manifest "rel\.json" must be an absolute path\n$/, 2],
    [['install', '--source', '/tmp'], /^oci-gpu install: unknown option '--source' \(see `oci-gpu install --help`\)\n$/, 2],
  ];
  for (const [args, want, code] of cases) {
    const r = await cli(args);
    t.is(r.exitCode, code, show(r));
    t.regex(r.stderr, want);
  }
  const help = await cli(['install', '--help']);
  t.is(help.exitCode, 0);
  t.regex(help.stdout, /^Usage: oci-gpu install \[--prefix DIR\] \[--dry-run\] \[--nvidia-env\] \[--docker\]/);
  t.regex((await cli(['uninstall', '--help'])).stdout, /^Usage: oci-gpu uninstall \[--prefix DIR\] \[--dry-run\]/);
});

const DAEMON_JSON = `{
    "log-driver": "json-file",
    "log-opts": { "max-size": "10m" },
    "runtimes": {
        "other": { "path": "/usr/local/bin/other-runtime" }
    }
}
`;

pod.test(`--docker: merged into an existing daemon.json (backup once), its entry runs a GPU container with runc, uninstall takes only our entry${pod.why}`, async (t) => {
  const m = await fixtureManifest('h200');
  const prefix = prefixDir('docker');
  const file = path.join(prefix, 'etc/docker/daemon.json');
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, DAEMON_JSON);
  const r = await install(prefix, '--docker', '--manifest', m.file);
  t.is(r.exitCode, 0, show(r));
  t.regex(r.stdout, /^note: Docker: reload it to see runtime "oci-gpu"/m);
  const merged = JSON.parse(readFileSync(file, 'utf8'));
  const entry = merged.runtimes['oci-gpu'] as { path: string; runtimeArgs: string[] };
  t.deepEqual(entry, { path: path.join(prefix, 'usr/bin/oci-gpu-runtime'), runtimeArgs: ['--config', path.join(prefix, 'etc/oci-gpu/config.json5'), '--manifest', m.file] });
  t.deepEqual(merged.runtimes.other, { path: '/usr/local/bin/other-runtime' });
  t.deepEqual(merged['log-opts'], { 'max-size': '10m' });
  t.regex(readFileSync(file, 'utf8'), /^ {4}"log-driver"/m, 'indentation kept');
  t.is(readFileSync(`${file}.oci-gpu.bak`, 'utf8'), DAEMON_JSON, 'the original, backed up');
  t.is((await install(prefix, '--docker', '--manifest', m.file)).stdout.split('\n')[0], 'install: nothing to change (10 files already in place)', 'daemon.json counts too');

  // What Docker would run: path + runtimeArgs, then its own global flags and `run --bundle` (runc's default
  // runtime.path /usr/bin/runc comes from the installed config).
  const b = await makeBundle('runc', { args: ['sh', '-c', PROBE], annotations: { 'oci-gpu/devices': '0' } });
  const c = await run(entry.path, [...entry.runtimeArgs, '--root', b.stateRoot, '--log-format', 'json', 'run', '--bundle', b.dir, `oci-gpu-install-${process.pid}`], { cwd: b.dir });
  t.is(c.exitCode, 0, show(c));
  const probe = parseProbe(c.stdout);
  t.is(probe.nodes.get('/dev/nvidia0')?.open, ENXIO, show(c));
  t.regex(probe.smi, /^GPU 0: \/dev\/nvidia0 open: No such device or address$/m, show(c));

  const un = await cli(['uninstall', '--prefix', prefix]);
  t.is(un.exitCode, 0, show(un));
  t.deepEqual(JSON.parse(readFileSync(file, 'utf8')), JSON.parse(DAEMON_JSON), 'only our entry went');
  t.deepEqual([...snapshot(prefix).keys()].sort(), ['.', 'etc', 'etc/docker', 'etc/docker/daemon.json']);
});

rootTest(`--docker refuses an unparsable daemon.json in one line naming it, and changes nothing${why}`, async (t) => {
  const prefix = prefixDir('docker-bad');
  const file = path.join(prefix, 'etc/docker/daemon.json');
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, '{\n  // comments are not JSON\n  "debug": true\n}\n');
  const before = snapshot(prefix);
  const r = await install(prefix, '--docker');
  t.is(r.exitCode, 1, show(r));
  t.regex(r.stderr, new RegExp(`^oci-gpu: docker config "${file}": not valid JSON \\(.*\\); daemon\\.json is plain JSON: no comments, no trailing commas\\n$`));
  t.deepEqual(diffSnapshots(before, snapshot(prefix)), { gone: [], added: [], changed: [] });
});

pod.test(`Podman runs the installed hooks.d entry (--hooks-dir of the prefix): GPU 0 allowed by the device cgroup${pod.why}`, async (t) => {
  t.is(podmanUnavailableReason(), undefined);
  const m = await fixtureManifest('h200');
  const prefix = prefixDir('podman');
  t.is((await install(prefix, '--manifest', m.file)).exitCode, 0);
  for (const runtime of ['crun', 'runc'] as const) {
    const r = await podmanRun({ runtime, hooksDir: path.join(prefix, 'usr/share/containers/oci/hooks.d'), annotations: { 'oci-gpu/devices': '0' }, args: ['nvidia-smi'] });
    t.is(r.exitCode, 0, show(r));
    t.regex(r.stdout, /^GPU 0: \/dev\/nvidia0 open: No such device or address$/m, `${runtime}: ${show(r)}`);
  }
  const none = await podmanRun({ runtime: 'crun', hooksDir: path.join(prefix, 'usr/share/containers/oci/hooks.d'), args: ['sh', '-c', 'ls /dev/nvidia0 2>&1 || true'] });
  t.regex(none.stdout, /No such file/, 'no annotation, no GPU');
});
