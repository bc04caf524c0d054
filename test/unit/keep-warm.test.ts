// KeepWarm against real character nodes made with mknod (1:3 and 1:5, /dev/null and /dev/zero: opening
// them is harmless), so it needs root; persistencedRunning needs nothing special.
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../../src/model/logger.js';
import { KeepWarm, persistencedRunning } from '../../src/watch/keep-warm.js';
import { NEEDS_ROOT, rootTest } from '../helpers/root.js';

function tree(t: ExecutionContext): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'oci-gpu-keep-warm-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  fs.mkdirSync(path.join(root, 'dev'));
  return root;
}

function mknod(file: string, minor: number): string {
  const r = spawnSync('mknod', ['-m', '0666', file, 'c', '1', String(minor)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mknod ${file}: ${r.stderr}`);
  return file;
}

/** Paths this process holds open, read from /proc/self/fd. */
function heldOpen(): string[] {
  const held: string[] = [];
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      held.push(fs.readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      // the fd of readdir itself, closed by now
    }
  }
  return held;
}

function recorder(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, error: (m) => lines.push(`error: ${m}`), warn: (m) => lines.push(`warn: ${m}`), info: (m) => lines.push(`info: ${m}`), debug: () => {} };
}

rootTest(`holds the nodes open while enabled, and opens each only once${NEEDS_ROOT}`, (t) => {
  const root = tree(t);
  const a = mknod(path.join(root, 'dev/nvidia0'), 3);
  const b = mknod(path.join(root, 'dev/nvidiactl'), 5);
  const warm = new KeepWarm(recorder());
  t.teardown(() => warm.release());
  t.deepEqual(warm.sync([b, a], true, root), [a, b]);
  t.deepEqual(heldOpen().filter((p) => p === a || p === b).sort(), [a, b]);
  t.deepEqual(warm.sync([a, b], true, root), [a, b]);
  t.deepEqual(heldOpen().filter((p) => p === a || p === b).sort(), [a, b], 'no second descriptor');
});

rootTest(`closes what is no longer listed, and everything when disabled or released${NEEDS_ROOT}`, (t) => {
  const root = tree(t);
  const a = mknod(path.join(root, 'dev/nvidia0'), 3);
  const b = mknod(path.join(root, 'dev/nvidia1'), 3);
  const log = recorder();
  const warm = new KeepWarm(log);
  warm.sync([a, b], true, root);
  t.deepEqual(warm.sync([a], true, root), [a]);
  t.false(heldOpen().includes(b));
  t.true(log.lines.includes(`info: keep-warm: released ${b}`));
  t.deepEqual(warm.sync([a, b], false, root), []);
  t.deepEqual(heldOpen().filter((p) => p === a || p === b), []);
  warm.sync([a, b], true, root);
  warm.release();
  t.deepEqual(heldOpen().filter((p) => p === a || p === b), []);
});

rootTest(`holds nothing while nvidia-persistenced runs${NEEDS_ROOT}`, (t) => {
  const root = tree(t);
  const a = mknod(path.join(root, 'dev/nvidia0'), 3);
  const warm = new KeepWarm(recorder());
  t.teardown(() => warm.release());
  t.deepEqual(warm.sync([a], true, root), [a]);
  fs.mkdirSync(path.join(root, 'run/nvidia-persistenced'), { recursive: true });
  fs.writeFileSync(path.join(root, 'run/nvidia-persistenced/socket'), '');
  t.deepEqual(warm.sync([a], true, root), [], 'persistenced keeps the driver warm itself');
  t.false(heldOpen().includes(a));
});

rootTest(`a node that cannot be opened is warned about once and retried on the next sync${NEEDS_ROOT}`, (t) => {
  const root = tree(t);
  const missing = path.join(root, 'dev/nvidia0');
  const log = recorder();
  const warm = new KeepWarm(log);
  t.teardown(() => warm.release());
  t.deepEqual(warm.sync([missing], true, root), []);
  t.deepEqual(warm.sync([missing], true, root), []);
  t.deepEqual(log.lines.filter((l) => l.startsWith('warn:')), [`warn: keep-warm: cannot open ${missing}: ENOENT`]);
  mknod(missing, 3);
  t.deepEqual(warm.sync([missing], true, root), [missing]);
});

test('persistencedRunning: false on an empty tree', (t) => {
  t.false(persistencedRunning(tree(t)));
});

test('persistencedRunning: true when its socket file exists', async (t) => {
  const root = tree(t);
  const dir = path.join(root, 'run/nvidia-persistenced');
  fs.mkdirSync(dir, { recursive: true });
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(path.join(dir, 'socket'), resolve));
  t.teardown(() => server.close());
  t.true(fs.statSync(path.join(dir, 'socket')).isSocket());
  t.true(persistencedRunning(root));
});

test('persistencedRunning: true when /proc lists a process named nvidia-persiste (comm is cut at 15 bytes)', (t) => {
  const root = tree(t);
  for (const [pid, comm] of [['1', 'systemd'], ['4242', 'nvidia-persiste'], ['self', 'nvidia-persiste']]) {
    fs.mkdirSync(path.join(root, 'proc', pid!), { recursive: true });
    fs.writeFileSync(path.join(root, 'proc', pid!, 'comm'), `${comm}\n`);
  }
  t.true(persistencedRunning(root));
  fs.rmSync(path.join(root, 'proc/4242'), { recursive: true });
  t.false(persistencedRunning(root), 'only numeric /proc entries are processes');
});
