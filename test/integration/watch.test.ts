// `oci-gpu watch` as a subprocess against a copied fixture host (needs root: the hosts hold device
// nodes and the tests mknod more). Every wait is "eventually, within a generous bound"; nothing
// asserts how fast. Tests run serially: the burst and stability tests count scans and must not be
// starved by a sibling daemon.
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  FIXTURE_DRIVER,
  SECOND_GPU,
  TEST_SETTINGS,
  addGpu,
  eventually,
  makeWatchPaths,
  readJson,
  regenerateLdCache,
  removeGpu,
  runCli,
  sleep,
  startWatch,
  tempFiles,
  unloadDriver,
  upgradeDriver,
  writeConfig,
  type WatchPaths,
  type WatchProcess,
  type WatchSettings,
} from '../helpers/watch.js';
import { IS_ROOT } from '../helpers/root.js';
import { cliBinary } from '../helpers/hook-env.js';

// The watcher and the CLI run as the shipped binary.
test.before(async () => {
  await cliBinary();
});

const serial = IS_ROOT ? test.serial : test.skip;

const NEW_DRIVER = '580.172.08';

// A copied host and a daemon that are cleaned up (daemon killed first) whatever the test does.
function setup(t: ExecutionContext, settings: WatchSettings = TEST_SETTINGS): WatchPaths & { daemons: WatchProcess[] } {
  const paths = makeWatchPaths('h200', settings);
  const daemons: WatchProcess[] = [];
  t.teardown(async () => {
    for (const d of daemons) await d.stop('SIGKILL').catch(() => {});
    paths.cleanup();
  });
  return { ...paths, daemons };
}

function start(t: ExecutionContext, p: ReturnType<typeof setup>, options: Parameters<typeof startWatch>[1] = { notify: true }): WatchProcess {
  const d = startWatch(p, options);
  p.daemons.push(d);
  t.teardown(() => {
    if (t.passed) return;
    t.log(`daemon ${d.pid} log:\n${d.log()}`);
  });
  return d;
}

function manifestOf(p: WatchPaths): any {
  return readJson(p.manifest);
}

function statusOf(p: WatchPaths): any {
  return readJson(p.status);
}

function inodeAndMtime(file: string): string {
  const st = fs.statSync(file);
  return `${st.ino}:${st.mtimeMs}`;
}

serial('start writes manifest, CDI spec and status; a restart with nothing changed rewrites neither', async (t) => {
  const p = setup(t);
  const first = start(t, p);
  await first.ready();
  const m = manifestOf(p);
  t.is(m.schema, 'oci-gpu.manifest/v2');
  t.is(m.driver.version, FIXTURE_DRIVER);
  t.deepEqual(m.gpus.map((g: any) => g.uuid), ['GPU-8b472ccd-7f02-9c7a-ca0f-35527f14b320']);
  const cdi = readJson(p.cdi);
  t.is(cdi.kind, 'nvidia.com/gpu');
  t.deepEqual(cdi.devices.map((d: any) => d.name).sort(), ['0', 'GPU-8b472ccd-7f02-9c7a-ca0f-35527f14b320', 'all']);
  const status = statusOf(p);
  t.is(status.pid, first.pid);
  t.is(status.writes, 1);
  t.is(status.lastError, null);
  t.deepEqual(first.notifications.filter((n) => n.includes('READY=1')), [`READY=1 STATUS=driver ${FIXTURE_DRIVER}, 1 GPU, ${m.files.length} driver files`], 'READY=1 once, with what the scan found');
  t.deepEqual(await first.stop(), { code: 0, signal: null });

  const before = { manifest: inodeAndMtime(p.manifest), cdi: inodeAndMtime(p.cdi) };
  const second = start(t, p);
  await second.ready();
  await eventually(() => statusOf(p)?.pid === second.pid, { what: 'the second daemon to write its status' });
  t.deepEqual({ manifest: inodeAndMtime(p.manifest), cdi: inodeAndMtime(p.cdi) }, before);
  t.is(statusOf(p).writes, 0);
  t.deepEqual(await second.stop(), { code: 0, signal: null });
});

