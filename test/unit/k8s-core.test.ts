// core/k8s: the ResourceSlice (valid against client-node's schema), its sync plan, a claim's CDI
// spec (valid CDI, only the manifest's edits, safe names), the checkpoint codec, device health,
// allocation and the preferred allocation.
import test from 'ava';
import { emptyCheckpoint, parseCheckpoint, serializeCheckpoint } from '../../src/core/k8s/checkpoint.js';
import { planClaim } from '../../src/core/k8s/claim-spec.js';
import { planAllocation, pluginDevices, preferredAllocation } from '../../src/core/k8s/device-plugin.js';
import { checkClaimUid, claimSpecFileName, checkResourceName } from '../../src/core/k8s/names.js';
import { buildResourceSlice, planSliceSync, semver, sliceName } from '../../src/core/k8s/resource-slice.js';
import { postMountHook } from '../../src/core/plan/post-mount.js';
import { RequestError } from '../../src/errors.js';
import { buildManifest, deepFreeze, gpuUuid } from '../helpers/manifests.js';
import { validateK8sObject } from '../helpers/k8s-schema.js';
import { resourceSliceRules } from '../helpers/fake-apiserver.js';
import { validateCdiSpec } from '../helpers/schema.js';

const DRIVER = 'gpu.oci-gpu.io';
const NODE = 'node-a';
const UID = '0f8e2f4c-1d2b-4c3a-9e8f-7a6b5c4d3e2f';
const m4 = deepFreeze(buildManifest({ gpus: 4, root: '/fixture' }));

test('the ResourceSlice: one device per GPU with every attribute, valid against the schema and the API server\'s rules', async (t) => {
  const slice = buildResourceSlice(m4, { driver: DRIVER, nodeName: NODE, generation: 3, nodeUid: 'uid-1' });
  t.deepEqual(await validateK8sObject(slice), []);
  t.deepEqual(resourceSliceRules(slice), []);
  t.is(slice.metadata.name, 'node-a-gpu-oci-gpu-io');
  t.deepEqual(slice.spec.devices.map((d) => d.name), ['gpu-0', 'gpu-1', 'gpu-2', 'gpu-3']);
  t.deepEqual(slice.spec.devices[2]!.attributes, {
    index: { int: 2 },
    uuid: { string: gpuUuid(2) },
    productName: { string: 'NVIDIA H200' },
    brand: { string: 'nvidia' },
    pciBusID: { string: m4.gpus[2]!.pciBusId },
    architecture: { string: m4.gpus[2]!.architecture },
    driverVersion: { version: '580.159.4' },
    cudaVersion: { version: '13.0.0' },
  });
  t.deepEqual(buildResourceSlice(buildManifest({ driver: null }), { driver: DRIVER, nodeName: NODE, generation: 1 }).spec.devices, []);
});

test('semver: leading zeros dropped, missing parts added, anything else refused', (t) => {
  t.is(semver('580.159.04'), '580.159.4');
  t.is(semver('13.0'), '13.0.0');
  for (const bad of ['', '1.2.3.4', 'abc', '1..2']) t.is(semver(bad), null, bad);
});

test('slice names stay DNS subdomains', (t) => {
  t.is(sliceName('n'.repeat(260), DRIVER).length, 253);
  t.regex(sliceName('node-a', 'a.b.c'), /^node-a-a-b-c$/);
});

test('planSliceSync: create, nothing, update with a higher generation, delete strays', (t) => {
  const desired = buildResourceSlice(m4, { driver: DRIVER, nodeName: NODE, generation: 1 });
  t.deepEqual(planSliceSync([], desired).map((a) => a.op), ['create']);
  const stored = { ...desired, metadata: { ...desired.metadata, resourceVersion: '7' }, spec: { ...desired.spec, pool: { ...desired.spec.pool, generation: 4 } } };
  t.deepEqual(planSliceSync([stored], desired), []);
  const fewer = buildResourceSlice(buildManifest({ gpus: 3 }), { driver: DRIVER, nodeName: NODE, generation: 1 });
  const [update] = planSliceSync([stored], fewer);
  t.is(update?.op, 'update');
  if (update?.op === 'update') {
    t.is(update.slice.spec.pool.generation, 5);
    t.is(update.slice.metadata.resourceVersion, '7');
  }
  const stray = { ...stored, metadata: { ...stored.metadata, name: 'old-name' } };
  t.deepEqual(planSliceSync([stored, stray], desired).map((a) => a.op), ['update', 'delete']);
});

