import test from 'ava';
import { describeGpus, planEdits, selectDevices, type Plan } from '../../src/core/plan/plan-edits.js';
import { parseRequest, type GpuRequest } from '../../src/core/request/request.js';
import { RequestError } from '../../src/errors.js';
import { CAPABILITIES, type Capability, type Manifest } from '../../src/model/manifest.js';
import { buildManifest, deepFreeze, gpuPciBusId, gpuUuid, migCapMinor, migUuid, mountedPaths, nodePaths, scanFixture } from '../helpers/manifests.js';
import { FIXTURE_HOSTS } from '../helpers/root.js';

// Four GPUs whose minors differ from their indexes, so index/minor mix-ups show.
const FOUR = deepFreeze(buildManifest({ gpus: [{ minor: 0 }, { minor: 3 }, { minor: 5 }, { minor: 7, dri: false }] }));
const LIB = '/usr/lib/x86_64-linux-gnu';
const CUDA_LIB = `${LIB}/libcuda.so.580.159.04`;

function request(devices: GpuRequest['devices'], capabilities: Capability[] = ['utility', 'compute'], requirements: GpuRequest['requirements'] = []): GpuRequest {
  return { source: 'NVIDIA_VISIBLE_DEVICES', devices, capabilities, requirements, imexChannels: [], imexSource: 'NVIDIA_IMEX_CHANNELS' };
}

function refused(manifest: Manifest, req: GpuRequest): RequestError {
  try {
    planEdits(manifest, req);
  } catch (error) {
    if (error instanceof RequestError) return error;
    throw error;
  }
  throw new Error('expected a RequestError');
}

/** Plans a container the way the hook does: parse its env/annotations, then plan. */
function planFor(manifest: Manifest, env: string[], annotations: Record<string, string> = {}): Plan {
  const req = parseRequest(annotations, env, 'nvidia.com/gpu');
  if (!req) throw new Error('the container asks for nothing');
  return planEdits(manifest, req);
}

const gpuNodes = (plan: Plan) => nodePaths(plan.edits).filter((p) => /^\/dev\/nvidia\d+$/.test(p));

// --- selection ---

const selects = test.macro({
  exec(t, selectors: string[], indexes: number[]) {
    const plan = planEdits(FOUR, request(selectors));
    t.deepEqual(plan.gpus.map((g) => g.index), indexes);
    t.deepEqual(gpuNodes(plan), indexes.map((i) => `/dev/nvidia${FOUR.gpus[i]!.minor}`));
  },
  title: (_, selectors: string[], indexes: number[]) => `${JSON.stringify(selectors)} selects GPUs ${JSON.stringify(indexes)}`,
});
test(selects, ['0'], [0]);
test(selects, ['1'], [1]); // index 1 is /dev/nvidia3
test(selects, ['3'], [3]);
test(selects, ['2', '0'], [2, 0]); // request order
test(selects, [gpuUuid(2)], [2]);
test(selects, [gpuUuid(2).toLowerCase()], [2]);
test(selects, [gpuUuid(2).toUpperCase()], [2]);
test(selects, [`Gpu-${gpuUuid(2).slice(4).toUpperCase()}`], [2]);
test(selects, [gpuPciBusId(2)], [2]); // 0000:3a:00.0
test(selects, [gpuPciBusId(2).toUpperCase()], [2]);
test(selects, [`0000${gpuPciBusId(2)}`], [2]); // nvidia-smi's 8-digit domain
test(selects, [`0000${gpuPciBusId(2)}`.toUpperCase()], [2]);
test(selects, [gpuPciBusId(1)], [1]);
test(selects, [gpuPciBusId(3), gpuUuid(0), '2'], [3, 0, 2]);
test(selects, [], []);

test('selection by index uses the manifest index, not the device minor', (t) => {
  t.deepEqual(planEdits(FOUR, request(['3'])).gpus.map((g) => g.minor), [7]);
  t.throws(() => planEdits(FOUR, request(['7'])), { instanceOf: RequestError, message: /asks for GPU "7", which does not exist/ });
});

test('"all" selects every GPU in index order', (t) => {
  const plan = planEdits(FOUR, request('all'));
  t.deepEqual(plan.gpus.map((g) => g.index), [0, 1, 2, 3]);
  t.deepEqual(gpuNodes(plan), ['/dev/nvidia0', '/dev/nvidia3', '/dev/nvidia5', '/dev/nvidia7']);
});

