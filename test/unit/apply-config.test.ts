import test, { type ExecutionContext } from 'ava';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { applyEditsToConfig } from '../../src/core/plan/apply-config.js';
import { rulesAllow } from '../../src/core/plan/device-rules.js';
import { postMountHook } from '../../src/core/plan/post-mount.js';
import { planEdits } from '../../src/core/plan/plan-edits.js';
import { editConfigForRequest } from '../../src/core/plan/plan-config.js';
import { parseRequest } from '../../src/core/request/request.js';
import type { ContainerEdits, DeviceNode, Hook } from '../../src/model/edits.js';
import { CAPABILITIES } from '../../src/model/manifest.js';
import type { OciConfig } from '../../src/model/oci.js';
import { buildManifest, charNode, deepFreeze, fileMount, scanFixture } from '../helpers/manifests.js';
import { SCHEMAS } from '../helpers/paths.js';
import { validateOciConfig } from '../helpers/schema.js';
import { FIXTURE_HOSTS } from '../helpers/root.js';

const EXAMPLE = deepFreeze(JSON.parse(readFileSync(path.join(SCHEMAS, 'oci-runtime/example-config.json'), 'utf8')) as OciConfig);
const ON = { maskDriverParams: true, cudaCompat: true };
const MINIMAL: OciConfig = deepFreeze({ ociVersion: '1.2.0', root: { path: 'rootfs' }, process: { cwd: '/', args: ['sh'], env: ['PATH=/usr/bin:/bin'] } });

const ctl = charNode('/dev/nvidiactl', 195, 255);
const gpu0 = charNode('/dev/nvidia0', 195, 0);
const cudaMount = fileMount('/usr/lib/x86_64-linux-gnu/libcuda.so.580.159.04');
const mps = fileMount('/tmp/nvidia-mps');
const ldHook = postMountHook({ ldconfig: '/sbin/ldconfig.real', nsenter: '/usr/bin/nsenter', sh: '/bin/sh', awk: '/usr/bin/awk', mount: '/usr/bin/mount' }, ['/usr/lib/x86_64-linux-gnu'])!;
const EDITS: ContainerEdits = deepFreeze({
  env: ['NVIDIA_DRIVER_CAPABILITIES=compute'],
  deviceNodes: [ctl, gpu0],
  mounts: [cudaMount, mps],
  hooks: [ldHook],
});

/** Applies the edits and checks that the result is still a valid OCI config. */
function apply(t: ExecutionContext, config: OciConfig, edits: ContainerEdits): OciConfig {
  const out = applyEditsToConfig(config, edits);
  t.deepEqual(validateOciConfig(out), [], 'a valid OCI config');
  return out;
}

// --- devices and cgroup rules ---

test('device nodes become linux.devices entries and an allow rule each', (t) => {
  const out = apply(t, MINIMAL, { deviceNodes: [ctl, gpu0] });
  t.deepEqual(out.linux?.devices, [
    { path: '/dev/nvidiactl', type: 'c', major: 195, minor: 255, fileMode: 0o666, uid: 0, gid: 0 },
    { path: '/dev/nvidia0', type: 'c', major: 195, minor: 0, fileMode: 0o666, uid: 0, gid: 0 },
  ]);
  t.deepEqual(out.linux?.resources?.devices, [
    { allow: true, type: 'c', major: 195, minor: 255, access: 'rwm' },
    { allow: true, type: 'c', major: 195, minor: 0, access: 'rwm' },
  ]);
});

test('a node\'s type and permissions carry over; type defaults to c; hostPath never reaches the config', (t) => {
  const nodes: DeviceNode[] = [
    { path: '/dev/nvidia-caps/nvidia-cap1', major: 237, minor: 1, permissions: 'r', hostPath: '/srv/host/dev/nvidia-caps/nvidia-cap1' },
    { path: '/dev/sdx', type: 'b', major: 8, minor: 16 },
  ];
  const out = apply(t, MINIMAL, { deviceNodes: nodes });
  t.deepEqual(out.linux?.devices, [
    { path: '/dev/nvidia-caps/nvidia-cap1', type: 'c', major: 237, minor: 1 },
    { path: '/dev/sdx', type: 'b', major: 8, minor: 16 },
  ]);
  t.deepEqual(out.linux?.resources?.devices, [
    { allow: true, type: 'c', major: 237, minor: 1, access: 'r' },
    { allow: true, type: 'b', major: 8, minor: 16, access: 'rwm' },
  ]);
});

