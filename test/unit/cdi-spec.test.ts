import test, { type ExecutionContext } from 'ava';
import { buildCdiSpec, buildImexCdiSpec, DEFAULT_CDI_KIND, imexCdiPath, minimumCdiVersion, type CdiSpec } from '../../src/core/plan/cdi-spec.js';
import { HOOK_ENV, postMountHook } from '../../src/core/plan/post-mount.js';
import type { ContainerEdits } from '../../src/model/edits.js';
import type { Manifest } from '../../src/model/manifest.js';
import { buildManifest, deepFreeze, gpuUuid, migCapMinor, migUuid, mountedPaths, nodePaths, scanFixture, type ManifestOptions } from '../helpers/manifests.js';
import { validateCdiSpec } from '../helpers/schema.js';
import { FIXTURE_HOSTS } from '../helpers/root.js';

// container-device-interface pkg/parser: device names and the vendor/class of a kind.
const DEVICE_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.:-]*$/;
const HOOK_NAMES = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'];

/** What the CDI Go library checks beyond the JSON schema (pkg/cdi ContainerEdits.Validate, ValidateDeviceName). */
function semanticProblems(spec: CdiSpec): string[] {
  const problems: string[] = [];
  const edits = (e: ContainerEdits, at: string) => {
    for (const kv of e.env ?? []) if (!/^[^=]+=/.test(kv)) problems.push(`${at}.env: "${kv}" is not NAME=VALUE`);
    for (const n of e.deviceNodes ?? []) {
      if (!n.path.startsWith('/')) problems.push(`${at}: node path "${n.path}" is not absolute`);
      if (n.type !== undefined && !['b', 'c', 'u', 'p'].includes(n.type)) problems.push(`${at}: node "${n.path}" has type "${n.type}"`);
      if (n.permissions !== undefined && !/^[rwm]+$/.test(n.permissions)) problems.push(`${at}: node "${n.path}" has permissions "${n.permissions}"`);
    }
    for (const h of e.hooks ?? []) if (!HOOK_NAMES.includes(h.hookName)) problems.push(`${at}: hook name "${h.hookName}"`);
    for (const m of e.mounts ?? []) if (!m.containerPath.startsWith('/')) problems.push(`${at}: mount "${m.containerPath}" is not absolute`);
  };
  edits(spec.containerEdits, 'containerEdits');
  const names = new Set<string>();
  spec.devices.forEach((d, i) => {
    if (!DEVICE_NAME.test(d.name)) problems.push(`devices[${i}].name: "${d.name}" is not a CDI device name`);
    if (names.has(d.name)) problems.push(`devices[${i}].name: "${d.name}" is repeated`);
    names.add(d.name);
    edits(d.containerEdits, `devices[${i}].containerEdits`);
  });
  return problems;
}

/** Builds a spec and checks it against the CDI schema and the Go library's rules: every spec built here goes through this. */
function build(t: ExecutionContext, manifest: Manifest, options: { kind?: string } = {}): CdiSpec {
  const spec = buildCdiSpec(manifest, options);
  t.deepEqual(validateCdiSpec(spec), [], 'valid against the CDI schema');
  t.deepEqual(semanticProblems(spec), [], 'valid for the CDI library');
  t.deepEqual(JSON.parse(JSON.stringify(spec)), spec, 'plain JSON: no undefined fields');
  return spec;
}

// --- devices ---

test('one device per GPU by index and by UUID, then "all"', (t) => {
  const m = deepFreeze(buildManifest({ gpus: [{ minor: 0 }, { minor: 3 }] }));
  const spec = build(t, m);
  t.deepEqual(spec.devices.map((d) => d.name), ['0', '1', gpuUuid(0), gpuUuid(1), 'all']);
  const gpu1 = { deviceNodes: [m.gpus[1]!.edits.deviceNodes![0]!, ...m.gpus[1]!.driNodes] };
  t.deepEqual(spec.devices[1]!.containerEdits, gpu1);
  t.deepEqual(spec.devices[3]!.containerEdits, gpu1);
  t.deepEqual(nodePaths(spec.devices[1]!.containerEdits), ['/dev/nvidia3', '/dev/dri/card2', '/dev/dri/renderD129']);
  t.deepEqual(nodePaths(spec.devices[4]!.containerEdits), ['/dev/nvidia0', '/dev/dri/card1', '/dev/dri/renderD128', '/dev/nvidia3', '/dev/dri/card2', '/dev/dri/renderD129']);
});