const unknownGpu = test.macro({
  exec(t, selector: string) {
    const error = refused(FOUR, request(['0', selector]));
    t.is(
      error.message,
      `NVIDIA_VISIBLE_DEVICES asks for GPU "${selector}", which does not exist; this host has 4 GPUs: ` +
        [0, 1, 2, 3].map((i) => `${i} (${gpuUuid(i)}, ${gpuPciBusId(i)})`).join(', '),
    );
  },
  title: (_, selector: string) => `unknown GPU "${selector}" is refused with the list of GPUs`,
});
test(unknownGpu, '4');
test(unknownGpu, '999999');
test(unknownGpu, 'GPU-00000000-0000-0000-0000-000000000000');
test(unknownGpu, `${gpuUuid(1)}-extra`);
test(unknownGpu, '0000:ff:00.0');
test(unknownGpu, '0000:18:1f.7');
test(unknownGpu, 'nvidia0');
test(unknownGpu, '-1');
test(unknownGpu, '1.0');

test('an unknown GPU on a host without GPUs says "no GPUs"', (t) => {
  const none = buildManifest({ gpus: 0 });
  t.is(refused(none, request(['0'])).message, 'NVIDIA_VISIBLE_DEVICES asks for GPU "0", which does not exist; this host has no GPUs');
});

const twice = test.macro({
  exec(t, selectors: string[], index: number) {
    t.is(refused(FOUR, request(selectors)).message, `NVIDIA_VISIBLE_DEVICES asks for GPU ${index} twice ("${selectors.at(-1)}")`);
  },
  title: (_, selectors: string[]) => `the same GPU twice is refused: ${JSON.stringify(selectors)}`,
});
test(twice, ['1', gpuUuid(1)], 1);
test(twice, [gpuUuid(2), gpuUuid(2).toLowerCase()], 2);
test(twice, [gpuPciBusId(3), `0000${gpuPciBusId(3)}`.toUpperCase()], 3);
test(twice, ['0', '2', gpuPciBusId(0)], 0);

test('"all" on a manifest without GPUs is refused; "none" is not', (t) => {
  const none = buildManifest({ gpus: 0 });
  t.is(refused(none, request('all')).message, 'NVIDIA_VISIBLE_DEVICES asks for all GPUs but the manifest lists none (see `oci-gpu status`)');
  const plan = planEdits(none, request([]));
  t.deepEqual(plan.gpus, []);
  t.true(nodePaths(plan.edits).includes('/dev/nvidiactl'));
});

test('a manifest written without a driver refuses every request, "none" included', (t) => {
  const noDriver = buildManifest({ driver: null });
  for (const devices of ['all', [], ['0']] as GpuRequest['devices'][]) {
    t.is(
      refused(noDriver, { ...request(devices), source: 'annotation "oci-gpu/devices"' }).message,
      'annotation "oci-gpu/devices" asks for GPUs but no NVIDIA driver was loaded when the manifest was written (see `oci-gpu status`)',
    );
  }
});

test('selectDevices returns the manifest\'s own GPU values', (t) => {
  t.is(selectDevices(FOUR, request(['2']))[0]!.gpu, FOUR.gpus[2]!);
});

// --- "none": the driver without a GPU ---

test('"none" gets the control node and the capabilities\' nodes and files, but no GPU node', (t) => {
  const plan = planEdits(FOUR, request([]));
  t.deepEqual(gpuNodes(plan), []);
  t.deepEqual(nodePaths(plan.edits), ['/dev/nvidiactl', '/dev/nvidia-uvm', '/dev/nvidia-uvm-tools']);
  t.true(mountedPaths(plan.edits).includes(CUDA_LIB));
  t.true(mountedPaths(plan.edits).includes('/usr/bin/nvidia-smi'));
});

// --- capabilities ---

const M = deepFreeze(buildManifest({ gpus: 2 }));
const CAP_FILES: Record<Capability | 'unclassified', string> = {
  utility: '/usr/bin/nvidia-smi',
  compute: CUDA_LIB,
  video: `${LIB}/libnvcuvid.so.580.159.04`,
  graphics: `${LIB}/libGLX_nvidia.so.580.159.04`,
  display: '', // display brings a node, not files
  ngx: `${LIB}/libnvidia-ngx.so.580.159.04`,
  compat32: '/usr/lib/i386-linux-gnu/libcuda.so.580.159.04',
  unclassified: `${LIB}/libnvidia-future.so.580.159.04`,
};