serial('a new GPU (node + information) is added to manifest, CDI spec and /dev/char; removing it takes it out again', async (t) => {
  const p = setup(t);
  const d = start(t, p);
  await d.ready();
  const link = path.join(p.root, 'dev/char/195:1');
  t.false(fs.existsSync(link));

  addGpu(p.root);
  const two = await eventually(() => (manifestOf(p)?.gpus.length === 2 ? manifestOf(p) : null), { what: 'a manifest with 2 GPUs' });
  t.deepEqual(two.gpus.map((g: any) => [g.index, g.minor, g.uuid, g.pciBusId]), [
    [0, 0, 'GPU-8b472ccd-7f02-9c7a-ca0f-35527f14b320', '0000:00:06.0'],
    [1, 1, SECOND_GPU.uuid, SECOND_GPU.bus],
  ]);
  const cdi = await eventually(() => {
    const c = readJson(p.cdi);
    return c.devices.some((x: any) => x.name === '1') ? c : null;
  }, { what: 'CDI device "1"' });
  const one = cdi.devices.find((x: any) => x.name === '1');
  t.deepEqual(one.containerEdits.deviceNodes.map((n: any) => n.path), ['/dev/nvidia1']);
  t.truthy(cdi.devices.find((x: any) => x.name === SECOND_GPU.uuid), 'the UUID names it too');
  await eventually(() => fs.readlinkSync(link) === '../nvidia1', { what: `${link} -> ../nvidia1` });

  removeGpu(p.root);
  const back = await eventually(() => (manifestOf(p)?.gpus.length === 1 ? manifestOf(p) : null), { what: 'a manifest with 1 GPU' });
  t.is(back.gpus[0].minor, 0);
  await eventually(() => !readJson(p.cdi).devices.some((x: any) => x.name === '1' || x.name === SECOND_GPU.uuid), { what: 'CDI device "1" gone' });
  await eventually(() => !fs.existsSync(path.join(p.root, 'dev/char')) || !fs.readdirSync(path.join(p.root, 'dev/char')).includes('195:1'), { what: `${link} removed` });
  t.is(fs.readlinkSync(path.join(p.root, 'dev/char/195:0')), '../nvidia0', 'the link of the remaining GPU stays');
  t.deepEqual(await d.stop(), { code: 0, signal: null });
});

// /sys and /proc are not seen by inotify; the safety timer is off here (safetyRescanSeconds 0), so what
// the daemon follows are the library renames in /usr/local/nvidia/lib64 and the new etc/ld.so.cache.
serial('a driver upgrade (version file, renamed libraries, new ld.so.cache) is followed through library and ld.so.cache events alone', async (t) => {
  const p = setup(t);
  const d = start(t, p);
  await d.ready();
  t.is(statusOf(p).watching.includes(path.join(p.root, 'usr/local/nvidia/lib64')), true);
  const before = manifestOf(p);

  upgradeDriver(p.root, FIXTURE_DRIVER, NEW_DRIVER);
  const m = await eventually(() => (manifestOf(p)?.driver?.version === NEW_DRIVER ? manifestOf(p) : null), { what: `a manifest for driver ${NEW_DRIVER}` });
  // The trigger named in the log is the first event of the batch: a driver folder or ld.so.cache, never a timer.
  const line = await d.waitForLine(new RegExp(`manifest updated after .*: driver ${NEW_DRIVER.replaceAll('.', '\\.')}`));
  t.regex(line, new RegExp(`after (add|addDir|change|unlink|unlinkDir) ${p.root}/(usr/local/nvidia/|etc/ld\\.so\\.cache)`));
  t.false(d.lines.some((l) => l.includes('safety rescan')));
  const names = (x: any) => x.files.map((f: any) => path.basename(f.hostPath)).sort();
  t.is(m.files.length, before.files.length);
  t.deepEqual(names(m), names(before).map((n: string) => n.replaceAll(FIXTURE_DRIVER, NEW_DRIVER)).sort());
  t.false(JSON.stringify(m.files).includes(FIXTURE_DRIVER), 'no file of the old driver is left');
  t.deepEqual(m.warnings, []);
  t.is(runCli(['status', '--manifest', p.manifest]).code, 0, 'status agrees with the loaded driver');
  t.deepEqual(await d.stop(), { code: 0, signal: null });
});

serial('driver unload: manifest says no driver and no GPUs, links go, `oci-gpu status` exits non-zero', async (t) => {
  const p = setup(t);
  const d = start(t, p);
  await d.ready();
  unloadDriver(p.root);
  const m = await eventually(() => (manifestOf(p)?.driver === null ? manifestOf(p) : null), { what: 'a manifest without a driver' });
  t.deepEqual(m.gpus, []);
  t.deepEqual(m.files, []);
  t.deepEqual(m.controlNodes, []);
  await eventually(() => !fs.readdirSync(path.join(p.root, 'dev/char')).length, { what: 'every /dev/char link removed' });
  const status = runCli(['status', '--manifest', p.manifest]);
  t.not(status.code, 0, status.stdout + status.stderr);
  t.regex(status.stdout, /no NVIDIA driver is loaded/);
  t.deepEqual(await d.stop(), { code: 0, signal: null });
});