test('a node without major or minor is skipped: no device, no rule', (t) => {
  const out = apply(t, MINIMAL, { deviceNodes: [{ path: '/dev/nvidia-x', minor: 1 }, { path: '/dev/nvidia-y', major: 195 }, gpu0] });
  t.deepEqual(out.linux?.devices?.map((d) => d.path), ['/dev/nvidia0']);
  t.is(out.linux?.resources?.devices?.length, 1);
});

test('the allow rules come after the config\'s deny-all, so the runtime lets the nodes through', (t) => {
  const out = apply(t, EXAMPLE, { deviceNodes: [ctl, gpu0] });
  const rules = out.linux!.resources!.devices!;
  t.deepEqual(rules.slice(0, 3), EXAMPLE.linux!.resources!.devices);
  t.false(rulesAllow(EXAMPLE.linux!.resources!.devices!, gpu0), 'denied before');
  t.true(rulesAllow(rules, gpu0));
  t.true(rulesAllow(rules, ctl));
  t.false(rulesAllow(rules, charNode('/dev/nvidia1', 195, 1)), 'other GPUs stay denied');
});

test('a device the config already has at that path is kept as it is; the rule is added once', (t) => {
  const config: OciConfig = deepFreeze({
    ...MINIMAL,
    linux: {
      devices: [{ path: '/dev/nvidia0', type: 'c', major: 195, minor: 0, fileMode: 0o600 }],
      resources: { devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 195, minor: 0, access: 'rwm' }] },
    },
  });
  const out = apply(t, config, { deviceNodes: [gpu0] });
  t.deepEqual(out.linux?.devices, config.linux!.devices);
  t.deepEqual(out.linux?.resources?.devices, config.linux!.resources!.devices);
});

// --- mounts ---

test('mounts are bind mounts with their own options, appended after the config\'s', (t) => {
  const out = apply(t, EXAMPLE, { mounts: [cudaMount, mps, { hostPath: '/h/x', containerPath: '/x', type: 'none', options: ['rbind'] }, { hostPath: '/h/y', containerPath: '/y' }] });
  t.deepEqual(out.mounts!.slice(0, EXAMPLE.mounts!.length), EXAMPLE.mounts);
  t.deepEqual(out.mounts!.slice(EXAMPLE.mounts!.length), [
    { destination: cudaMount.containerPath, type: 'bind', source: cudaMount.hostPath, options: ['ro', 'nosuid', 'nodev', 'bind'] },
    { destination: '/tmp/nvidia-mps', type: 'bind', source: '/tmp/nvidia-mps', options: ['rw', 'nosuid', 'nodev', 'bind'] },
    { destination: '/x', type: 'none', source: '/h/x', options: ['rbind'] },
    { destination: '/y', type: 'bind', source: '/h/y', options: ['ro', 'nosuid', 'nodev', 'bind'] },
  ]);
});

test('a mount the config already has at that destination wins', (t) => {
  const mine = { destination: cudaMount.containerPath, type: 'bind', source: '/my/libcuda.so', options: ['ro', 'bind'] };
  const out = apply(t, { ...MINIMAL, mounts: [mine] }, { mounts: [cudaMount] });
  t.deepEqual(out.mounts, [mine]);
});

// --- env ---

test('env entries are added unless the config already sets that name', (t) => {
  const config: OciConfig = deepFreeze({ ...MINIMAL, process: { ...MINIMAL.process, env: ['PATH=/usr/bin', 'NVIDIA_VISIBLE_DEVICES=all'] } });
  const out = apply(t, config, { env: ['NVIDIA_VISIBLE_DEVICES=void', 'LD_LIBRARY_PATH=/usr/local/nvidia/lib64', 'EMPTY='] });
  t.deepEqual(out.process?.env, ['PATH=/usr/bin', 'NVIDIA_VISIBLE_DEVICES=all', 'LD_LIBRARY_PATH=/usr/local/nvidia/lib64', 'EMPTY=']);
});

test('env is created when the config has no process env', (t) => {
  const out = applyEditsToConfig({ ociVersion: '1.2.0' }, { env: ['A=1'] });
  t.deepEqual(out.process, { env: ['A=1'] });
});

test('a name that is a prefix of another is a different name', (t) => {
  const out = apply(t, { ...MINIMAL, process: { cwd: '/', env: ['NVIDIA_VISIBLE_DEVICES_X=1'] } }, { env: ['NVIDIA_VISIBLE_DEVICES=0'] });
  t.deepEqual(out.process?.env, ['NVIDIA_VISIBLE_DEVICES_X=1', 'NVIDIA_VISIBLE_DEVICES=0']);
});