const capabilities = test.macro({
  exec(t, caps: Capability[], nodes: string[]) {
    const plan = planEdits(M, request(['1'], caps));
    t.deepEqual(nodePaths(plan.edits), nodes);
    const mounted = new Set(mountedPaths(plan.edits));
    const everything = CAPABILITIES.every((c) => caps.includes(c));
    for (const [cap, file] of Object.entries(CAP_FILES)) {
      if (!file) continue;
      const wanted = cap === 'unclassified' ? everything : caps.includes(cap as Capability);
      t.is(mounted.has(file), wanted, `${file} (${cap}) ${wanted ? 'mounted' : 'not mounted'}`);
    }
    // Exactly the union of the capabilities' mounts, nothing else.
    const expected = new Set([...caps, ...(everything ? ['unclassified' as const] : [])].flatMap((c) => mountedPaths(M.capabilities[c] ?? {})));
    t.deepEqual(mounted, expected);
  },
  title: (_, caps: Capability[]) => `capabilities ${caps.join(',') || '(none)'} on GPU 1`,
});
const UVM = ['/dev/nvidia-uvm', '/dev/nvidia-uvm-tools'];
const DRI1 = ['/dev/dri/card2', '/dev/dri/renderD129'];
test(capabilities, ['utility'], ['/dev/nvidiactl', '/dev/nvidia1']);
test(capabilities, ['compute'], ['/dev/nvidiactl', '/dev/nvidia1', ...UVM]);
test(capabilities, ['utility', 'compute'], ['/dev/nvidiactl', '/dev/nvidia1', ...UVM]);
test(capabilities, ['video'], ['/dev/nvidiactl', '/dev/nvidia1']);
test(capabilities, ['graphics'], ['/dev/nvidiactl', '/dev/nvidia1', ...DRI1]);
test(capabilities, ['display'], ['/dev/nvidiactl', '/dev/nvidia1', ...DRI1, '/dev/nvidia-modeset']);
test(capabilities, ['graphics', 'display'], ['/dev/nvidiactl', '/dev/nvidia1', ...DRI1, '/dev/nvidia-modeset']);
test(capabilities, ['ngx'], ['/dev/nvidiactl', '/dev/nvidia1']);
test(capabilities, ['compat32'], ['/dev/nvidiactl', '/dev/nvidia1']);
test(capabilities, [], ['/dev/nvidiactl', '/dev/nvidia1']);
test(capabilities, [...CAPABILITIES], ['/dev/nvidiactl', '/dev/nvidia1', ...DRI1, ...UVM, '/dev/nvidia-modeset']);
test(capabilities, CAPABILITIES.filter((c) => c !== 'compat32'), ['/dev/nvidiactl', '/dev/nvidia1', ...DRI1, ...UVM, '/dev/nvidia-modeset']);

test('"all" capabilities from the env include unclassified driver files', (t) => {
  const plan = planFor(M, ['NVIDIA_VISIBLE_DEVICES=0', 'NVIDIA_DRIVER_CAPABILITIES=all']);
  t.true(mountedPaths(plan.edits).includes(CAP_FILES.unclassified));
  const defaults = planFor(M, ['NVIDIA_VISIBLE_DEVICES=0']);
  t.false(mountedPaths(defaults.edits).includes(CAP_FILES.unclassified));
});

test('graphics adds the DRI nodes of the selected GPUs only', (t) => {
  const all = planEdits(FOUR, request('all', ['graphics']));
  // GPU 3 has no DRI nodes in this manifest.
  t.deepEqual(nodePaths(all.edits).filter((p) => p.startsWith('/dev/dri/')), ['/dev/dri/card1', '/dev/dri/renderD128', '/dev/dri/card2', '/dev/dri/renderD129', '/dev/dri/card3', '/dev/dri/renderD130']);
  const one = planEdits(FOUR, request(['2'], ['graphics']));
  t.deepEqual(nodePaths(one.edits).filter((p) => p.startsWith('/dev/dri/')), ['/dev/dri/card3', '/dev/dri/renderD130']);
  const none = planEdits(FOUR, request([], ['graphics']));
  t.deepEqual(nodePaths(none.edits).filter((p) => p.startsWith('/dev/dri/')), []);
});