test('planClaim: a valid CDI spec of kind <driver>/claim, one device per allocated GPU, only the manifest\'s edits', (t) => {
  const claim = { namespace: 'ns', name: 'c', uid: UID };
  const results = [
    { request: 'a', driver: DRIVER, pool: NODE, device: 'gpu-2' },
    { request: 'b', driver: DRIVER, pool: NODE, device: 'gpu-2' },
    { request: 'x', driver: 'other.example.com', pool: NODE, device: 'gpu-9' },
  ];
  const p = planClaim(m4, claim, results, { driver: DRIVER, nodeName: NODE, capabilities: ['utility', 'compute'] });
  t.deepEqual(validateCdiSpec(p.spec), []);
  t.is(p.spec.kind, `${DRIVER}/claim`);
  t.deepEqual(p.devices, [{ request_names: ['a', 'b'], pool_name: NODE, device_name: 'gpu-2', cdi_device_ids: [`${DRIVER}/claim=${UID}-gpu-2`] }]);
  t.deepEqual(p.gpuUuids, [gpuUuid(2)]);
  t.deepEqual(p.spec.devices[0]!.containerEdits.deviceNodes?.map((n) => n.path), ['/dev/nvidia2']);
  const manifestPaths = new Set(JSON.stringify(m4).match(/"\/fixture[^"]*"/g));
  for (const mnt of p.spec.containerEdits.mounts ?? []) t.true(manifestPaths.has(JSON.stringify(mnt.hostPath)), mnt.hostPath);
  // utility and compute mount 64-bit libraries only: the ld cache step names that folder alone.
  t.deepEqual(p.spec.containerEdits.hooks, [postMountHook(m4.tools, ['/usr/lib/x86_64-linux-gnu'])], 'the post-mount step of the manifest\'s host tools');
});

test('planClaim refuses a foreign pool, an unknown device, no device of ours and a uid that is not a UUID', (t) => {
  const o = { driver: DRIVER, nodeName: NODE, capabilities: ['compute' as const] };
  const claim = { namespace: 'ns', name: 'c', uid: UID };
  t.throws(() => planClaim(m4, claim, [{ request: 'a', driver: DRIVER, pool: 'node-b', device: 'gpu-0' }], o), { instanceOf: RequestError, message: /"node-b\/gpu-0", which is not on this node \(node-a has gpu-0, gpu-1, gpu-2, gpu-3\)/ });
  t.throws(() => planClaim(m4, claim, [{ request: 'a', driver: DRIVER, pool: NODE, device: 'gpu-4' }], o), { message: /"node-a\/gpu-4", which is not on this node/ });
  t.throws(() => planClaim(m4, claim, [], o), { message: `claim ns/c (${UID}) has no device allocated by driver ${DRIVER}` });
  for (const uid of ['../x', UID.toUpperCase(), `${UID}/..`, '']) t.throws(() => planClaim(m4, { ...claim, uid }, [], o), { message: /is not a UUID/ }, uid);
});

test('names: claim spec files carry the driver prefix; resource names are checked', (t) => {
  t.is(claimSpecFileName(DRIVER, UID), `${DRIVER}-claim_${UID}.json`);
  t.throws(() => checkClaimUid('a/b'));
  t.is(checkResourceName('oci-gpu.io/gpu'), null);
  for (const bad of ['gpu', 'a/b/c', 'Bad_Domain/gpu', 'oci-gpu.io/']) t.truthy(checkResourceName(bad), bad);
});

test('the checkpoint round-trips and refuses a foreign or malformed file', (t) => {
  const c = { ...emptyCheckpoint(DRIVER), claims: { [UID]: { claim: { namespace: 'ns', name: 'c', uid: UID }, specFile: '/var/run/cdi/x.json', devices: [], gpuUuids: [gpuUuid(0)] } } };
  t.deepEqual(parseCheckpoint(serializeCheckpoint(c), 'f'), c);
  t.throws(() => parseCheckpoint('{"schema":"other"}', 'f'), { message: /checkpoint "f": schema: must be "oci-gpu.dra-checkpoint\/v1"; driver: must be a string; claims: must be an object/ });
  t.throws(() => parseCheckpoint(JSON.stringify({ ...c, claims: { '../x': c.claims[UID] } }), 'f'), { message: /claims\.\.\.\/x: key is not a claim uid/ });
  t.throws(() => parseCheckpoint('{', 'f'));
});

test('pluginDevices: healthy with its node, unhealthy without, and a GPU that left stays listed as Unhealthy', (t) => {
  const m2 = buildManifest({ gpus: 2 });
  const all = pluginDevices(m2, [], () => true);
  t.deepEqual(all, [gpuUuid(0), gpuUuid(1)].sort().map((ID) => ({ ID, health: 'Healthy' })));
  const missing = pluginDevices(m2, [], (p) => p !== '/dev/nvidia1');
  t.is(missing.find((d) => d.ID === gpuUuid(1))?.health, 'Unhealthy');
  const gone = pluginDevices(buildManifest({ gpus: 1 }), all.map((d) => d.ID), () => true);
  t.deepEqual(gone, [{ ID: gpuUuid(0), health: 'Healthy' }, { ID: gpuUuid(1), health: 'Unhealthy' }].sort((a, b) => a.ID.localeCompare(b.ID)));
  t.deepEqual(pluginDevices(buildManifest({ gpus: 2, driver: null }), [], () => true), []);
});

test('planAllocation: CDI names and the cdi.k8s.io annotation; unknown and unhealthy GPUs refused', (t) => {
  const m2 = buildManifest({ gpus: 2 });
  const a = planAllocation(m2, [gpuUuid(1), gpuUuid(0)], { cdiKind: 'nvidia.com/gpu', annotationName: 'p', unhealthy: new Set() });
  t.deepEqual(a, { envs: {}, annotations: { 'cdi.k8s.io/p': `nvidia.com/gpu=${gpuUuid(1)},nvidia.com/gpu=${gpuUuid(0)}` }, cdi_devices: [{ name: `nvidia.com/gpu=${gpuUuid(1)}` }, { name: `nvidia.com/gpu=${gpuUuid(0)}` }] });
  t.throws(() => planAllocation(m2, ['GPU-x'], { cdiKind: 'k', annotationName: 'p', unhealthy: new Set() }), { instanceOf: RequestError, message: /device "GPU-x" is not a GPU of this node/ });
  t.throws(() => planAllocation(m2, [gpuUuid(0)], { cdiKind: 'k', annotationName: 'p', unhealthy: new Set([gpuUuid(0)]) }), { message: /GPU 0 .* is unhealthy/ });
});

const m8 = buildManifest({ gpus: 8 });
const ids = m8.gpus.map((g) => g.uuid);
const preferred = test.macro({
  exec(t, available: number[], must: number[], size: number, want: number[]) {
    t.deepEqual(preferredAllocation(m8, available.map((i) => ids[i]!), must.map((i) => ids[i]!), size), want.map((i) => ids[i]!));
  },
  title: (name = '') => `preferredAllocation: ${name}`,
});
test('neighbours in PCI order', preferred, [7, 0, 3, 4, 5], [], 2, [3, 4]);
test('around the required one', preferred, [0, 1, 2, 5, 6, 7], [6], 3, [5, 6, 7]);
test('required ones far apart: them, then the nearest', preferred, [0, 1, 2, 3, 4, 5, 6, 7], [0, 7], 3, [0, 1, 7]);
test('fewer available than asked: all of them', preferred, [2, 1], [], 4, [1, 2]);
