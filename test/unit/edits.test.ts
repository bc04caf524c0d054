import test from 'ava';
import fc from 'fast-check';
import { appendEdits, dedupeEdits, isEmptyEdits } from '../../src/core/plan/edits.js';
import type { ContainerEdits, DeviceNode, Hook, Mount } from '../../src/model/edits.js';
import { charNode, deepFreeze, fileMount } from '../helpers/manifests.js';

const ctl = charNode('/dev/nvidiactl', 195, 255);
const gpu0 = charNode('/dev/nvidia0', 195, 0);
const gpu1 = charNode('/dev/nvidia1', 195, 1);
const cuda = fileMount('/usr/lib/x86_64-linux-gnu/libcuda.so.580.159.04');
const smi = fileMount('/usr/bin/nvidia-smi');
const hook: Hook = { hookName: 'createRuntime', path: '/bin/sh', args: ['sh', '-c', 'true'], env: ['PATH=/bin'], timeout: 10 };

// --- appendEdits ---

test('appendEdits concatenates every list in argument order', (t) => {
  const a: ContainerEdits = { env: ['A=1'], deviceNodes: [ctl], mounts: [cuda] };
  const b: ContainerEdits = { env: ['B=2'], deviceNodes: [gpu0], mounts: [smi], hooks: [hook] };
  t.deepEqual(appendEdits(a, b), { env: ['A=1', 'B=2'], deviceNodes: [ctl, gpu0], mounts: [cuda, smi], hooks: [hook] });
  t.deepEqual(appendEdits(b, a), { env: ['B=2', 'A=1'], deviceNodes: [gpu0, ctl], mounts: [smi, cuda], hooks: [hook] });
});

test('appendEdits skips undefined parts and missing lists, and always returns all four lists', (t) => {
  t.deepEqual(appendEdits(), { env: [], deviceNodes: [], mounts: [], hooks: [] });
  t.deepEqual(appendEdits(undefined, { mounts: [cuda] }, undefined, {}), { env: [], deviceNodes: [], mounts: [cuda], hooks: [] });
});

test('appendEdits keeps duplicates (dedupeEdits drops them)', (t) => {
  t.deepEqual(appendEdits({ deviceNodes: [ctl] }, { deviceNodes: [ctl] }).deviceNodes, [ctl, ctl]);
});

test('appendEdits never mutates its inputs, and its lists are new arrays', (t) => {
  const a = deepFreeze<ContainerEdits>({ env: ['A=1'], deviceNodes: [ctl], mounts: [cuda], hooks: [hook] });
  const b = deepFreeze<ContainerEdits>({ env: ['B=2'], deviceNodes: [gpu0] });
  const out = appendEdits(a, b);
  out.env!.push('C=3');
  out.deviceNodes!.push(gpu1);
  t.deepEqual(a.env, ['A=1']);
  t.deepEqual(a.deviceNodes, [ctl]);
  t.not(out.mounts, a.mounts);
  t.not(out.hooks, a.hooks);
});

// --- dedupeEdits ---

test('dedupeEdits keeps the first node per path and the first mount per container path', (t) => {
  const other0: DeviceNode = { ...gpu0, minor: 7 };
  const otherCuda: Mount = { ...cuda, hostPath: '/elsewhere/libcuda.so' };
  const out = dedupeEdits({ deviceNodes: [ctl, gpu0, other0, ctl, gpu1], mounts: [cuda, smi, otherCuda] });
  t.deepEqual(out.deviceNodes, [ctl, gpu0, gpu1]);
  t.is(out.deviceNodes[1]!.minor, 0);
  t.deepEqual(out.mounts, [cuda, smi]);
  t.is(out.mounts[0]!.hostPath, cuda.hostPath);
});

test('dedupeEdits keeps one env entry per name: the last value, at the first position', (t) => {
  t.deepEqual(dedupeEdits({ env: ['A=1', 'B=2', 'A=3', 'C=', 'B=2'] }).env, ['A=3', 'B=2', 'C=']);
});

test('dedupeEdits splits env on the first "=" only', (t) => {
  t.deepEqual(dedupeEdits({ env: ['OPTS=a=b', 'OPTS=c=d', 'OPTS2=x'] }).env, ['OPTS=c=d', 'OPTS2=x']);
});

test('dedupeEdits drops hooks identical in every field but keeps those that differ in any', (t) => {
  const other: Hook = { ...hook, timeout: 5 };
  const prestart: Hook = { ...hook, hookName: 'prestart' };
  t.deepEqual(dedupeEdits({ hooks: [hook, { ...hook }, other, prestart, hook] }).hooks, [hook, other, prestart]);
});

test('dedupeEdits returns all four lists even for empty edits', (t) => {
  t.deepEqual(dedupeEdits({}), { env: [], deviceNodes: [], mounts: [], hooks: [] });
});

test('dedupeEdits never mutates its input', (t) => {
  const e = deepFreeze<ContainerEdits>({ env: ['A=1', 'A=2'], deviceNodes: [ctl, ctl], mounts: [cuda, cuda], hooks: [hook, hook] });
  const out = dedupeEdits(e);
  t.is(e.deviceNodes!.length, 2);
  t.is(out.deviceNodes.length, 1);
  t.not(out.deviceNodes, e.deviceNodes);
});

test('dedupeEdits is idempotent and its output has unique keys (property)', (t) => {
  const path = fc.constantFrom('/dev/nvidia0', '/dev/nvidia1', '/dev/nvidiactl', '/dev/nvidia-uvm');
  const edits = fc.record({
    env: fc.array(fc.tuple(fc.constantFrom('A', 'B', 'NVIDIA_VISIBLE_DEVICES'), fc.string()).map(([k, v]) => `${k}=${v}`)),
    deviceNodes: fc.array(fc.record({ path, major: fc.constant(195), minor: fc.nat(3) })),
    mounts: fc.array(fc.record({ hostPath: fc.constantFrom('/a', '/b'), containerPath: fc.constantFrom('/x', '/y', '/z') })),
  });
  fc.assert(
    fc.property(edits, (e) => {
      const once = dedupeEdits(e);
      t.deepEqual(dedupeEdits(once), once);
      const names = once.env.map((kv) => kv.split('=', 1)[0]);
      t.is(new Set(names).size, names.length);
      t.is(new Set(once.deviceNodes.map((d) => d.path)).size, once.deviceNodes.length);
      t.is(new Set(once.mounts.map((m) => m.containerPath)).size, once.mounts.length);
      // Nothing is lost: every key of the input is still there.
      t.deepEqual(new Set(once.deviceNodes.map((d) => d.path)), new Set(e.deviceNodes.map((d) => d.path)));
      t.deepEqual(new Set(once.mounts.map((m) => m.containerPath)), new Set(e.mounts.map((m) => m.containerPath)));
    }),
  );
});

// --- isEmptyEdits ---

const emptiness = test.macro({
  exec(t, edits: ContainerEdits, empty: boolean) {
    t.is(isEmptyEdits(edits), empty);
  },
  title: (_, edits: ContainerEdits, empty: boolean) => `isEmptyEdits(${JSON.stringify(edits).slice(0, 60)}) is ${empty}`,
});
test(emptiness, {}, true);
test(emptiness, { env: [], deviceNodes: [], mounts: [], hooks: [] }, true);
test(emptiness, { env: ['A=1'] }, false);
test(emptiness, { deviceNodes: [ctl] }, false);
test(emptiness, { mounts: [cuda] }, false);
test(emptiness, { hooks: [hook] }, false);
test(emptiness, { env: [], mounts: [cuda] }, false);