test('MIG capability nodes are never injected, even with every capability', (t) => {
  const mig = buildManifest({ gpus: 1, capNodes: true });
  const plan = planEdits(mig, request('all', [...CAPABILITIES]));
  t.false(nodePaths(plan.edits).some((p) => p.startsWith('/dev/nvidia-caps/')));
});

test('the plan has no duplicate node or mount, even when capabilities share files', (t) => {
  const shared = buildManifest({
    gpus: 2,
    files: { utility: [`${LIB}/libnvidia-ml.so.1`, '/usr/bin/nvidia-smi'], compute: [`${LIB}/libnvidia-ml.so.1`, CUDA_LIB], graphics: [CUDA_LIB] },
  });
  shared.capabilities.graphics = { ...shared.capabilities.graphics, deviceNodes: [...shared.gpus[0]!.driNodes, shared.controlNodes[0]!] };
  const plan = planEdits(shared, request('all', ['utility', 'compute', 'graphics']));
  const nodes = nodePaths(plan.edits);
  const mounts = mountedPaths(plan.edits);
  t.is(new Set(nodes).size, nodes.length, JSON.stringify(nodes));
  t.is(new Set(mounts).size, mounts.length, JSON.stringify(mounts));
  t.deepEqual(mounts, ['/usr/bin/nvidia-smi', `${LIB}/libnvidia-ml.so.1`, CUDA_LIB]);
});

test('the plan always has all four edit lists, env and hooks empty', (t) => {
  const plan = planEdits(M, request(['0']));
  t.deepEqual(plan.edits.env, []);
  t.deepEqual(plan.edits.hooks, []);
  t.true(Array.isArray(plan.edits.mounts) && Array.isArray(plan.edits.deviceNodes));
});

test('node order: control nodes, then the GPUs in request order, then the capabilities\' nodes', (t) => {
  const plan = planEdits(FOUR, request(['2', '0'], ['compute', 'display']));
  t.deepEqual(nodePaths(plan.edits), [
    '/dev/nvidiactl',
    '/dev/nvidia5', '/dev/dri/card3', '/dev/dri/renderD130',
    '/dev/nvidia0', '/dev/dri/card1', '/dev/dri/renderD128',
    ...UVM,
    '/dev/nvidia-modeset',
  ]);
});

test('planEdits never mutates the manifest (deep-frozen) nor the request', (t) => {
  const m = deepFreeze(buildManifest({ gpus: 3, capNodes: true }));
  const before = structuredClone(m);
  const req = deepFreeze(request(['2', '0'], [...CAPABILITIES]));
  const plan = planEdits(m, req);
  t.deepEqual(m, before);
  // The plan's lists are its own: changing them leaves the manifest as it was.
  plan.edits.deviceNodes.push({ path: '/dev/evil' });
  plan.edits.mounts.length = 0;
  t.deepEqual(m, before);
});

// --- requirements are checked against the selected GPUs ---

test('NVIDIA_REQUIRE_* is checked against the GPUs the request selects', (t) => {
  const mixed = buildManifest({ gpus: [{ model: 'NVIDIA H200' }, { model: 'Tesla V100-SXM2-16GB' }] });
  const arch = [{ name: 'NVIDIA_REQUIRE_ARCH', expression: 'arch>=8.0' }];
  t.notThrows(() => planEdits(mixed, request(['0'], ['compute'], arch)));
  t.throws(() => planEdits(mixed, request(['1'], ['compute'], arch)), { instanceOf: RequestError, message: /^unmet requirement NVIDIA_REQUIRE_ARCH="arch>=8\.0"/ });
  t.throws(() => planEdits(mixed, request('all', ['compute'], arch)), { instanceOf: RequestError });
});

test('an unknown GPU is reported before an unmet requirement', (t) => {
  const error = refused(M, request(['9'], ['compute'], [{ name: 'NVIDIA_REQUIRE_CUDA', expression: 'cuda>=99' }]));
  t.regex(error.message, /asks for GPU "9", which does not exist/);
});

// --- many GPUs ---