// --- hooks ---

test('hooks go to their stage with path, args, env and timeout', (t) => {
  const hooks: Hook[] = [
    ldHook,
    { hookName: 'prestart', path: '/usr/bin/legacy' },
    { hookName: 'poststop', path: '/usr/bin/cleanup', args: ['cleanup'], timeout: 3 },
  ];
  const out = apply(t, EXAMPLE, { hooks });
  t.deepEqual(out.hooks!.createRuntime, [...EXAMPLE.hooks!.createRuntime!, { path: ldHook.path, args: ldHook.args, env: ldHook.env, timeout: 10 }]);
  t.deepEqual(out.hooks!.prestart, [...EXAMPLE.hooks!.prestart!, { path: '/usr/bin/legacy' }]);
  t.deepEqual(out.hooks!.poststop, [...EXAMPLE.hooks!.poststop!, { path: '/usr/bin/cleanup', args: ['cleanup'], timeout: 3 }]);
  t.deepEqual(out.hooks!.createContainer, EXAMPLE.hooks!.createContainer);
  t.false('hookName' in out.hooks!.createRuntime!.at(-1)!);
});

test('a hook identical to one the config has is not added again; one that differs is', (t) => {
  const config: OciConfig = { ...MINIMAL, hooks: { createRuntime: [{ path: ldHook.path, args: [...ldHook.args!], env: [...ldHook.env!], timeout: 10 }] } };
  t.is(apply(t, config, { hooks: [ldHook] }).hooks!.createRuntime!.length, 1);
  t.is(apply(t, config, { hooks: [{ ...ldHook, timeout: 20 }] }).hooks!.createRuntime!.length, 2);
});

// --- idempotence, inputs, copies ---

const idempotent = test.macro({
  exec(t, config: OciConfig, edits: ContainerEdits, _name: string) {
    const once = applyEditsToConfig(config, edits);
    const twice = applyEditsToConfig(once, edits);
    t.deepEqual(twice, once);
    t.deepEqual(applyEditsToConfig(twice, edits), once);
    t.deepEqual(validateOciConfig(once), []);
  },
  title: (_, _config: OciConfig, _edits: ContainerEdits, name: string) => `applying twice equals applying once: ${name}`,
});
test(idempotent, MINIMAL, EDITS, 'minimal config');
test(idempotent, EXAMPLE, EDITS, 'example config');
test(idempotent, { ociVersion: '1.2.0', process: { cwd: '/' } }, EDITS, 'config without linux, mounts or hooks');
test(idempotent, MINIMAL, { deviceNodes: [gpu0, gpu0], mounts: [cudaMount, cudaMount], env: ['A=1', 'A=2'], hooks: [ldHook, ldHook] }, 'edits with duplicates');

test('edits without anything to apply give the config back unchanged', (t) => {
  for (const config of [MINIMAL, EXAMPLE, { ociVersion: '1.2.0' } as OciConfig]) {
    t.deepEqual(applyEditsToConfig(config, {}), config);
    t.deepEqual(applyEditsToConfig(config, { env: [], deviceNodes: [], mounts: [], hooks: [] }), config);
  }
});

test('the input config and edits are never mutated (deep-frozen inputs)', (t) => {
  const before = structuredClone(EXAMPLE);
  const out = applyEditsToConfig(EXAMPLE, EDITS);
  t.deepEqual(EXAMPLE, before);
  t.not(out, EXAMPLE);
  t.not(out.mounts, EXAMPLE.mounts);
  t.not(out.linux, EXAMPLE.linux);
});

test('the output shares no array with the edits: changing it leaves the edits (and the manifest) alone', (t) => {
  const edits: ContainerEdits = structuredClone({ ...EDITS });
  const before = structuredClone(edits);
  const out = applyEditsToConfig(MINIMAL, edits);
  for (const m of out.mounts ?? []) m.options?.push('rprivate');
  for (const list of Object.values(out.hooks ?? {})) for (const h of list) h.args?.push('--evil'), h.env?.push('LD_PRELOAD=/x');
  t.deepEqual(edits, before);
});

test('keeps every field of the config it does not know about', (t) => {
  const config = deepFreeze({ ...EXAMPLE, vm: { hypervisor: { path: '/x' } }, 'org.example/extension': [1, 2] } as OciConfig);
  const out = applyEditsToConfig(config, EDITS);
  t.deepEqual(out['vm'], config['vm']);
  t.deepEqual(out['org.example/extension'], [1, 2]);
  t.deepEqual(out.linux?.namespaces, EXAMPLE.linux?.namespaces);
  t.deepEqual(out.annotations, EXAMPLE.annotations);
});