test('a GPU without DRI nodes gets only its own node', (t) => {
  const spec = build(t, buildManifest({ gpus: [{ minor: 2, dri: false }] }));
  t.deepEqual(spec.devices[0]!.containerEdits, { deviceNodes: [buildManifest({ gpus: [{ minor: 2 }] }).gpus[0]!.edits.deviceNodes![0]!] });
});

test('a manifest without GPUs has no devices, not even "all"', (t) => {
  const spec = build(t, buildManifest({ gpus: 0 }));
  t.deepEqual(spec.devices, []);
  t.true(nodePaths(spec.containerEdits).includes('/dev/nvidiactl'));
});

test('64 GPUs give 129 devices with unique, valid names', (t) => {
  const spec = build(t, buildManifest({ gpus: 64 }));
  t.is(spec.devices.length, 129);
  t.deepEqual(nodePaths(spec.devices.find((d) => d.name === '63')!.containerEdits), ['/dev/nvidia63', '/dev/dri/card64', '/dev/dri/renderD191']);
  t.is(nodePaths(spec.devices.at(-1)!.containerEdits).length, 64 * 3);
});

// --- shared edits ---

test('shared edits: control nodes, every capability\'s nodes and files (unclassified too), and NVIDIA_VISIBLE_DEVICES=void', (t) => {
  const m = deepFreeze(buildManifest({ gpus: 1, capNodes: true }));
  const spec = build(t, m);
  t.deepEqual(spec.containerEdits.env, ['NVIDIA_VISIBLE_DEVICES=void']);
  t.deepEqual(nodePaths(spec.containerEdits), ['/dev/nvidiactl', '/dev/nvidia-uvm', '/dev/nvidia-uvm-tools', '/dev/nvidia-modeset']);
  const expected = Object.values(m.capabilities).flatMap((e) => mountedPaths(e));
  t.deepEqual(mountedPaths(spec.containerEdits), expected);
  t.true(mountedPaths(spec.containerEdits).includes('/usr/lib/x86_64-linux-gnu/libnvidia-future.so.580.159.04'));
  t.false(nodePaths(spec.containerEdits).some((p) => p.startsWith('/dev/nvidia-caps/')), 'MIG capability nodes are not shared');
  const mounts = mountedPaths(spec.containerEdits);
  t.is(new Set(mounts).size, mounts.length);
});

test('empty lists are left out of every containerEdits', (t) => {
  const spec = build(t, buildManifest({ gpus: 2, tools: { ldconfig: '' } }));
  for (const edits of [spec.containerEdits, ...spec.devices.map((d) => d.containerEdits)]) {
    for (const [key, value] of Object.entries(edits)) t.true((value as unknown[]).length > 0, key);
  }
  t.false('hooks' in spec.containerEdits);
  t.false('env' in spec.devices[0]!.containerEdits);
  t.false('mounts' in spec.devices[0]!.containerEdits);
});

// --- the ld cache hook ---

test('the ld cache hook is the post-mount step: the host\'s sh, nsenter, ldconfig and awk, every library folder, no oci-gpu binary', (t) => {
  const m = buildManifest({ gpus: 1, root: '/srv/host' });
  const spec = build(t, m);
  const hooks = spec.containerEdits.hooks!;
  t.is(hooks.length, 1);
  const [h] = hooks;
  t.like(h, { hookName: 'createRuntime', path: '/srv/host/bin/sh', env: HOOK_ENV });
  t.deepEqual(h!.args!.slice(0, 2), ['sh', '-c']);
  // sh -c SCRIPT NAME nsenter awk PROGRAM sh STEP ldconfig mount MASK DRIVER-MAJOR folders...
  t.deepEqual(h!.args!.slice(3, 6), ['oci-gpu-post-mount', '/srv/host/usr/bin/nsenter', '/srv/host/usr/bin/awk']);
  t.deepEqual(h!.args!.slice(7, 8), ['/srv/host/bin/sh']);
  t.deepEqual(h!.args!.slice(9, 13), ['/srv/host/sbin/ldconfig.real', '/srv/host/usr/bin/mount', '', '580'], 'no params file named by this manifest: no masking; CUDA compat against driver 580');
  t.deepEqual(h!.args!.slice(13), ['/usr/lib/i386-linux-gnu', '/usr/lib/x86_64-linux-gnu']);
  t.deepEqual(h, postMountHook(m.tools, m.libraryDirs, { paramsMask: null, compatDriverVersion: '580.159.04' }), 'the step precreate gives a read-only rootfs');
  const masked = build(t, buildManifest({ gpus: 1, root: '/srv/host', paramsMask: '/run/oci-gpu/nvidia-params' }));
  t.is(masked.containerEdits.hooks![0]!.args![11], '/run/oci-gpu/nvidia-params');
  const off = buildCdiSpec(buildManifest({ gpus: 1, paramsMask: '/run/oci-gpu/nvidia-params' }), { container: { maskDriverParams: false, cudaCompat: false } });
  t.deepEqual(off.containerEdits.hooks![0]!.args!.slice(11, 13), ['', ''], 'both turned off in the config');
});

