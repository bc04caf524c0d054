// oci-gpu on this machine's real /usr, /etc and /run, twice: `oci-gpu install` then `oci-gpu uninstall`
// (run by the installed CLI), and the .deb. The .deb: `npm run package`'s builder makes it from the
// amd64 binary, `dpkg -i` installs it, then a GPU container runs through the INSTALLED files only
// (/usr/bin/oci-gpu scans a fixture host into /run/oci-gpu/manifest.json; Podman finds the installed
// hooks.d entry in its default /usr/share/containers/oci/hooks.d, which names the installed hook),
// with Node.js made unreachable (/usr/bin/node masked in a private mount namespace), and
// `dpkg --purge` must leave every listed folder as it found it. Serial, under the system-install
// lock; whatever happens, the package is purged at the end. Needs root and podman; tied to a host
// where systemd is not PID 1 (what install and postinst say there; on a systemd host they would start
// the unit), skipped on others.
import { lstatSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { buildFixtureHost } from '../../scripts/fixture-host.js';
import { cliBinary, show, tempDir } from '../helpers/hook-env.js';
import { present, withSystemLock } from '../helpers/install-env.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { cli } from '../helpers/install-env.js';
import { NO_SYSTEMD } from '../helpers/needs.js';
import { podmanRun, podmanTests, podmanUnavailableReason, run } from '../helpers/podman.js';

const { serial: rootSerial, why } = podmanTests(NO_SYSTEMD);

// What the package and its scripts could touch; compared before install and after purge. Not /run/cdi:
// other tests (cdi-podman) write their own specs there meanwhile; only our spec's absence is checked,
// and the folder is removed again when it was not there before and is empty (the package leaves it:
// it is shared with every other CDI producer).
const LISTED = ['/usr', '/etc', '/var/lib/dpkg/info', '/var/lib/oci-gpu', '/run/oci-gpu'];
const CDI_DIR = '/run/cdi';

/** Removes /run/cdi when it is empty and was absent before the test (rmdir: never anyone's files). */
function restoreCdiDir(existedBefore: boolean): void {
  if (existedBefore) return;
  try {
    rmdirSync(CDI_DIR);
  } catch {
    // not empty (someone else's spec) or already gone
  }
}

async function listing(): Promise<Set<string>> {
  const roots = LISTED.filter(present);
  const r = await run('/usr/bin/find', [...roots, '-xdev', '-printf', '%y %m %p\\n'], { timeout: 120_000 });
  if (r.exitCode !== 0) throw new Error(`find failed: ${show(r)}`);
  return new Set(r.stdout.split('\n').filter(Boolean));
}

/** Runs `argv` with /usr/bin/node (and any node on PATH) masked by /dev/null: proof nothing needs Node.js. */
function withoutNode(argv: string[], timeout = 120_000) {
  const mask = 'for n in /usr/bin/node /usr/local/bin/node; do [ -e "$n" ] && mount --bind /dev/null "$n"; done; ! command -v node >/dev/null || ! node -e 0 2>/dev/null || exit 99; exec "$@"';
  return run('/usr/bin/unshare', ['--mount', '--propagation', 'private', '/bin/sh', '-c', mask, 'no-node', ...argv], { timeout });
}

async function packageState(): Promise<string> {
  const r = await run('/usr/bin/dpkg-query', ['-W', '-f=${db:Status-Status}', 'oci-gpu']);
  return r.exitCode === 0 ? r.stdout.trim() : 'not-installed';
}

rootSerial(`.deb: dpkg -i, an annotated Podman container gets GPU 0 through the installed files only, dpkg --purge leaves nothing${why}`, async (t) => {
  t.timeout(10 * 60_000);
  t.is(podmanUnavailableReason(), undefined);
  const out = tempDir('deb');
  const binary = await run('/bin/sh', [path.join(REPO_ROOT, 'scripts/build.sh'), 'amd64'], { cwd: REPO_ROOT, timeout: 300_000 });
  t.is(binary.exitCode, 0, show(binary));
  const built = await run(process.execPath, [path.join(REPO_ROOT, 'dist/scripts/build-deb.js'), '--arch', 'amd64', '--output', out], { timeout: 300_000 });
  t.is(built.exitCode, 0, show(built));
  const version = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const deb = path.join(out, `oci-gpu_${version}_amd64.deb`);
  const info = await run('/usr/bin/dpkg-deb', ['--field', deb, 'Package', 'Architecture', 'Depends', 'Recommends']);
  t.is(info.stdout, 'Package: oci-gpu\nArchitecture: amd64\nDepends: libc6 (>= 2.17)\n', 'libc alone, no nodejs');
  const host = buildFixtureHost('h200');

  await withSystemLock(async () => {
    if ((await packageState()) !== 'not-installed' || present('/usr/bin/oci-gpu') || present('/usr/libexec/oci-gpu')) {
      t.fail('oci-gpu is already installed on this machine (package or `oci-gpu install`): this test will not overwrite it');
      return;
    }
    const cdiBefore = present(CDI_DIR);
    const before = await listing();
    try {
      const inst = await withoutNode(['/usr/bin/dpkg', '-i', deb], 300_000);
      t.is(inst.exitCode, 0, show(inst));
      t.regex(inst.stdout + inst.stderr, /oci-gpu: systemd is not running: start the watcher with your init system/, 'postinst says how to start the watcher here');
      // The same layout as `oci-gpu install`, plus the opt-in entry and the docs.
      const owned = await run('/usr/bin/dpkg', ['-L', 'oci-gpu']);
      const files = owned.stdout.split('\n').filter((p) => p && present(p) && !lstatSync(p).isDirectory()).sort();
      t.deepEqual(files, [
        '/etc/oci-gpu/config.json5',
        '/usr/bin/oci-gpu',
        '/usr/bin/oci-gpu-runtime',
        '/usr/lib/systemd/system/oci-gpu-watch.service',
        '/usr/lib/tmpfiles.d/oci-gpu.conf',
        '/usr/lib/udev/rules.d/71-oci-gpu.rules',
        '/usr/libexec/oci-gpu/oci-gpu-hook',
        '/usr/share/containers/oci/hooks.d/oci-gpu-cdi.json',
        '/usr/share/containers/oci/hooks.d/oci-gpu.json',
        '/usr/share/doc/oci-gpu/install.md',
        '/usr/share/oci-gpu/hooks.d/oci-gpu-nvidia-env.json',
      ]);
      const verify = await run('/usr/bin/dpkg', ['-V', 'oci-gpu']);
      t.deepEqual([verify.exitCode, verify.stdout], [0, ''], `dpkg -V: ${show(verify)}`);
      t.true(present('/run/oci-gpu') && present('/run/cdi'), 'postinst ran tmpfiles');
      const entry = JSON.parse(readFileSync('/usr/share/containers/oci/hooks.d/oci-gpu.json', 'utf8'));
      t.is(entry.hook.path, '/usr/libexec/oci-gpu/oci-gpu-hook');

      const scan = await withoutNode(['/usr/bin/oci-gpu', 'scan', '--root', host, '--output', '/run/oci-gpu/manifest.json']);
      t.is(scan.exitCode, 0, show(scan));
      const status = await withoutNode(['/usr/bin/oci-gpu', 'status']);
      t.regex(status.stdout, /^GPU 0: NVIDIA H200 /m, show(status));
      for (const runtime of ['crun', 'runc'] as const) {
        // No --hooks-dir: Podman's default folder, where the package put the entry.
        const r = await podmanRun({ runtime, annotations: { 'oci-gpu/devices': '0' }, args: ['nvidia-smi'] });
        t.is(r.exitCode, 0, `${runtime}: ${show(r)}`);
        t.regex(r.stdout, /^GPU 0: \/dev\/nvidia0 open: No such device or address$/m, `${runtime}: ${show(r)}`);
      }

      // remove keeps the conffile, purge takes it and what the watcher wrote.
      const rm = await run('/usr/bin/dpkg', ['-r', 'oci-gpu'], { timeout: 120_000 });
      t.is(rm.exitCode, 0, show(rm));
      t.true(present('/etc/oci-gpu/config.json5'), 'dpkg -r keeps the config');
      t.false(present('/usr/libexec/oci-gpu/oci-gpu-hook'));
      const purge = await run('/usr/bin/dpkg', ['--purge', 'oci-gpu'], { timeout: 120_000 });
      t.is(purge.exitCode, 0, show(purge));
    } finally {
      if ((await packageState()) !== 'not-installed') await run('/usr/bin/dpkg', ['--purge', 'oci-gpu'], { timeout: 120_000 });
      t.false(present(`${CDI_DIR}/oci-gpu.json`), 'purge removes our CDI spec');
      restoreCdiDir(cdiBefore);
    }
    const after = await listing();
    t.deepEqual(
      { gone: [...before].filter((l) => !after.has(l)), left: [...after].filter((l) => !before.has(l)) },
      { gone: [], left: [] },
      'the machine is as it was before dpkg -i',
    );
  });
});

rootSerial(`oci-gpu install on /: a GPU container through the installed files, a second install changes nothing, the installed CLI uninstalls it all${why}`, async (t) => {
  t.timeout(10 * 60_000);
  t.is(podmanUnavailableReason(), undefined);
  await cliBinary();
  const host = buildFixtureHost('h200');
  await withSystemLock(async () => {
    if ((await packageState()) !== 'not-installed' || present('/usr/bin/oci-gpu') || present('/var/lib/oci-gpu/installed.json')) {
      t.fail('oci-gpu is already installed on this machine (package or `oci-gpu install`): this test will not overwrite it');
      return;
    }
    const oursBefore = present('/run/oci-gpu');
    const cdiBefore = present(CDI_DIR);
    const before = await listing();
    try {
      const inst = await cli(['install']);
      t.is(inst.exitCode, 0, show(inst));
      t.regex(inst.stdout, /^run \/usr\/bin\/systemd-tmpfiles --create \/usr\/lib\/tmpfiles\.d\/oci-gpu\.conf /m);
      t.regex(inst.stdout, /^note: systemd is not running here \(PID 1 is not systemd\): start the watcher with your init system \(it runs `\/usr\/bin\/oci-gpu watch`\)/m);
      const again = await cli(['install']);
      t.regex(again.stdout, /^install: nothing to change \(9 files already in place\)$/m, show(again));
      const entry = JSON.parse(readFileSync('/usr/share/containers/oci/hooks.d/oci-gpu.json', 'utf8'));
      t.deepEqual([entry.hook.path, entry.hook.args], ['/usr/libexec/oci-gpu/oci-gpu-hook', ['oci-gpu-hook', 'precreate']]);

      const scan = await run('/usr/bin/oci-gpu', ['scan', '--root', host, '--output', '/run/oci-gpu/manifest.json']);
      t.is(scan.exitCode, 0, show(scan));
      const r = await podmanRun({ runtime: 'crun', annotations: { 'oci-gpu/devices': '0' }, args: ['nvidia-smi'] });
      t.is(r.exitCode, 0, show(r));
      t.regex(r.stdout, /^GPU 0: \/dev\/nvidia0 open: No such device or address$/m, show(r));

      const un = await withoutNode(['/usr/bin/oci-gpu', 'uninstall']);
      t.is(un.exitCode, 0, show(un));
      t.regex(un.stdout, /^remove \/usr\/libexec\/oci-gpu\/oci-gpu-hook \(installed\)$/m);
      t.regex(un.stdout, /^remove \/usr\/bin\/oci-gpu \(installed\)$/m);
      t.regex(un.stdout, /^note: left as they are: what the watcher wrote/m);
    } finally {
      if (present('/var/lib/oci-gpu/installed.json')) await cli(['uninstall']);
      // What the scan and tmpfiles wrote; uninstall leaves it by design (its note says so).
      if (!oursBefore) rmSync('/run/oci-gpu', { recursive: true, force: true });
      restoreCdiDir(cdiBefore);
    }
    const after = await listing();
    t.deepEqual(
      { gone: [...before].filter((l) => !after.has(l)), left: [...after].filter((l) => !before.has(l)) },
      { gone: [], left: [] },
      'the machine is as it was before oci-gpu install',
    );
  });
});
