// writeFileAtomic: the mode is the one asked for, whatever the umask of the process (a watcher
// started under umask 077 must still write a manifest rootless Podman can read).
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureFileMode, writeFileAtomic } from '../../src/adapters/atomic-write.js';

// Tests in this file change the process umask: one at a time, restored whatever happens.
function underUmask<T>(mask: number, fn: () => T): T {
  const old = process.umask(mask);
  try {
    return fn();
  } finally {
    process.umask(old);
  }
}

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oci-gpu-atomic-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test.serial('under umask 077 a new file gets 0644 (the default mode), not 0600', (t) => {
  const file = path.join(tempDir(t), 'manifest.json');
  underUmask(0o077, () => writeFileAtomic(file, '{}\n'));
  t.is(fs.statSync(file).mode & 0o777, 0o644);
  t.is(fs.readFileSync(file, 'utf8'), '{}\n');
});

test.serial('under umask 077 a rewrite of a 0600 file makes it 0644', (t) => {
  const file = path.join(tempDir(t), 'manifest.json');
  fs.writeFileSync(file, 'old', { mode: 0o600 });
  fs.chmodSync(file, 0o600);
  underUmask(0o077, () => writeFileAtomic(file, 'new'));
  t.is(fs.statSync(file).mode & 0o777, 0o644);
  t.is(fs.readFileSync(file, 'utf8'), 'new');
});

test.serial('an explicit mode is kept exactly, bits the umask would clear included', (t) => {
  const dir = tempDir(t);
  underUmask(0o077, () => writeFileAtomic(path.join(dir, 'a'), 'x', 0o755));
  underUmask(0o022, () => writeFileAtomic(path.join(dir, 'b'), 'x', 0o600));
  t.is(fs.statSync(path.join(dir, 'a')).mode & 0o777, 0o755);
  t.is(fs.statSync(path.join(dir, 'b')).mode & 0o777, 0o600);
  t.deepEqual(fs.readdirSync(dir).sort(), ['a', 'b'], 'no temp file left');
});

test.serial('under umask 077 the folders it creates are 0755 (rootless Podman must reach the manifest); existing ones keep their mode', (t) => {
  const dir = tempDir(t);
  fs.mkdirSync(path.join(dir, 'kept'), { mode: 0o700 });
  fs.chmodSync(path.join(dir, 'kept'), 0o700);
  underUmask(0o077, () => writeFileAtomic(path.join(dir, 'kept/run/oci-gpu/manifest.json'), '{}'));
  t.is(fs.statSync(path.join(dir, 'kept')).mode & 0o777, 0o700);
  t.is(fs.statSync(path.join(dir, 'kept/run')).mode & 0o777, 0o755);
  t.is(fs.statSync(path.join(dir, 'kept/run/oci-gpu')).mode & 0o777, 0o755);
  t.is(fs.statSync(path.join(dir, 'kept/run/oci-gpu/manifest.json')).mode & 0o777, 0o644);
});

test.serial('ensureFileMode: a 0600 file becomes 0644 and the old mode is returned; a right or missing file is left alone', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'cdi.json');
  fs.writeFileSync(file, 'x');
  fs.chmodSync(file, 0o600);
  t.is(ensureFileMode(file), 0o600);
  t.is(fs.statSync(file).mode & 0o777, 0o644);
  t.is(ensureFileMode(file), null);
  t.is(ensureFileMode(path.join(dir, 'missing')), null);
});

test.serial('durable: false (a bundle config) still replaces by rename, with the mode asked for and no temp file left', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, 'old');
  const before = fs.statSync(file).ino;
  underUmask(0o077, () => writeFileAtomic(file, 'new', 0o600, { durable: false }));
  t.is(fs.readFileSync(file, 'utf8'), 'new');
  t.not(fs.statSync(file).ino, before, 'a new inode: renamed over, never written in place');
  t.is(fs.statSync(file).mode & 0o777, 0o600);
  t.deepEqual(fs.readdirSync(dir), ['config.json']);
});
