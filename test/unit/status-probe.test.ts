// `oci-gpu status --max-scan-age S`, the DaemonSet's liveness and readiness probe: it passes on a
// node without a driver (so a rolling update is not blocked there) and fails only when the
// watcher stopped scanning or never wrote the manifest.
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runStatus } from '../../src/cli/status.js';
import { UsageError } from '../../src/errors.js';
import { serializeManifest } from '../../src/core/manifest/manifest-codec.js';
import { buildManifest } from '../helpers/manifests.js';

function setup(t: { teardown(fn: () => void): void }, lastScanAgoS: number | null, manifest = true) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oci-gpu-probe-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'manifest.json');
  if (manifest) fs.writeFileSync(file, serializeManifest(buildManifest({ driver: null })));
  if (lastScanAgoS !== null) fs.writeFileSync(path.join(dir, 'watch-status.json'), JSON.stringify({ schema: 'oci-gpu.watch-status/v1', pid: 1, lastScanAt: new Date(Date.now() - lastScanAgoS * 1000).toISOString() }));
  const out: string[] = [];
  const err: string[] = [];
  const code = (age: string) => runStatus(['--manifest', file, '--max-scan-age', age], { out: (s) => out.push(s), err: (s) => err.push(s), isTTY: false });
  return { file, out, err, code };
}

test('a recent scan passes, even with no driver on the node', (t) => {
  const s = setup(t, 5);
  t.is(s.code('300'), 0);
  t.regex(s.out.join(''), /^OK: last scan \d+ s ago\n$/);
});

test('an old scan fails with the age', (t) => {
  const s = setup(t, 1000);
  t.is(s.code('300'), 3);
  t.regex(s.err.join(''), /^oci-gpu status: the watcher's last scan was 1000 s ago \(more than 300 s\)\n$/);
});

test('no scan yet, or no manifest, fails', (t) => {
  t.is(setup(t, null).code('300'), 3);
  const s = setup(t, 5, false);
  t.is(s.code('300'), 3);
  t.regex(s.err.join(''), /manifest ".*" does not exist/);
});

test('a bad value is a usage error', (t) => {
  t.throws(() => setup(t, 5).code('soon'), { instanceOf: UsageError });
});