serial('a burst of 1000 events in the library folder causes a bounded number of rescans and the right manifest; unrelated names are not watched', async (t) => {
  const p = setup(t, { watch: { debounceMs: 200, stableScans: 2, safetyRescanSeconds: 0 } });
  const d = start(t, p);
  await d.ready();
  const scansBefore = statusOf(p).scans;
  const lib = path.join(p.root, 'usr/local/nvidia/lib64');
  // Names that are not NVIDIA's are not even watched (shared library folders hold thousands).
  for (let i = 0; i < 200; i++) fs.writeFileSync(path.join(lib, `libunrelated${i}.so`), '');
  // NVIDIA-looking names are events, though without the driver version they are not driver files.
  for (let i = 0; i < 500; i++) fs.writeFileSync(path.join(lib, `libnvidia-burst${i}.so`), '');
  for (let i = 0; i < 500; i++) fs.renameSync(path.join(lib, `libnvidia-burst${i}.so`), path.join(lib, `libnvidia-burst${i}.so.old`));
  // One real change inside the burst: a new same-version file beside the driver's libraries.
  fs.copyFileSync(path.join(lib, `libcuda.so.${FIXTURE_DRIVER}`), path.join(lib, `libnvidia-burst.so.${FIXTURE_DRIVER}`));
  const m = await eventually(() => (manifestOf(p)?.files.some((f: any) => f.hostPath.endsWith(`libnvidia-burst.so.${FIXTURE_DRIVER}`)) ? manifestOf(p) : null), {
    what: 'the new library in the manifest',
  });
  t.false(/libnvidia-burst\d/.test(JSON.stringify(m.files)), 'files without the driver version are not driver files');
  const events = d.lines.filter((l) => l.startsWith('debug: event: ')).length;
  t.false(d.lines.some((l) => l.includes('libunrelated')), 'files with no NVIDIA name cause no event');
  await sleep(1500); // anything still queued would have run by now
  const scans = statusOf(p).scans - scansBefore;
  t.log(`${events} events logged, ${scans} rescans`);
  t.true(events >= 500, `the watcher saw the burst (${events} events)`);
  t.true(scans <= 10, `${scans} rescans for ${events} events`);
  t.true(scans >= 2, 'a change takes two equal scans');
  t.is(d.lines.filter((l) => /manifest updated/.test(l)).length, 1, 'written once');
  t.deepEqual(await d.stop(), { code: 0, signal: null });
});

serial('a steady stream of events, never quiet for a whole debounce, does not starve rescans', async (t) => {
  const p = setup(t, { watch: { debounceMs: 200, stableScans: 2, safetyRescanSeconds: 0 } });
  const d = start(t, p);
  await d.ready();
  const noisy = path.join(p.root, 'usr/local/nvidia/lib64/nvidia-install.log');
  let streaming = true;
  let writes = 0;
  const stream = (async () => {
    while (streaming) {
      fs.appendFileSync(noisy, `line ${writes++}\n`);
      await sleep(50);
    }
  })();
  try {
    addGpu(p.root);
    await eventually(() => manifestOf(p)?.gpus.length === 2, { timeoutMs: 15_000, what: 'a manifest with 2 GPUs while the stream goes on' });
    t.true(streaming);
  } finally {
    streaming = false;
    await stream;
  }
  t.true(d.lines.filter((l) => l.includes('nvidia-install.log')).length > 10, 'the stream reached the daemon');
  t.deepEqual(await d.stop(), { code: 0, signal: null });
});

