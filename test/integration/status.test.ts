// `oci-gpu status` as a subprocess, on a manifest the watcher wrote for a copied fixture host (root: mknod).
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { FIXTURE_DRIVER, makeWatchPaths, runCli, startWatch, type WatchPaths, type WatchProcess } from '../helpers/watch.js';
import { NEEDS_ROOT, rootSerial } from '../helpers/root.js';
import { cliBinary } from '../helpers/hook-env.js';

// The watcher and the CLI run as the shipped binary.
test.before(async () => {
  await cliBinary();
});

// Not root: skipped, the reason in each title (the watcher scans a fixture host: mknod).
const serial = rootSerial;

const UUID = 'GPU-8b472ccd-7f02-9c7a-ca0f-35527f14b320';

// A host, and a watcher that has written the manifest and is still running.
async function watched(t: ExecutionContext): Promise<WatchPaths & { daemon: WatchProcess }> {
  const p = makeWatchPaths('h200');
  const daemon = startWatch(p, { notify: true });
  t.teardown(async () => {
    await daemon.stop('SIGKILL').catch(() => {});
    p.cleanup();
  });
  await daemon.ready();
  return { ...p, daemon };
}

serial(`fresh manifest: human output names driver, GPU and watcher; exit 0${NEEDS_ROOT}`, async (t) => {
  const p = await watched(t);
  const r = runCli(['status', '--manifest', p.manifest]);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.is(r.stderr, '');
  const lines = r.stdout.trimEnd().split('\n');
  t.regex(lines[0]!, new RegExp(`^manifest: ${p.manifest} \\(generated \\d{4}-\\d\\d-\\d\\dT`));
  t.true(lines.includes(`driver: ${FIXTURE_DRIVER} (CUDA 13.0); loaded now: ${FIXTURE_DRIVER}`), r.stdout);
  t.true(lines.includes(`GPU 0: NVIDIA H200  ${UUID}  0000:00:06.0  /dev/nvidia0`), r.stdout);
  t.true(lines.some((l) => l.startsWith(`watcher: pid ${p.daemon.pid} running, started `) && l.endsWith(', 1 writes, udev off')), r.stdout);
  t.false(lines.some((l) => l.startsWith('problem:')), r.stdout);
  t.is(lines.at(-1), 'OK');
});

serial(`fresh manifest: --json is one object with ok true; exit 0${NEEDS_ROOT}`, async (t) => {
  const p = await watched(t);
  const r = runCli(['status', '--manifest', p.manifest, '--json']);
  t.is(r.code, 0, r.stdout + r.stderr);
  const s = JSON.parse(r.stdout);
  t.like(s, { manifest: p.manifest, ok: true, problems: [], loadedDriver: FIXTURE_DRIVER, driver: { version: FIXTURE_DRIVER }, warnings: [] });
  t.deepEqual(s.gpus, [{ index: 0, uuid: UUID, pciBusId: '0000:00:06.0', model: 'NVIDIA H200', minor: 0, mig: null }]);
  t.deepEqual(s.imexChannels, []);
  t.like(s.watcher, { schema: 'oci-gpu.watch-status/v1', pid: p.daemon.pid, writes: 1, lastError: null, udev: false });
});

serial(`missing manifest: exit 3 and one line naming the file; --json says ok false${NEEDS_ROOT}`, (t) => {
  const dir = fs.mkdtempSync('/tmp/oci-gpu-status-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'manifest.json');
  const r = runCli(['status', '--manifest', file]);
  t.is(r.code, 3);
  t.is(r.stdout, '');
  t.is(r.stderr, `oci-gpu status: manifest "${file}" does not exist: is oci-gpu-watch running?\n`);
  const j = runCli(['status', '--manifest', file, '--json']);
  t.is(j.code, 3);
  t.like(JSON.parse(j.stdout), { manifest: file, ok: false, driver: null, gpus: [], watcher: null });
});

serial(`unparsable manifest: exit 3, one line naming the file${NEEDS_ROOT}`, (t) => {
  const dir = fs.mkdtempSync('/tmp/oci-gpu-status-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'manifest.json');
  fs.writeFileSync(file, '{"schema": "oci-gpu.manifest/v2", "gpus": [');
  const r = runCli(['status', '--manifest', file]);
  t.is(r.code, 3);
  t.is(r.stderr.split('\n').length, 2, r.stderr);
  t.true(r.stderr.startsWith(`oci-gpu status: manifest "${file}" is not valid JSON`), r.stderr);
});

serial(`stale manifest (the driver changed under it): exit 3, human and --json${NEEDS_ROOT}`, async (t) => {
  const p = await watched(t);
  await p.daemon.stop(); // so it cannot catch up with the change (it would, on its safety rescan)
  fs.writeFileSync(path.join(p.root, 'sys/module/nvidia/version'), '580.172.08\n');
  const r = runCli(['status', '--manifest', p.manifest]);
  t.is(r.code, 3, r.stdout + r.stderr);
  t.true(r.stdout.includes(`problem: manifest is stale: written for driver ${FIXTURE_DRIVER}, but driver 580.172.08 is loaded`), r.stdout);
  t.regex(r.stdout, new RegExp(`watcher: pid ${p.daemon.pid} not running`));
  t.true(r.stdout.trimEnd().endsWith('NOT OK: containers asking for GPUs will be refused'), r.stdout);
  const j = runCli(['status', '--manifest', p.manifest, '--json']);
  t.is(j.code, 3);
  t.like(JSON.parse(j.stdout), { ok: false, loadedDriver: '580.172.08', driver: { version: FIXTURE_DRIVER } });
});