const noHook = test.macro({
  exec(t, options: ManifestOptions) {
    t.false('hooks' in build(t, buildManifest(options)).containerEdits);
  },
  title: (_, options: ManifestOptions) => `no ld cache hook with ${JSON.stringify(options)}`,
});
test(noHook, { tools: { ldconfig: '' } });
test(noHook, { tools: { nsenter: '' } });
test(noHook, { files: { utility: ['/usr/bin/nvidia-smi'] } }); // no library folder

// --- cdiVersion: the lowest that expresses the content ---

const version = test.macro({
  exec(t, options: ManifestOptions & { kind?: string }, expected: string) {
    t.is(build(t, buildManifest(options), options.kind ? { kind: options.kind } : {}).cdiVersion, expected);
  },
  title: (_, options: ManifestOptions & { kind?: string }, expected: string) => `cdiVersion ${expected} for ${JSON.stringify(options)}`,
});
test(version, { gpus: 0 }, '0.3.0');
test(version, { gpus: 1 }, '0.5.0'); // the device named "0" starts with a digit
test(version, { gpus: 0, root: '/srv/host' }, '0.5.0'); // nodes have hostPath
test(version, { gpus: 2, root: '/srv/host' }, '0.5.0');
test(version, { gpus: 0, kind: 'example.com/gpu.v2' }, '0.6.0'); // a dot in the class

const minimum = test.macro({
  exec(t, spec: Omit<CdiSpec, 'cdiVersion'>, expected: string, _why: string) {
    t.is(minimumCdiVersion(spec), expected);
    t.deepEqual(validateCdiSpec({ ...spec, cdiVersion: expected }), []);
  },
  title: (_, _spec, expected: string, why: string) => `minimumCdiVersion is ${expected}: ${why}`,
});
const node = { path: '/dev/nvidia0', type: 'c' as const, major: 195, minor: 0 };
const mount = { hostPath: '/usr/lib/libcuda.so.1', containerPath: '/usr/lib/libcuda.so.1', options: ['ro', 'bind'] };
test(minimum, { kind: DEFAULT_CDI_KIND, devices: [{ name: 'gpu0', containerEdits: { deviceNodes: [node] } }], containerEdits: { mounts: [mount] } }, '0.3.0', 'letters, no hostPath, untyped mounts');
test(minimum, { kind: DEFAULT_CDI_KIND, devices: [{ name: gpuUuid(0), containerEdits: { deviceNodes: [node] } }], containerEdits: {} }, '0.3.0', 'a UUID starts with a letter');
test(minimum, { kind: DEFAULT_CDI_KIND, devices: [{ name: 'gpu0', containerEdits: { mounts: [{ ...mount, type: 'bind' }] } }], containerEdits: {} }, '0.4.0', 'a device mount has a type');
test(minimum, { kind: DEFAULT_CDI_KIND, devices: [], containerEdits: { mounts: [{ ...mount, type: 'bind' }] } }, '0.4.0', 'a shared mount has a type');
test(minimum, { kind: DEFAULT_CDI_KIND, devices: [{ name: '0', containerEdits: {} }], containerEdits: {} }, '0.5.0', 'a name starts with a digit');
test(minimum, { kind: DEFAULT_CDI_KIND, devices: [{ name: '_x', containerEdits: {} }], containerEdits: {} }, '0.5.0', 'a name starts with neither letter nor digit');
test(minimum, { kind: DEFAULT_CDI_KIND, devices: [], containerEdits: { deviceNodes: [{ ...node, hostPath: '/host/dev/nvidia0' }] } }, '0.5.0', 'a shared node has hostPath');
test(minimum, { kind: DEFAULT_CDI_KIND, devices: [{ name: 'a', containerEdits: { deviceNodes: [{ ...node, hostPath: '/h' }], mounts: [{ ...mount, type: 'bind' }] } }], containerEdits: {} }, '0.5.0', 'hostPath and a mount type');
test(minimum, { kind: 'example.com/gpu.v2', devices: [{ name: 'a', containerEdits: {} }], containerEdits: {} }, '0.6.0', 'a dot in the class');
test(minimum, { kind: 'example.com/gpu.v2', devices: [{ name: '0', containerEdits: {} }], containerEdits: {} }, '0.6.0', 'a dot in the class beats a digit');
test(minimum, { kind: 'example.com/gpu', devices: [], containerEdits: {} }, '0.3.0', 'dots in the vendor are fine');