test('64 GPUs: index 63 selects /dev/nvidia63; "all" gets 64 GPU nodes', (t) => {
  const big = buildManifest({ gpus: 64 });
  t.deepEqual(gpuNodes(planEdits(big, request(['63']))), ['/dev/nvidia63']);
  t.deepEqual(gpuNodes(planEdits(big, request([gpuPciBusId(40).toUpperCase()]))), ['/dev/nvidia40']);
  const all = planEdits(big, request('all', ['graphics', 'compute']));
  t.is(gpuNodes(all).length, 64);
  t.is(all.edits.deviceNodes.length, 1 + 64 * 3 + 2);
});

// --- describeGpus ---

test('describeGpus', (t) => {
  t.is(describeGpus(buildManifest({ gpus: 0 })), 'no GPUs');
  t.is(describeGpus(buildManifest({ gpus: 1 })), `1 GPU: 0 (${gpuUuid(0)}, ${gpuPciBusId(0)})`);
  t.is(describeGpus(buildManifest({ gpus: 2 })), `2 GPUs: 0 (${gpuUuid(0)}, ${gpuPciBusId(0)}), 1 (${gpuUuid(1)}, ${gpuPciBusId(1)})`);
});

// --- end to end on the fixture hosts: scan the tree, parse a request, plan ---

FIXTURE_HOSTS.test(`rhel-2gpu: NVIDIA_VISIBLE_DEVICES=1 gets /dev/nvidia3 only, plus nvidiactl and uvm${FIXTURE_HOSTS.why}`, (t) => {
  const m = scanFixture('rhel-2gpu');
  const plan = planFor(m, ['NVIDIA_VISIBLE_DEVICES=1']);
  t.deepEqual(plan.gpus.map((g) => [g.index, g.minor]), [[1, 3]]);
  t.deepEqual(nodePaths(plan.edits), ['/dev/nvidiactl', '/dev/nvidia3', '/dev/nvidia-uvm', '/dev/nvidia-uvm-tools']);
  // Nodes carry the host path under the fixture root (scan --root).
  for (const n of plan.edits.deviceNodes) t.is(n.hostPath, `${m.root}${n.path}`);
  t.like(plan.edits.deviceNodes[1], { type: 'c', major: 195, minor: 3 });
});

FIXTURE_HOSTS.test(`rhel-2gpu: the same GPU by UUID, PCI bus id (any case, 8-digit domain) and index${FIXTURE_HOSTS.why}`, (t) => {
  const m = scanFixture('rhel-2gpu');
  const uuid = m.gpus[1]!.uuid;
  for (const selector of ['1', uuid, uuid.toLowerCase(), '0000:86:00.0', '0000:86:00.0'.toUpperCase(), '00000000:86:00.0']) {
    t.deepEqual(gpuNodes(planFor(m, [`NVIDIA_VISIBLE_DEVICES=${selector}`])), ['/dev/nvidia3'], selector);
  }
  t.regex(refused(m, parseRequest({}, ['NVIDIA_VISIBLE_DEVICES=2'], 'nvidia.com/gpu')!).message, /this host has 2 GPUs: 0 \(GPU-2f6b0c1e-.*, 0000:3b:00\.0\), 1 \(GPU-9d41e8a2-.*, 0000:86:00\.0\)$/);
});

FIXTURE_HOSTS.test(`rhel-2gpu: compute gets libcuda, never the CUDA runtime or a 32-bit library${FIXTURE_HOSTS.why}`, (t) => {
  const m = scanFixture('rhel-2gpu');
  const mounts = mountedPaths(planFor(m, ['NVIDIA_VISIBLE_DEVICES=all', 'NVIDIA_DRIVER_CAPABILITIES=compute']).edits);
  t.true(mounts.includes('/usr/lib64/libcuda.so.550.54.15'));
  t.false(mounts.some((p) => p.includes('libcudart')));
  t.false(mounts.some((p) => p.startsWith('/usr/lib/lib')), 'compat32 files only with compat32');
  t.false(mounts.includes('/usr/bin/nvidia-smi'), 'utility files only with utility');
  const with32 = mountedPaths(planFor(m, ['NVIDIA_VISIBLE_DEVICES=all', 'NVIDIA_DRIVER_CAPABILITIES=compute,compat32']).edits);
  t.true(with32.includes('/usr/lib/libcuda.so.550.54.15'));
});

