// Fault: `oci-gpu watch` killed with SIGKILL again and again during a burst of driver upgrades
// (version files first, then every versioned library, binary and firmware renamed to the new
// version with its links re-pointed, then etc/ld.so.cache regenerated with `ldconfig -X -r TREE`),
// and restarted each time without waiting. After the burst, the manifest it converges to must be
// exactly what a fresh `oci-gpu scan --root` of the tree says, within a bounded time (measured
// from the last change and logged); no killed daemon's temp file may survive the restarts.
// Needs root (the fixture host holds device nodes). Runs serially: it counts on the daemon getting
// the CPU, and the watch integration tests do the same.
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { parseManifest, sameManifestContent } from '../../src/core/manifest/manifest-codec.js';
import { FIXTURE_DRIVER, TEST_SETTINGS, eventually, makeWatchPaths, runCli, sleep, startWatch, tempFiles, upgradeDriver, type WatchProcess, type WatchSettings } from '../helpers/watch.js';
import { IS_ROOT, NEEDS_ROOT as why } from '../helpers/root.js';
import { cliBinary } from '../helpers/hook-env.js';

// The watcher and the CLI run as the shipped binary.
test.before(async () => {
  await cliBinary();
});

const serial = IS_ROOT ? test.serial : test.skip;

/** Generous: the daemon needs two equal scans 50 ms apart after the last event; seconds, never minutes. */
const CONVERGE_WITHIN_MS = 30_000;
const VERSIONS = [FIXTURE_DRIVER, '580.172.08', '585.10.02', '590.44.01', '595.03.11', '600.12.07'];

/** The kernel side of an upgrade alone: what a driver shows in /sys and /proc before its files change. */
function bumpVersionFiles(root: string, from: string, to: string): void {
  const gpus = path.join(root, 'proc/driver/nvidia/gpus');
  for (const rel of ['sys/module/nvidia/version', 'proc/driver/nvidia/version', ...fs.readdirSync(gpus).map((b) => `proc/driver/nvidia/gpus/${b}/information`)]) {
    const file = path.join(root, rel);
    if (fs.existsSync(file)) fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replaceAll(from, to));
  }
}

async function kill9(d: WatchProcess): Promise<void> {
  const how = await d.stop('SIGKILL');
  if (how.signal !== 'SIGKILL' && how.code === null) throw new Error(`pid ${d.pid} ended oddly: ${JSON.stringify(how)}`);
}

function freshScan(t: ExecutionContext, root: string, out: string) {
  const file = path.join(out, 'fresh-scan.json');
  const r = runCli(['scan', '--root', root, '--output', file]);
  if (r.code !== 0) t.fail(`oci-gpu scan --root: ${r.stderr}`);
  return parseManifest(fs.readFileSync(file, 'utf8'), file);
}

const killedDuringBurst = test.macro({
  async exec(t, settings: WatchSettings) {
    t.timeout(5 * 60_000);
    const p = makeWatchPaths('h200', settings);
    const daemons: WatchProcess[] = [];
    t.teardown(async () => {
      for (const d of daemons) await d.stop('SIGKILL').catch(() => {});
      p.cleanup();
    });
    const start = () => {
      const d = startWatch(p, { notify: true });
      daemons.push(d);
      return d;
    };
    let d = start();
    await d.ready();
    t.is(parseManifest(fs.readFileSync(p.manifest, 'utf8'), p.manifest).driver?.version, FIXTURE_DRIVER);

    // Kill points spread over what the daemon does after an event: debouncing, scanning,
    // confirming (a second scan one debounce later), writing. Each restart starts while the tree still moves.
    const killDelays = [0, 20, 45, 70, 110, 160];
    let kills = 0;
    for (let i = 1; i < VERSIONS.length; i++) {
      const from = VERSIONS[i - 1]!;
      const to = VERSIONS[i]!;
      bumpVersionFiles(p.root, from, to);
      if (i === 2) {
        // Mid-upgrade: the kernel says the new version, the files are still the old ones.
        await kill9(d);
        kills++;
        d = start();
      }
      upgradeDriver(p.root, from, to); // renames, links, ld.so.cache (version files are already bumped)
      await sleep(killDelays[i % killDelays.length]!);
      await kill9(d);
      kills++;
      d = start();
      await sleep(30);
    }
    const burstEnd = Date.now();
    const final = VERSIONS.at(-1)!;

    const fresh = freshScan(t, p.root, p.out);
    t.is(fresh.driver?.version, final, 'the tree was not upgraded as planned');
    t.deepEqual(fresh.warnings, [], 'the fresh scan of the final tree has warnings');
    let converged: number;
    try {
      await eventually(
        () => {
          const m = parseManifest(fs.readFileSync(p.manifest, 'utf8'), p.manifest);
          // Each names the masked params beside itself: the same content, in two folders.
          return m.paramsMask === path.join(path.dirname(p.manifest), 'nvidia-params') && sameManifestContent({ ...m, paramsMask: null }, { ...fresh, paramsMask: null });
        },
        { timeoutMs: CONVERGE_WITHIN_MS, what: `the manifest to equal a fresh scan (driver ${final})` },
      );
      converged = Date.now() - burstEnd;
    } catch (error) {
      t.log(`last daemon log:\n${d.log()}`);
      throw error;
    }
    await d.ready(CONVERGE_WITHIN_MS);
    t.log(`${VERSIONS.length - 1} upgrades (${VERSIONS.join(' → ')}), ${kills} SIGKILLs; converged to the fresh scan ${converged} ms after the last change`);

    // The CDI spec follows the manifest, and the status file is the last daemon's.
    const cdi = JSON.parse(fs.readFileSync(p.cdi, 'utf8')) as { devices: { containerEdits: { mounts?: { hostPath: string }[] } }[]; containerEdits: { mounts?: { hostPath: string }[] } };
    const cdiMounts = JSON.stringify(cdi);
    t.false(cdiMounts.includes(VERSIONS.at(-2)!), 'the CDI spec still names the previous driver version');
    t.true(cdiMounts.includes(final), 'the CDI spec does not name the final driver version');
    await eventually(() => JSON.parse(fs.readFileSync(p.status, 'utf8')).pid === d.pid, { what: "the last daemon's status file" });
    // Temp files of the killed daemons are gone (each start removes those whose pid is dead).
    await eventually(() => tempFiles(p.out).length === 0, { timeoutMs: 5000, what: `no temp files in ${p.out} (left: ${tempFiles(p.out).join(', ')})` });
    t.deepEqual(await d.stop(), { code: 0, signal: null });
  },
  title: (label = '') =>
    `watcher killed with SIGKILL ${VERSIONS.length} times during a burst of ${VERSIONS.length - 1} driver upgrades (once mid-upgrade), restarted each time: converges to a fresh scan (${label})${why}`,
});

serial('test settings: debounce 50 ms', killedDuringBurst, TEST_SETTINGS);
// The shipped defaults (debounce 200 ms, 2 stable scans); no udev and no safety timer, so only inotify brings it back.
serial('shipped defaults', killedDuringBurst, { watch: { udev: false, safetyRescanSeconds: 0 } });
