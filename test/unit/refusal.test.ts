// Refusals: the container id found in what the hook or the wrapper read, the refusal log's line and
// its bounds (one write per refusal, a cap, rotation to ".1"), and the syslog datagram's text.
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { appendRefusal, MAX_BYTES, readRefusals, recordRefusal, refusalLogFor, rotateRefusals } from '../../src/adapters/refusal-log.js';
import { unixAddress } from '../../src/adapters/libc.js';
import { containerIdOf, formatRefusal, parseRefusal, REFUSAL_LINE_MAX, syslogMessage, type Refusal } from '../../src/core/refusal/refusal.js';

const ID = 'c14c09cc420940fc062f719b779883f20a5fcbe3d52c389539b043b963a644ef';

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oci-gpu-refusal-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const refusal = (n: number, reason = `reason ${n}`): Refusal => ({ time: `2026-12-07T12:00:${String(n % 60).padStart(2, '0')}.000Z`, program: 'oci-gpu-hook', container: ID, reason });

test('container id: Podman precreate config (from its per-container mounts), runtime state, CRI-O annotation, Docker mounts', (t) => {
  const podman = {
    ociVersion: '1.0.0',
    hostname: 'c14c09cc4209',
    mounts: [
      { destination: '/proc', source: 'proc' },
      { destination: '/etc/hostname', source: `/run/containers/storage/overlay-containers/${ID}/userdata/hostname` },
    ],
  };
  t.is(containerIdOf(podman), ID);
  t.is(containerIdOf({ ociVersion: '1.0.2', id: 'legacy-crun-42', pid: 7, bundle: '/b' }), 'legacy-crun-42');
  t.is(containerIdOf({ annotations: { 'io.kubernetes.cri-o.ContainerID': 'abc123' }, mounts: podman.mounts }), 'abc123');
  t.is(containerIdOf({ mounts: [{ source: `/var/lib/docker/containers/${ID}/hostname` }] }), ID);
  t.is(containerIdOf({ ociVersion: '1.0.0', mounts: [{ source: '/tmp/x' }] }), null);
  t.is(containerIdOf(null), null);
  t.is(containerIdOf({ id: 'bad id\n<script>' }), null, 'an id is never printed unchecked');
});

test('the log line round-trips, stays one line, and is cut to REFUSAL_LINE_MAX bytes', (t) => {
  const r = refusal(1, 'manifest "/run/oci-gpu/manifest.json" does not exist: is oci-gpu-watch running?');
  const line = formatRefusal(r);
  t.is(line, `2026-12-07T12:00:01.000Z oci-gpu-hook container ${ID}: manifest "/run/oci-gpu/manifest.json" does not exist: is oci-gpu-watch running?\n`);
  t.deepEqual(parseRefusal(line.trimEnd()), r);
  t.is(formatRefusal({ ...r, reason: 'two\nlines' }).split('\n').length, 2);
  const long = formatRefusal({ ...r, reason: 'é'.repeat(2000) });
  t.true(Buffer.byteLength(long) <= REFUSAL_LINE_MAX, `${Buffer.byteLength(long)} bytes`);
  t.true(long.endsWith('…\n'));
  t.false(long.includes('\uFFFD'), 'cut on a character boundary');
  t.is(formatRefusal({ ...r, container: 'a b' }).split(' ')[3], 'unknown:');
});

test('syslog message: "<PRI>TAG[PID]: MSG" (daemon.err), one line, no timestamp (the receiver stamps it)', (t) => {
  t.is(syslogMessage('oci-gpu-hook', 4242, `container ${ID}: no GPU 3`), `<27>oci-gpu-hook[4242]: container ${ID}: no GPU 3`);
  t.is(syslogMessage('oci-gpu-runtime', 1, 'a\nb'), '<27>oci-gpu-runtime[1]: a b');
});

test('unix socket addresses: a path with its NUL, an abstract name without, too long refused', (t) => {
  const p = unixAddress('/run/systemd/notify')!;
  t.is(p.length, 2 + '/run/systemd/notify'.length + 1);
  t.deepEqual([...p.bytes.subarray(0, 3)], [1, 0, '/'.charCodeAt(0)]);
  const a = unixAddress('@/org/freedesktop/systemd1/notify')!;
  t.is(a.length, 2 + '@/org/freedesktop/systemd1/notify'.length);
  t.is(a.bytes[2], 0);
  t.is(unixAddress(`/${'x'.repeat(107)}`), null);
  t.truthy(unixAddress(`/${'x'.repeat(106)}`));
});

test('refusal log: appended lines read back oldest first, the last N; .1 read before the current file', (t) => {
  const file = refusalLogFor(path.join(tempDir(t), 'manifest.json'));
  t.deepEqual(readRefusals(file), []);
  for (let i = 0; i < 3; i++) appendRefusal(file, refusal(i));
  t.true(rotateRefusals(file, 10));
  t.false(fs.existsSync(file));
  for (let i = 3; i < 15; i++) appendRefusal(file, refusal(i));
  fs.appendFileSync(file, 'a torn or foreign line\n');
  t.deepEqual(readRefusals(file, 4).map((r) => r.reason), ['reason 11', 'reason 12', 'reason 13', 'reason 14']);
  t.deepEqual(readRefusals(file, 100).map((r) => r.reason).slice(0, 4), ['reason 0', 'reason 1', 'reason 2', 'reason 3']);
  t.false(rotateRefusals(file, 1 << 20), 'small enough: left alone');
});

test.serial('refusal log: 0644 under umask 077; a hook appends nothing past MAX_BYTES', (t) => {
  const file = refusalLogFor(path.join(tempDir(t), 'manifest.json'));
  const old = process.umask(0o077);
  try {
    appendRefusal(file, refusal(1));
  } finally {
    process.umask(old);
  }
  t.is(fs.statSync(file).mode & 0o777, 0o644);
  fs.appendFileSync(file, 'x'.repeat(MAX_BYTES));
  const size = fs.statSync(file).size;
  appendRefusal(file, refusal(2));
  t.is(fs.statSync(file).size, size);
});

test('recordRefusal never throws: an unwritable log folder and a syslog socket that is not one', async (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, 'file'), '');
  await t.notThrowsAsync(recordRefusal({ program: 'oci-gpu-hook', reason: 'x', container: null, manifest: path.join(dir, 'file/manifest.json'), syslog: path.join(dir, 'file') }));
  await recordRefusal({ program: 'oci-gpu-hook', reason: 'no GPU 3', container: null, input: Buffer.from(JSON.stringify({ mounts: [{ source: `/x/overlay-containers/${ID}/userdata/hosts` }] })), manifest: path.join(dir, 'manifest.json'), syslog: '' });
  t.deepEqual(readRefusals(refusalLogFor(path.join(dir, 'manifest.json'))).map((r) => [r.program, r.container, r.reason]), [['oci-gpu-hook', ID, 'no GPU 3']]);
});