FIXTURE_HOSTS.test(`rhel-2gpu: graphics on GPU 1 adds card2 and renderD129, never GPU 0's nor the BMC's card0${FIXTURE_HOSTS.why}`, (t) => {
  const m = scanFixture('rhel-2gpu');
  const nodes = nodePaths(planFor(m, ['NVIDIA_VISIBLE_DEVICES=1', 'NVIDIA_DRIVER_CAPABILITIES=graphics,display']).edits);
  t.deepEqual(nodes.filter((p) => p.startsWith('/dev/dri/')), ['/dev/dri/card2', '/dev/dri/renderD129']);
  t.true(nodes.includes('/dev/nvidia-modeset'));
  t.false(nodes.includes('/dev/nvidia0'));
});

FIXTURE_HOSTS.test(`rhel-2gpu: the CUDA 12.4 image runs on driver 550 (CUDA 12.4); a CUDA 12.5 image does not${FIXTURE_HOSTS.why}`, (t) => {
  const m = scanFixture('rhel-2gpu');
  const require = (cuda: string) => `NVIDIA_REQUIRE_CUDA=cuda>=${cuda} brand=tesla,driver>=470,driver<471 brand=unknown,driver>=470,driver<471`;
  t.notThrows(() => planFor(m, ['NVIDIA_VISIBLE_DEVICES=all', require('12.4')]));
  t.throws(() => planFor(m, ['NVIDIA_VISIBLE_DEVICES=all', require('12.5')]), {
    instanceOf: RequestError,
    message: /: this host has driver 550\.54\.15 \(CUDA 12\.4\), GPUs 0 NVIDIA A100-SXM4-80GB \(brand nvidia, arch 8\.0\), 1 NVIDIA A100-SXM4-80GB/,
  });
  t.notThrows(() => planFor(m, ['NVIDIA_VISIBLE_DEVICES=all', require('12.5'), 'NVIDIA_DISABLE_REQUIRE=true']));
});