// ld.so.cache missing for longer than one debounce, then corrupt, then back with a new library: with
// stableScans 2 a scan that saw the gap is never published. The windows are 300 ms wider than needed
// each way, so a slow test process cannot turn "briefly" into "for two scans".
serial('during an upgrade with ld.so.cache briefly missing, then corrupt, the manifest on disk never gets worse', async (t) => {
  const p = setup(t, { watch: { debounceMs: 500, stableScans: 2, safetyRescanSeconds: 0 } });
  const d = start(t, p);
  await d.ready();
  const good = manifestOf(p);
  const cache = path.join(p.root, 'etc/ld.so.cache');
  const cacheBytes = fs.readFileSync(cache);
  const seen = new Map<string, any>();
  let polling = true;
  let reads = 0;
  const poller = (async () => {
    while (polling) {
      const text = fs.readFileSync(p.manifest, 'utf8');
      reads++;
      if (!seen.has(text)) seen.set(text, JSON.parse(text)); // throws (fails the test) on a torn file
      await sleep(2);
    }
  })();

  try {
    fs.rmSync(cache);
    await sleep(800); // one scan (at 500 ms) sees no cache; its confirmation would come at 1000 ms
    fs.writeFileSync(cache, cacheBytes.subarray(0, 200)); // a half-written cache: the scan fails
    await sleep(800);
    const lib = path.join(p.root, 'usr/local/nvidia/lib64');
    fs.copyFileSync(path.join(lib, `libcuda.so.${FIXTURE_DRIVER}`), path.join(lib, `libnvidia-upgrade.so.${FIXTURE_DRIVER}`));
    fs.writeFileSync(cache, cacheBytes);
    await eventually(() => manifestOf(p).files.length === good.files.length + 1, { what: 'the final manifest' });
    await sleep(300);
  } finally {
    polling = false; // before the teardown removes the files it reads
  }
  await poller;

  t.true(reads > 100, `polled ${reads} times`);
  const versions = [...seen.values()];
  t.log(`${versions.length} manifest versions seen in ${reads} reads`);
  for (const m of versions) {
    t.is(m.driver?.version, FIXTURE_DRIVER);
    t.true(m.files.length >= good.files.length, `a manifest with ${m.files.length} files (warnings: ${m.warnings.join('; ')}) was published`);
    t.deepEqual(m.warnings, []);
  }
  t.is(versions.length, 2, 'the old manifest, then the final one');
  t.true(d.lines.some((l) => /confirming \(1\/2\)/.test(l)), 'a scan saw the gap');
  t.true(d.lines.some((l) => /^error: scan .* failed, keeping the last good manifest: .*ld\.so cache/.test(l)), 'a scan saw the corrupt cache');
  t.deepEqual(await d.stop(), { code: 0, signal: null });
});

serial('kill -9 in a loop while the tree changes: the manifest is always whole; a clean stop leaves no temp files and exits 0', async (t) => {
  const p = setup(t, { watch: { debounceMs: 10, stableScans: 1, safetyRescanSeconds: 0 } });
  const first = start(t, p);
  await first.ready();
  t.deepEqual(await first.stop('SIGKILL'), { code: null, signal: 'SIGKILL' });

  let running = true;
  let reads = 0;
  let flips = 0;
  const torn: string[] = [];
  const reader = (async () => {
    while (running) {
      const text = fs.readFileSync(p.manifest, 'utf8');
      reads++;
      try {
        const m = JSON.parse(text);
        if (m.schema !== 'oci-gpu.manifest/v2') torn.push(text.slice(0, 100));
      } catch {
        torn.push(`${text.length} bytes: ${text.slice(-60)}`);
      }
      await sleep(1);
    }
  })();
  const writer = (async () => {
    while (running) {
      if (flips % 2 === 0) addGpu(p.root);
      else removeGpu(p.root);
      flips++;
      await sleep(15);
    }
  })();
  const kills = 30;
  try {
    for (let i = 0; i < kills; i++) {
      const d = start(t, p, {});
      await d.waitForLine(/^info: watching /);
      await sleep(50 + Math.floor(Math.random() * 250));
      const exit = await d.stop('SIGKILL');
      t.is(exit.signal, 'SIGKILL');
    }
  } finally {
    running = false; // a failure must not leave the writer re-creating files in a removed tree
    await Promise.allSettled([reader, writer]);
  }
  await Promise.all([reader, writer]);
  t.deepEqual(torn, [], 'every read of the manifest parsed');
  t.true(reads > 200, `read ${reads} times`);
  t.log(`${kills} kills, ${flips} tree changes, ${reads} reads, ${tempFiles(p.out).length} temp files left by the kills`);

  // What a killed daemon can leave: a temp file of its own pid. Make sure there is one to clean.
  const dead = spawnSync('true').pid!;
  fs.writeFileSync(path.join(path.dirname(p.manifest), `.manifest.json.${dead}.abc.tmp`), '{"trunc');
  const last = start(t, p);
  await last.ready();
  t.deepEqual(tempFiles(p.out), [], 'the next daemon removed the temp files of dead ones');
  t.deepEqual(await last.stop('SIGTERM'), { code: 0, signal: null });
  t.deepEqual(tempFiles(p.out), []);
  t.true(last.lines.some((l) => l === 'info: SIGTERM: stopping'));
  t.notThrows(() => JSON.parse(fs.readFileSync(p.manifest, 'utf8')));
});