// --- kind and inputs ---

test('the kind defaults to nvidia.com/gpu and can be set', (t) => {
  t.is(build(t, buildManifest()).kind, 'nvidia.com/gpu');
  t.is(build(t, buildManifest(), { kind: 'example.com/gpu' }).kind, 'example.com/gpu');
});

test('buildCdiSpec never mutates the manifest (deep-frozen) and is deterministic', (t) => {
  const m = deepFreeze(buildManifest({ gpus: 3, root: '/srv/host', capNodes: true }));
  const before = structuredClone(m);
  const a = build(t, m);
  t.deepEqual(m, before);
  t.is(JSON.stringify(build(t, m)), JSON.stringify(a));
});

test('a node in the spec carries only CDI fields', (t) => {
  const m = buildManifest({ gpus: 1, root: '/srv/host' });
  const spec = build(t, m);
  for (const n of [...(spec.containerEdits.deviceNodes ?? []), ...spec.devices.flatMap((d) => d.containerEdits.deviceNodes ?? [])]) {
    for (const key of Object.keys(n)) t.true(['path', 'hostPath', 'type', 'major', 'minor', 'fileMode', 'permissions', 'uid', 'gid'].includes(key), key);
    t.is(n.hostPath, `/srv/host${n.path}`);
  }
});

// --- the fixture hosts ---

for (const host of ['h200', 'rhel-2gpu'] as const) {
  FIXTURE_HOSTS.test(`${host}: the spec of the scanned host is valid, version 0.5.0, with every GPU${FIXTURE_HOSTS.why}`, (t) => {
    const m = scanFixture(host);
    const spec = build(t, m);
    t.is(spec.cdiVersion, '0.5.0');
    t.deepEqual(spec.devices.map((d) => d.name), [...m.gpus.map((g) => String(g.index)), ...m.gpus.map((g) => g.uuid), 'all']);
    t.true(mountedPaths(spec.containerEdits).some((p) => /\/libcuda\.so\.\d+\.\d+\.\d+$/.test(p)));
    t.false(mountedPaths(spec.containerEdits).some((p) => p.includes('libcudart') || p.includes('570.86.15')));
    t.is(spec.containerEdits.hooks?.length, 1);
    t.deepEqual(spec.containerEdits.hooks![0]!.args!.slice(13), m.libraryDirs);
  });
}

FIXTURE_HOSTS.test(`rhel-2gpu: device "1" is /dev/nvidia3 with card2 and renderD129${FIXTURE_HOSTS.why}`, (t) => {
  const spec = build(t, scanFixture('rhel-2gpu'));
  t.deepEqual(nodePaths(spec.devices.find((d) => d.name === '1')!.containerEdits), ['/dev/nvidia3', '/dev/dri/card2', '/dev/dri/renderD129']);
});

FIXTURE_HOSTS.test(`no-driver: the spec has no devices and stays valid${FIXTURE_HOSTS.why}`, (t) => {
  const spec = build(t, scanFixture('no-driver'));
  t.deepEqual(spec.devices, []);
});

// --- MIG devices and IMEX channels ---