FIXTURE_HOSTS.test(`h200: compute gets libcuda 580.159.04; the stale libcuda.so.570.86.15 and the CUDA toolkit never appear${FIXTURE_HOSTS.why}`, (t) => {
  const m = scanFixture('h200');
  t.false(m.files.some((f) => f.containerPath.includes('570.86.15')), 'the old driver\'s library is not a driver file');
  const compute = mountedPaths(planFor(m, ['NVIDIA_VISIBLE_DEVICES=0', 'NVIDIA_DRIVER_CAPABILITIES=compute']).edits);
  t.true(compute.includes('/usr/local/nvidia/lib64/libcuda.so.580.159.04'));
  const everything = planFor(m, ['NVIDIA_VISIBLE_DEVICES=all', 'NVIDIA_DRIVER_CAPABILITIES=all']);
  for (const p of mountedPaths(everything.edits)) {
    t.false(p.includes('570.86.15'), p);
    t.false(/libcu(dart|blas|fft)|\/cuda-13\.0\/|\/stubs\//.test(p), p);
  }
});

FIXTURE_HOSTS.test(`h200: "all" capabilities include the unclassified driver library, the default ones do not${FIXTURE_HOSTS.why}`, (t) => {
  const m = scanFixture('h200');
  const lib = '/usr/local/nvidia/lib64/libnvidia-future.so.580.159.04';
  t.true(mountedPaths(planFor(m, ['NVIDIA_VISIBLE_DEVICES=0', 'NVIDIA_DRIVER_CAPABILITIES=all']).edits).includes(lib));
  t.false(mountedPaths(planFor(m, ['NVIDIA_VISIBLE_DEVICES=0']).edits).includes(lib));
});

FIXTURE_HOSTS.test(`h200: the nvidia/cuda 12.4 image passes on driver 580 (CUDA 13.0); cuda>=13.1 fails with one line${FIXTURE_HOSTS.why}`, (t) => {
  const m = scanFixture('h200');
  const env = (cuda: string) => ['NVIDIA_VISIBLE_DEVICES=all', `NVIDIA_REQUIRE_CUDA=cuda>=${cuda} brand=tesla,driver>=470,driver<471 brand=unknown,driver>=470,driver<471`];
  t.deepEqual(gpuNodes(planFor(m, env('12.4'))), ['/dev/nvidia0']);
  const error = refused(m, parseRequest({}, env('13.1'), 'nvidia.com/gpu')!);
  t.regex(error.message, /^unmet requirement NVIDIA_REQUIRE_CUDA="cuda>=13\.1 .*": this host has driver 580\.159\.04 \(CUDA 13\.0\), GPUs 0 NVIDIA H200 \(brand nvidia, arch 9\.0\)$/);
});

FIXTURE_HOSTS.test(`h200: a CDI annotation and the oci-gpu/devices annotation select like the env${FIXTURE_HOSTS.why}`, (t) => {
  const m = scanFixture('h200');
  t.deepEqual(gpuNodes(planFor(m, [], { 'cdi.k8s.io/gpu': 'nvidia.com/gpu=0' })), ['/dev/nvidia0']);
  t.deepEqual(gpuNodes(planFor(m, ['NVIDIA_VISIBLE_DEVICES=void'], { 'oci-gpu/devices': m.gpus[0]!.uuid })), ['/dev/nvidia0']);
  t.deepEqual(gpuNodes(planFor(m, ['NVIDIA_VISIBLE_DEVICES=0'], { 'oci-gpu/devices': 'none' })), []);
});

FIXTURE_HOSTS.test(`no-driver: every request is refused with the reason${FIXTURE_HOSTS.why}`, (t) => {
  const m = scanFixture('no-driver');
  t.throws(() => planFor(m, ['NVIDIA_VISIBLE_DEVICES=all']), { instanceOf: RequestError, message: /no NVIDIA driver was loaded/ });
});

// --- MIG devices (a GPU split into them is never handed out whole) and IMEX channels ---

// GPU 0 split (GPU instance 1 with compute instance 0; GPU instance 2 with 0 and 1), GPU 1 whole,
// minors 0 and 3; IMEX channels 0 and 1.
const MIGGED = deepFreeze(
  buildManifest({ gpus: [{ minor: 0, model: 'NVIDIA A100-SXM4-80GB', mig: [{ gi: 1, ci: 0, profile: '3g.40gb' }, { gi: 2, ci: 0 }, { gi: 2, ci: 1 }] }, { minor: 3, model: 'NVIDIA A100-SXM4-80GB' }], imexChannels: 2 }),
);
const cap = (n: number) => `/dev/nvidia-caps/nvidia-cap${n}`;
const devNodes = (p: Plan) => nodePaths(p.edits).filter((n) => /^\/dev\/nvidia(\d+|-caps\/.*|-caps-imex-channels\/.*)$/.test(n));

test('MIG device by <gpu>:<mig>: the parent GPU node and the caps of its GPU and compute instance, nothing of the other instances', (t) => {
  const p = planEdits(MIGGED, request(['0:2']));
  t.deepEqual(devNodes(p), ['/dev/nvidia0', cap(migCapMinor(0, 2)), cap(migCapMinor(0, 2, 1))]);
  t.deepEqual(p.devices.map((d) => [d.gpu.index, d.mig?.index ?? null]), [[0, 2]]);
  t.deepEqual(p.gpus, [MIGGED.gpus[0]]);
  t.false(nodePaths(p.edits).includes(cap(1)) || nodePaths(p.edits).includes(cap(2)), 'never the config or monitor caps');
});

test('MIG device by its UUID (any case), and a whole GPU beside it, in request order', (t) => {
  const p = planEdits(MIGGED, request([migUuid(0, 0).toLowerCase(), '1']));
  t.deepEqual(devNodes(p), ['/dev/nvidia0', cap(migCapMinor(0, 1)), cap(migCapMinor(0, 1, 0)), '/dev/nvidia3']);
});

test('"all" on a host with a split GPU: every MIG device and every whole GPU, no whole split GPU twice', (t) => {
  const p = planEdits(MIGGED, request('all'));
  t.deepEqual(p.devices.map((d) => (d.mig ? `${d.gpu.index}:${d.mig.index}` : String(d.gpu.index))), ['0:0', '0:1', '0:2', '1']);
  t.deepEqual([...devNodes(p)].sort(), ['/dev/nvidia0', '/dev/nvidia3', ...[[1], [1, 0], [2], [2, 0], [2, 1]].map(([g, c]) => cap(migCapMinor(0, g!, c)))].sort());
});

const migRefused = test.macro({
  exec(t, devices: string[], message: string | RegExp) {
    const error = refused(MIGGED, request(devices));
    if (typeof message === 'string') t.is(error.message, message);
    else t.regex(error.message, message);
  },
  title: (_, devices: string[]) => `refused in one line naming what exists: ${devices.join(',')}`,
});
const migList = `MIG devices 0:0 (${migUuid(0, 0)}, 3g.40gb), 0:1 (${migUuid(0, 1)}, 1g.18gb), 0:2 (${migUuid(0, 2)}, 1g.18gb)`;
test(migRefused, ['0'], `NVIDIA_VISIBLE_DEVICES asks for GPU 0 ("0") whole, but it is split into MIG devices: ask for one of them; GPU 0 has ${migList}`);
test(migRefused, [gpuUuid(0)], `NVIDIA_VISIBLE_DEVICES asks for GPU 0 ("${gpuUuid(0)}") whole, but it is split into MIG devices: ask for one of them; GPU 0 has ${migList}`);
test(migRefused, ['0:7'], `NVIDIA_VISIBLE_DEVICES asks for MIG device "0:7", which does not exist; GPU 0 has ${migList}`);
test(migRefused, ['1:0'], 'NVIDIA_VISIBLE_DEVICES asks for MIG device "1:0" but GPU 1 is not in MIG mode: ask for it as 1');
test(migRefused, ['5:0'], /^NVIDIA_VISIBLE_DEVICES asks for MIG device "5:0" of GPU 5, which does not exist; this host has 2 GPUs: 0 \(.*, MIG: MIG devices 0:0 /);
test(migRefused, ['0:x'], 'NVIDIA_VISIBLE_DEVICES: "0:x" is not a MIG device: use <GPU index>:<MIG index>, like 0:1');
test(migRefused, ['0:1:2'], 'NVIDIA_VISIBLE_DEVICES: "0:1:2" is not a MIG device: use <GPU index>:<MIG index>, like 0:1');
test(migRefused, ['MIG-deadbeef'], `NVIDIA_VISIBLE_DEVICES asks for MIG device "MIG-deadbeef", which does not exist; this host has GPU 0: ${migList}`);
test(migRefused, ['0:1', migUuid(0, 1)], `NVIDIA_VISIBLE_DEVICES asks for MIG device 0:1 twice ("${migUuid(0, 1)}")`);

test('a MIG id on a host with no split GPU says there are no MIG devices; a bus id with a colon is still a bus id', (t) => {
  t.is(refused(FOUR, request(['MIG-0a1b'])).message, 'NVIDIA_VISIBLE_DEVICES asks for MIG device "MIG-0a1b", which does not exist; this host has no MIG devices');
  t.is(planEdits(FOUR, request([gpuPciBusId(1)])).gpus[0], FOUR.gpus[1]);
});

test('a split GPU whose MIG devices could not be enumerated is offered neither whole nor in parts', (t) => {
  const none = deepFreeze(buildManifest({ gpus: [{ mig: [] }] }));
  t.is(refused(none, request(['0'])).message, 'NVIDIA_VISIBLE_DEVICES asks for GPU 0 ("0") whole, but it is split into MIG devices: ask for one of them; GPU 0 has no MIG devices ready (see `oci-gpu status`)');
  t.is(refused(none, request('all')).message, 'NVIDIA_VISIBLE_DEVICES asks for all GPUs but the manifest lists none (see `oci-gpu status`)');
});

test('IMEX channels: the ones asked for, in order, or all; an unknown one is refused naming those that exist', (t) => {
  const imex = (channels: GpuRequest['imexChannels']) => ({ ...request(['1']), imexChannels: channels });
  const ch = (n: number) => `/dev/nvidia-caps-imex-channels/channel${n}`;
  t.deepEqual(devNodes(planEdits(MIGGED, imex([1]))), ['/dev/nvidia3', ch(1)]);
  t.deepEqual(devNodes(planEdits(MIGGED, imex('all'))), ['/dev/nvidia3', ch(0), ch(1)]);
  t.deepEqual(devNodes(planEdits(MIGGED, imex([]))), ['/dev/nvidia3']);
  t.is(refused(MIGGED, imex([0, 5])).message, 'NVIDIA_IMEX_CHANNELS asks for IMEX channel 5, which does not exist; this host has 2 IMEX channels: 0, 1');
  t.is(refused(FOUR, imex([0])).message, 'NVIDIA_IMEX_CHANNELS asks for IMEX channel 0, which does not exist; this host has no IMEX channels');
});