serial('SIGHUP: a broken config is refused with one line naming the file and the problem; a valid one applies', async (t) => {
  const p = setup(t);
  const d = start(t, p);
  await d.ready();
  t.is(readJson(p.cdi).kind, 'nvidia.com/gpu');

  fs.writeFileSync(p.config, '{ watch: { debounceMs: "fast" } }\n');
  let from = d.lines.length;
  d.child.kill('SIGHUP');
  const line = await d.waitForLine(/^error: /, 20_000, from);
  t.true(line.includes(p.config), line);
  t.regex(line, /watch\.debounceMs: must be an integer/);
  await sleep(300);
  const after = d.lines.slice(from).filter((l) => !l.startsWith('debug: '));
  t.deepEqual(after, [line], 'exactly one line');
  // Still alive, still on the old config: a change is picked up.
  addGpu(p.root);
  await eventually(() => manifestOf(p)?.gpus.length === 2, { what: 'a manifest with 2 GPUs after the refused reload' });

  writeConfig(p.config, { ...TEST_SETTINGS, cdi: { kind: 'example.com/gpu' } });
  from = d.lines.length;
  d.child.kill('SIGHUP');
  await d.waitForLine(/^info: configuration reloaded/, 20_000, from);
  const cdi = await eventually<any>(() => (readJson(p.cdi)?.kind === 'example.com/gpu' ? readJson(p.cdi) : null), { what: 'the CDI spec with the new kind' });
  t.deepEqual(cdi.devices.map((x: any) => x.name).sort(), ['0', '1', 'GPU-8b472ccd-7f02-9c7a-ca0f-35527f14b320', SECOND_GPU.uuid, 'all'].sort());
  t.deepEqual(await d.stop(), { code: 0, signal: null });
});

serial('SIGHUP applies a changed log level from the config file', async (t) => {
  const p = setup(t, { ...TEST_SETTINGS, log: { level: 'info' } });
  const d = start(t, p, { notify: true, logLevel: null });
  await d.ready();
  t.false(d.lines.some((l) => l.startsWith('debug: ')));
  writeConfig(p.config, { ...TEST_SETTINGS, log: { level: 'debug' } });
  d.child.kill('SIGHUP');
  await d.waitForLine(/^info: configuration reloaded/);
  addGpu(p.root);
  await d.waitForLine(/^debug: event: /);
  t.deepEqual(await d.stop(), { code: 0, signal: null });
});

function modeOf(file: string): string {
  return (fs.statSync(file).mode & 0o777).toString(8);
}

serial('under umask 077: manifest, CDI spec and status 0644 in 0755 folders; a kept 0600 manifest and CDI spec become 0644 without a rewrite', async (t) => {
  const p = setup(t);
  const first = start(t, p, { notify: true, umask: 0o077 });
  await first.ready();
  t.deepEqual([p.manifest, p.cdi, p.status].map(modeOf), ['644', '644', '644']);
  t.deepEqual([path.dirname(p.manifest), path.dirname(p.cdi)].map(modeOf), ['755', '755'], 'folders rootless Podman must traverse');
  t.deepEqual(await first.stop(), { code: 0, signal: null });

  // What an older watcher under umask 077 left: the right content, the wrong mode.
  fs.chmodSync(p.manifest, 0o600);
  fs.chmodSync(p.cdi, 0o600);
  const before = { manifest: inodeAndMtime(p.manifest), cdi: inodeAndMtime(p.cdi) };
  const second = start(t, p, { notify: true, umask: 0o077 });
  await second.ready();
  t.deepEqual([p.manifest, p.cdi].map(modeOf), ['644', '644']);
  t.deepEqual({ manifest: inodeAndMtime(p.manifest), cdi: inodeAndMtime(p.cdi) }, before, 'content current: not rewritten');
  t.true(second.lines.some((l) => l === `info: ${p.manifest} was mode 0600: made it 0644, so that every user can read it`), second.log());
  t.deepEqual(await second.stop(), { code: 0, signal: null });
});

