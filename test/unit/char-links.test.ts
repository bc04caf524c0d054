// syncCharLinks on a temp tree: the links are plain symlinks, so no root is needed.
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DeviceNode } from '../../src/model/edits.js';
import type { Logger } from '../../src/model/logger.js';
import { syncCharLinks } from '../../src/watch/char-links.js';

function tree(t: { teardown(fn: () => void): void }): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'oci-gpu-char-links-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  fs.mkdirSync(path.join(root, 'dev/nvidia-caps'), { recursive: true });
  // Plain files stand in for the nodes: syncCharLinks reads numbers from the manifest, not the files.
  for (const f of ['nvidia0', 'nvidiactl', 'nvidia-caps/nvidia-cap1', 'sda']) fs.writeFileSync(path.join(root, 'dev', f), '');
  return root;
}

function recorder(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, error: () => {}, warn: (m) => warnings.push(m), info: () => {}, debug: () => {} };
}

const node = (p: string, major: number, minor: number): DeviceNode => ({ path: p, type: 'c', major, minor });
const NODES = [node('/dev/nvidia0', 195, 0), node('/dev/nvidiactl', 195, 255), node('/dev/nvidia-caps/nvidia-cap1', 241, 1)];

const links = (root: string) =>
  Object.fromEntries(
    fs
      .readdirSync(path.join(root, 'dev/char'))
      .sort()
      .map((n) => [n, fs.readlinkSync(path.join(root, 'dev/char', n))]),
  );

test('creates a relative /dev/char/<major>:<minor> link for each node, as udev does', (t) => {
  const root = tree(t);
  const r = syncCharLinks(root, NODES, recorder());
  t.deepEqual(links(root), { '195:0': '../nvidia0', '195:255': '../nvidiactl', '241:1': '../nvidia-caps/nvidia-cap1' });
  t.deepEqual(r.created.sort(), ['195:0', '195:255', '241:1'].map((n) => path.join(root, 'dev/char', n)));
  t.deepEqual(r.removed, []);
  t.true(fs.existsSync(path.join(root, 'dev/char/195:0')), 'the link resolves');
});

test('is idempotent: a second run changes nothing', (t) => {
  const root = tree(t);
  syncCharLinks(root, NODES, recorder());
  const before = fs.lstatSync(path.join(root, 'dev/char/195:0')).ino;
  t.deepEqual(syncCharLinks(root, NODES, recorder()), { created: [], removed: [] });
  t.is(fs.lstatSync(path.join(root, 'dev/char/195:0')).ino, before, 'the link was not recreated');
});

test('replaces a link to the wrong NVIDIA node', (t) => {
  const root = tree(t);
  fs.mkdirSync(path.join(root, 'dev/char'));
  fs.symlinkSync('../nvidia7', path.join(root, 'dev/char/195:0'));
  const r = syncCharLinks(root, NODES, recorder());
  t.is(fs.readlinkSync(path.join(root, 'dev/char/195:0')), '../nvidia0');
  t.true(r.created.includes(path.join(root, 'dev/char/195:0')));
});

test('never touches a link that is not to an NVIDIA node, even on a wanted number or dangling', (t) => {
  const root = tree(t);
  fs.mkdirSync(path.join(root, 'dev/char'));
  fs.symlinkSync('../sda', path.join(root, 'dev/char/195:0')); // someone else's, on our number
  fs.symlinkSync('../ttyS9', path.join(root, 'dev/char/4:73')); // dangling, not ours
  fs.writeFileSync(path.join(root, 'dev/char/195:255'), 'a plain file'); // not a link at all
  const log = recorder();
  const r = syncCharLinks(root, NODES, log);
  t.is(fs.readlinkSync(path.join(root, 'dev/char/195:0')), '../sda');
  t.is(fs.readlinkSync(path.join(root, 'dev/char/4:73')), '../ttyS9');
  t.is(fs.readFileSync(path.join(root, 'dev/char/195:255'), 'utf8'), 'a plain file');
  t.deepEqual(r.created, [path.join(root, 'dev/char/241:1')]);
  t.deepEqual(r.removed, []);
  t.deepEqual(log.warnings, []);
});

test('removes links to NVIDIA nodes that are gone, keeps those whose node still exists', (t) => {
  const root = tree(t);
  syncCharLinks(root, NODES, recorder());
  fs.symlinkSync('../nvidia3', path.join(root, 'dev/char/195:3')); // a GPU that went away
  fs.symlinkSync('../nvidia-caps/nvidia-cap9', path.join(root, 'dev/char/241:9'));
  const r = syncCharLinks(root, NODES.slice(0, 2), recorder()); // cap1 no longer listed, but its node is still there
  t.deepEqual(r.removed.sort(), [path.join(root, 'dev/char/195:3'), path.join(root, 'dev/char/241:9')]);
  t.deepEqual(Object.keys(links(root)), ['195:0', '195:255', '241:1']);
  fs.rmSync(path.join(root, 'dev/nvidia-caps/nvidia-cap1'));
  t.deepEqual(syncCharLinks(root, NODES.slice(0, 2), recorder()).removed, [path.join(root, 'dev/char/241:1')]);
});

test('skips nodes without numbers and non-character nodes', (t) => {
  const root = tree(t);
  const r = syncCharLinks(root, [{ path: '/dev/nvidia0', type: 'c' }, { path: '/dev/sda', type: 'b', major: 8, minor: 0 }], recorder());
  t.deepEqual(r, { created: [], removed: [] });
  t.deepEqual(fs.readdirSync(path.join(root, 'dev/char')), []);
});

test('a /dev/char that cannot be created is a warning, not a throw', (t) => {
  const root = tree(t);
  fs.writeFileSync(path.join(root, 'dev/char'), 'not a folder');
  const log = recorder();
  t.deepEqual(syncCharLinks(root, NODES, log), { created: [], removed: [] });
  t.is(log.warnings.length, 1);
  t.regex(log.warnings[0]!, /dev\/char.*EEXIST/);
});