test('a GPU split into MIG devices: one device per MIG device ("0:1" and its MIG UUID), none for the whole GPU; "all" has them all', (t) => {
  const m = buildManifest({ gpus: [{ mig: [{ gi: 1, ci: 0 }, { gi: 2, ci: 0 }] }, {}] });
  const spec = build(t, m);
  t.deepEqual(spec.devices.map((d) => d.name), ['0:0', '0:1', '1', migUuid(0, 0), migUuid(0, 1), gpuUuid(1), 'all']);
  const cap = (n: number) => `/dev/nvidia-caps/nvidia-cap${n}`;
  t.deepEqual(nodePaths(spec.devices[1]!.containerEdits), ['/dev/nvidia0', cap(migCapMinor(0, 2)), cap(migCapMinor(0, 2, 0))]);
  t.deepEqual(spec.devices[4]!.containerEdits, spec.devices[1]!.containerEdits, 'the UUID name gives the same edits');
  t.deepEqual(nodePaths(spec.devices.at(-1)!.containerEdits).sort(), ['/dev/dri/card2', '/dev/dri/renderD129', '/dev/nvidia0', '/dev/nvidia1', cap(migCapMinor(0, 1)), cap(migCapMinor(0, 1, 0)), cap(migCapMinor(0, 2)), cap(migCapMinor(0, 2, 0))].sort());
  t.is(spec.cdiVersion, '0.5.0');
});

test('IMEX channels: their own spec, kind nvidia.com/imex-channel (the GPU kind\'s vendor), one device per channel and "all"; none without channels', (t) => {
  const m = buildManifest({ gpus: 1, imexChannels: 2 });
  const spec = buildImexCdiSpec(m, 'example.com/gpu')!;
  t.deepEqual(validateCdiSpec(spec), []);
  t.deepEqual(semanticProblems(spec), []);
  t.is(spec.kind, 'example.com/imex-channel');
  t.deepEqual(spec.devices.map((d) => [d.name, nodePaths(d.containerEdits)]), [
    ['0', ['/dev/nvidia-caps-imex-channels/channel0']],
    ['1', ['/dev/nvidia-caps-imex-channels/channel1']],
    ['all', ['/dev/nvidia-caps-imex-channels/channel0', '/dev/nvidia-caps-imex-channels/channel1']],
  ]);
  t.is(buildImexCdiSpec(buildManifest({ gpus: 1 })), null);
  t.is(imexCdiPath('/var/run/cdi/oci-gpu.json'), '/var/run/cdi/oci-gpu-imex-channel.json');
  t.false(JSON.stringify(build(t, m)).includes('imex'), 'the GPU spec does not carry them');
});

FIXTURE_HOSTS.test(`dev links of the scanned fixture: libcuda.so, libnvidia-opticalflow.so, libGLX_indirect.so.0, gbm/nvidia-drm_gbm.so, read-only binds of the real files${FIXTURE_HOSTS.why}`, (t) => {
  const m = scanFixture('h200');
  const mounts = Object.values(m.capabilities).flatMap((e) => e.mounts ?? []);
  const at = (p: string) => mounts.find((x) => x.containerPath === p);
  const dir = '/usr/local/nvidia/lib64';
  t.like(at(`${dir}/libcuda.so`), { hostPath: `${m.root}${dir}/libcuda.so.580.159.04`, options: ['ro', 'nosuid', 'nodev', 'bind'] });
  t.like(at(`${dir}/libnvidia-opticalflow.so`), { hostPath: `${m.root}${dir}/libnvidia-opticalflow.so.580.159.04` });
  t.like(at(`${dir}/libGLX_indirect.so.0`), { hostPath: `${m.root}${dir}/libGLX_nvidia.so.580.159.04` });
  t.like(at(`${dir}/gbm/nvidia-drm_gbm.so`), { hostPath: `${m.root}${dir}/libnvidia-allocator.so.580.159.04` });
  t.truthy(m.capabilities.compute?.mounts?.some((x) => x.containerPath === `${dir}/libcuda.so`), 'libcuda.so comes with compute');
  t.falsy(m.capabilities.compute?.mounts?.some((x) => x.containerPath.endsWith('/libnvidia-ml.so')), 'no dev link NVIDIA does not make either');
});