// --- whole plans, validated against the OCI schema ---

for (const [name, config] of [['minimal', MINIMAL], ['example', EXAMPLE]] as const) {
  test(`a 64-GPU plan with every capability applied to the ${name} config is a valid OCI config`, (t) => {
    const m = buildManifest({ gpus: 64, root: '/srv/host' });
    const plan = planEdits(m, { source: 'test', devices: 'all', capabilities: [...CAPABILITIES], requirements: [], imexChannels: [], imexSource: 'test' });
    const out = applyEditsToConfig(config, plan.edits);
    t.deepEqual(validateOciConfig(out), []);
    t.is(out.linux!.devices!.length - (config.linux?.devices?.length ?? 0), plan.edits.deviceNodes.length);
    for (const node of plan.edits.deviceNodes) t.true(rulesAllow(out.linux!.resources!.devices!, node), node.path);
    t.deepEqual(applyEditsToConfig(out, plan.edits), out);
  });
}

for (const host of ['h200', 'rhel-2gpu'] as const) {
  FIXTURE_HOSTS.test(`${host}: editConfigForRequest gives a valid config that allows exactly the planned nodes${FIXTURE_HOSTS.why}`, (t) => {
    const m = scanFixture(host);
    const req = parseRequest({}, ['NVIDIA_VISIBLE_DEVICES=all', 'NVIDIA_DRIVER_CAPABILITIES=all'], 'nvidia.com/gpu')!;
    const out = editConfigForRequest(EXAMPLE, m, req, ON, '/b/rootfs');
    t.deepEqual(validateOciConfig(out), []);
    const plan = planEdits(m, req);
    const rules = out.linux!.resources!.devices!;
    for (const node of plan.edits.deviceNodes) t.true(rulesAllow(rules, node), node.path);
    for (const node of m.capNodes) t.false(rulesAllow(rules, node), `${node.path} stays denied`);
    // Mount sources are real files under the fixture root (a symlinked binary is its target).
    for (const mount of out.mounts!.slice(EXAMPLE.mounts!.length)) {
      t.true(mount.source!.startsWith(`${m.root}/`), mount.source);
    }
    t.is(out.hooks!.createRuntime!.length, EXAMPLE.hooks!.createRuntime!.length + 1, 'a read-only rootfs: one ld cache hook, from the runtime\'s namespace');
    t.deepEqual(out.hooks!.createContainer, EXAMPLE.hooks!.createContainer);
    t.deepEqual(editConfigForRequest(out, m, req, ON, '/b/rootfs'), out, 'idempotent');
    const writable = editConfigForRequest({ ...EXAMPLE, root: { path: 'rootfs' } }, m, req, ON, '/b/rootfs');
    t.deepEqual(writable.hooks!.createRuntime, EXAMPLE.hooks!.createRuntime);
    t.is(writable.hooks!.createContainer!.length, EXAMPLE.hooks!.createContainer!.length + 1, 'a writable rootfs: one ld cache hook, inside the container\'s namespaces');
    t.true(writable.hooks!.createContainer!.at(-1)!.args!.includes('/b/rootfs'), 'the step is given the rootfs');
  });
}

FIXTURE_HOSTS.test(`rhel-2gpu: NVIDIA_VISIBLE_DEVICES=1 allows /dev/nvidia3 and not /dev/nvidia0${FIXTURE_HOSTS.why}`, (t) => {
  const m = scanFixture('rhel-2gpu');
  const req = parseRequest({}, ['NVIDIA_VISIBLE_DEVICES=1'], 'nvidia.com/gpu')!;
  const out = editConfigForRequest(MINIMAL, m, req, ON, '/b/rootfs');
  t.deepEqual(validateOciConfig(out), []);
  t.deepEqual(out.linux!.devices!.map((d) => d.path), ['/dev/nvidiactl', '/dev/nvidia3', '/dev/nvidia-uvm', '/dev/nvidia-uvm-tools']);
  const rules = [{ allow: false, access: 'rwm' }, ...out.linux!.resources!.devices!];
  t.true(rulesAllow(rules, m.gpus[1]!.edits.deviceNodes![0]!));
  t.false(rulesAllow(rules, m.gpus[0]!.edits.deviceNodes![0]!));
});