serial('a second watcher of the same manifest is refused with one line naming the first one\'s pid; once the first stops, another starts', async (t) => {
  const p = setup(t);
  const first = start(t, p);
  await first.ready();
  const statusBefore = readJson(p.status);
  const second = start(t, p, {});
  await eventually(() => second.child.exitCode !== null || second.child.signalCode !== null, { what: `the second watcher to exit; log:\n${second.log()}` });
  t.deepEqual(await second.exited, { code: 1, signal: null }, second.log());
  t.deepEqual(second.lines.filter(Boolean), [
    `oci-gpu: another watcher (pid ${first.pid}) already keeps "${p.manifest}" (lock "${p.manifest}.lock"): stop it first, or give this one another --manifest`,
  ]);
  t.deepEqual(readJson(p.status), statusBefore, 'the refused watcher wrote nothing');
  addGpu(p.root);
  await eventually(() => manifestOf(p)?.gpus.length === 2, { what: 'the first watcher still at work' });
  // kill -9 too: the kernel drops the lock with its holder.
  await first.stop('SIGKILL');
  const third = start(t, p);
  await third.ready();
  t.deepEqual(await third.stop(), { code: 0, signal: null });
});

serial('systemd notify protocol: WATCHDOG=1 pings, RELOADING=1 then READY=1 around SIGHUP, a rejected config said in STATUS=', async (t) => {
  const p = setup(t);
  const d = start(t, p, { notify: true, env: { WATCHDOG_USEC: '400000' } });
  await d.ready();
  await eventually(() => d.notifications.filter((n) => n === 'WATCHDOG=1').length >= 3, { what: 'WATCHDOG=1 pings' });
  const good = `driver ${FIXTURE_DRIVER}, 1 GPU, ${manifestOf(p).files.length} driver files`;

  let from = d.notifications.length;
  d.child.kill('SIGHUP');
  await eventually(() => d.notifications.slice(from).some((n) => n.startsWith('READY=1')), { what: 'READY=1 after the reload' });
  const reload = d.notifications.slice(from).filter((n) => n !== 'WATCHDOG=1');
  t.regex(reload[0]!, /^RELOADING=1 MONOTONIC_USEC=\d+ STATUS=reloading the configuration$/);
  t.is(reload.at(-1), `READY=1 STATUS=${good}`);

  fs.writeFileSync(p.config, '{ watch: { debounceMs: "fast" } }\n');
  from = d.notifications.length;
  d.child.kill('SIGHUP');
  await eventually(() => d.notifications.slice(from).some((n) => n.startsWith('READY=1')), { what: 'READY=1 after the refused reload' });
  const refused = d.notifications.slice(from).filter((n) => n.startsWith('READY=1'));
  t.deepEqual(refused, [`READY=1 STATUS=${good}; configuration rejected, running on the previous one: config "${p.config}": watch.debounceMs: must be an integer from 0 to 60000`]);

  // A change after that: STATUS= follows what the scan found.
  writeConfig(p.config, TEST_SETTINGS);
  from = d.notifications.length;
  d.child.kill('SIGHUP');
  await eventually(() => d.notifications.slice(from).includes(`READY=1 STATUS=${good}`), { what: 'an accepted config clears the rejection' });
  addGpu(p.root);
  await eventually(() => d.notifications.some((n) => n === `STATUS=driver ${FIXTURE_DRIVER}, 2 GPUs, ${manifestOf(p)?.files.length} driver files`), { what: 'STATUS= with 2 GPUs' });
  t.deepEqual(await d.stop(), { code: 0, signal: null });
});

serial('journald: when JOURNAL_STREAM names its stderr, each line starts with its priority; otherwise no prefix', async (t) => {
  const p = setup(t);
  const d = start(t, p, { notify: true, journalStream: true });
  await d.ready();
  fs.writeFileSync(p.config, '{ watch: { debounceMs: "fast" } }\n');
  d.child.kill('SIGHUP');
  await d.waitForLine(/^<3>error: SIGHUP: keeping the current configuration/);
  t.true(d.lines.some((l) => l.startsWith('<6>info: watching ')), d.log());
  t.true(d.lines.some((l) => l.startsWith('<7>debug: ')), d.log());
  t.deepEqual(d.lines.filter((l) => l && !/^<[3467]>(error|warn|info|debug): /.test(l)), []);
  t.deepEqual(await d.stop(), { code: 0, signal: null });

  // Inherited by a process whose stderr is elsewhere: plain lines.
  writeConfig(p.config, TEST_SETTINGS);
  const plain = start(t, p, { notify: true, env: { JOURNAL_STREAM: '8:12345' } });
  await plain.ready();
  t.true(plain.lines.some((l) => l.startsWith('info: watching ')), plain.log());
  t.deepEqual(await plain.stop(), { code: 0, signal: null });
});
