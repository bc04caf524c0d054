// `oci-gpu kubelet-plugin` (the compiled build/oci-gpu) against a kubelet harness that speaks the
// real protocols over real unix sockets (plugin registration v1, DRA v1) and a local HTTP endpoint
// that STANDS IN FOR THE API SERVER (no kubelet or API server can run here): it validates each
// request body against the Kubernetes OpenAPI schema of @kubernetes/client-node and records it. The
// plugin uses the real @kubernetes/client-node through a kubeconfig. A prepared claim's CDI id then
// starts a real Podman container on a fixture host to show the GPU arrives.
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { startFakeApiServer, type FakeApiServer } from '../helpers/fake-apiserver.js';
import { cliBinary, ENXIO, fixtureManifest, parseProbe, PROBE, show, tempDir, type FixtureManifest } from '../helpers/hook-env.js';
import { copyManifest, editManifestFile, harnessTest, K8S_SKIP_REASON, runName, SKIPPED } from '../helpers/k8s-env.js';
import { validateK8sObject } from '../helpers/k8s-schema.js';
import { getInfo, nodePrepareResources, nodeUnprepareResources, notifyRegistrationStatus, startPlugin, waitUntil, type PluginProcess } from '../helpers/kubelet-harness.js';
import { podmanRun, podmanUnavailableReason } from '../helpers/podman.js';
import { validateCdiSpec } from '../helpers/schema.js';
import test from 'ava';

const NAME = runName();
const DRIVER = `${NAME}.oci-gpu.test`;
const NODE = `${NAME}-node`;
const NODE_UID = randomUUID();
const CDI_DIR = '/var/run/cdi';
const KIND = `${DRIVER}/claim`;

let api: FakeApiServer;
let fixture: FixtureManifest;
let bin: string;
let dir: string;
let manifest: string;
let plugin: PluginProcess;
const pluginDir = () => path.join(dir, 'plugins', DRIVER);
const registryDir = () => path.join(dir, 'plugins_registry');
const regSocket = () => path.join(registryDir(), `${DRIVER}-reg.sock`);
const draSocket = () => path.join(pluginDir(), 'dra.sock');
const specFile = (uid: string) => path.join(CDI_DIR, `${DRIVER}-claim_${uid}.json`);

function start(): PluginProcess {
  const p = startPlugin(
    bin,
    ['kubelet-plugin', '--node-name', NODE, '--driver-name', DRIVER, '--manifest', manifest, '--cdi-dir', CDI_DIR, '--plugin-dir', pluginDir(), '--registry-dir', registryDir(), '--check-interval-ms', '200'],
    { KUBECONFIG: api.kubeconfig, HOME: dir },
  );
  return p;
}

/** A ResourceClaim as the scheduler leaves it: allocated `devices` of our driver on `pool`. */
function allocatedClaim(name: string, uid: string, devices: string[], pool = NODE): Record<string, any> {
  return {
    apiVersion: 'resource.k8s.io/v1',
    kind: 'ResourceClaim',
    metadata: { name, namespace: 'default', uid },
    spec: { devices: { requests: [{ name: 'gpu', exactly: { deviceClassName: DRIVER, count: devices.length } }] } },
    status: { allocation: { devices: { results: devices.map((device) => ({ request: 'gpu', driver: DRIVER, pool, device })) } } },
  };
}

test.before(async () => {
  if (K8S_SKIP_REASON) return;
  const reason = podmanUnavailableReason();
  if (reason) throw new Error(`the DRA harness needs root and podman: ${reason}`);
  dir = tempDir('k8s-dra');
  bin = await cliBinary();
  fixture = await fixtureManifest('rhel-2gpu');
  manifest = copyManifest(fixture.file, dir);
  api = await startFakeApiServer(dir);
  api.nodes.set(NODE, NODE_UID);
  plugin = start();
});

test.after.always(async () => {
  await plugin?.stop();
  await api?.close();
  for (const f of existsSync(CDI_DIR) ? readdirSync(CDI_DIR) : []) if (f.startsWith(`${DRIVER}-`)) rmSync(path.join(CDI_DIR, f), { force: true });
});

harnessTest(`registers through the plugin registry: GetInfo names the driver, the v1.DRAPlugin service and its endpoint${SKIPPED}`, async (t) => {
  await waitUntil(() => existsSync(regSocket()), `${regSocket()}\n${plugin.log()}`);
  const info = await getInfo(regSocket());
  t.deepEqual(info, { type: 'DRAPlugin', name: DRIVER, endpoint: draSocket(), supported_versions: ['v1.DRAPlugin'] });
  t.true(existsSync(info.endpoint));
  await notifyRegistrationStatus(regSocket(), true);
  await plugin.waitForLog(/registered with the kubelet as DRA driver/);
  t.pass();
});

harnessTest(`publishes one ResourceSlice for the node, valid against the Kubernetes schema: a device per GPU with its attributes${SKIPPED}`, async (t) => {
  const created = await api.waitFor((r) => r.method === 'POST' && r.path.endsWith('/resourceslices'), 'ResourceSlice create');
  t.deepEqual(created.problems, [], JSON.stringify(created.body));
  t.is(created.status, 201);
  const slice = created.body!;
  t.deepEqual(await validateK8sObject(slice), []);
  t.is(slice.spec.driver, DRIVER);
  t.is(slice.spec.nodeName, NODE);
  t.deepEqual(slice.spec.pool, { name: NODE, generation: 1, resourceSliceCount: 1 });
  t.deepEqual(slice.metadata.ownerReferences, [{ apiVersion: 'v1', kind: 'Node', name: NODE, uid: NODE_UID, controller: true }]);
  t.deepEqual(slice.spec.devices.map((d: any) => d.name), ['gpu-0', 'gpu-1']);
  const gpu1 = slice.spec.devices[1].attributes;
  t.deepEqual(gpu1.index, { int: 1 });
  t.deepEqual(gpu1.uuid, { string: fixture.data.gpus[1]!.uuid });
  t.deepEqual(gpu1.pciBusID, { string: fixture.data.gpus[1]!.pciBusId });
  t.deepEqual(gpu1.driverVersion, { version: fixture.data.driver!.version.split('.').map(Number).join('.') });
  for (const key of ['productName', 'brand', 'cudaVersion']) t.truthy(gpu1[key], key);
  // The plugin listed its own slices first, by node.
  t.true(api.requests.some((r) => r.method === 'GET' && r.path.endsWith('/resourceslices') && r.query['fieldSelector'] === `spec.nodeName=${NODE}`));
});

const CLAIM_UID = randomUUID();
const CLAIM = { namespace: 'default', name: `${NAME}-claim`, uid: CLAIM_UID };

harnessTest(`NodePrepareResources writes one CDI spec for the claim and returns its CDI id; podman --device <id> gets that GPU${SKIPPED}`, async (t) => {
  const claim = allocatedClaim(CLAIM.name, CLAIM_UID, ['gpu-1']);
  t.deepEqual(await validateK8sObject(claim), [], 'the test claim itself is a valid ResourceClaim');
  api.claims.set(`default/${CLAIM.name}`, claim);
  const res = await nodePrepareResources(draSocket(), [CLAIM]);
  t.deepEqual(res, { [CLAIM_UID]: { error: '', devices: [{ request_names: ['gpu'], pool_name: NODE, device_name: 'gpu-1', cdi_device_ids: [`${KIND}=${CLAIM_UID}-gpu-1`] }] } });
  const spec = JSON.parse(readFileSync(specFile(CLAIM_UID), 'utf8'));
  t.deepEqual(validateCdiSpec(spec), []);
  t.is(spec.kind, KIND);
  t.deepEqual(spec.devices.map((d: any) => d.name), [`${CLAIM_UID}-gpu-1`]);
  // Only the manifest's edits: every host path of the spec is a path of the manifest.
  const manifestText = readFileSync(manifest, 'utf8');
  for (const m of spec.containerEdits.mounts ?? []) t.true(manifestText.includes(JSON.stringify(m.hostPath)), m.hostPath);

  const r = await podmanRun({ runtime: 'crun', devices: [`${KIND}=${CLAIM_UID}-gpu-1`], args: ['sh', '-c', PROBE] });
  t.is(r.exitCode, 0, show(r));
  const probe = parseProbe(r.stdout);
  t.deepEqual([...probe.nodes.keys()].filter((n) => /^\/dev\/nvidia\d+$/.test(n)), [`/dev/nvidia${fixture.data.gpus[1]!.minor}`]);
  for (const [node, { open }] of probe.nodes) t.is(open, ENXIO, `${node} is allowed by the device cgroup`);
  t.true(probe.ldcache.has('libcuda.so.1'), 'the ld cache step ran: ' + probe.ldcacheLines.join(' | '));
  t.is(probe.smiExit, 0, probe.smi);
});

harnessTest(`NodePrepareResources again answers the same without asking the API server${SKIPPED}`, async (t) => {
  const gets = () => api.requests.filter((r) => r.path.includes('/resourceclaims/')).length;
  const before = gets();
  const res = await nodePrepareResources(draSocket(), [CLAIM]);
  t.deepEqual(res[CLAIM_UID]!.devices.map((d) => d.cdi_device_ids), [[`${KIND}=${CLAIM_UID}-gpu-1`]]);
  t.is(gets(), before);
});

harnessTest(`a claim allocated a device that is not on this node gets a clear error and no spec${SKIPPED}`, async (t) => {
  const uid = randomUUID();
  const other = randomUUID();
  api.claims.set(`default/${NAME}-far`, allocatedClaim(`${NAME}-far`, uid, ['gpu-7']));
  api.claims.set(`default/${NAME}-other-node`, allocatedClaim(`${NAME}-other-node`, other, ['gpu-0'], 'some-other-node'));
  const res = await nodePrepareResources(draSocket(), [
    { namespace: 'default', name: `${NAME}-far`, uid },
    { namespace: 'default', name: `${NAME}-other-node`, uid: other },
  ]);
  t.regex(res[uid]!.error, new RegExp(`claim default/${NAME}-far \\(${uid}\\) was allocated device "${NODE}/gpu-7", which is not on this node \\(${NODE} has gpu-0, gpu-1\\)`));
  t.regex(res[other]!.error, /"some-other-node\/gpu-0", which is not on this node/);
  t.deepEqual(res[uid]!.devices, []);
  t.false(existsSync(specFile(uid)));
  t.false(existsSync(specFile(other)));
});

harnessTest(`a claim uid that is not a UUID is refused before it names a file${SKIPPED}`, async (t) => {
  const before = readdirSync(CDI_DIR).sort();
  const uid = '../../../tmp/k8s-escape';
  const res = await nodePrepareResources(draSocket(), [{ namespace: 'default', name: 'x', uid }]);
  t.regex(res[uid]!.error, /claim uid "\.\.\/\.\.\/\.\.\/tmp\/k8s-escape" is not a UUID/);
  const un = await nodeUnprepareResources(draSocket(), [{ namespace: 'default', name: 'x', uid }]);
  t.regex(un[uid]!.error, /is not a UUID/);
  t.deepEqual(readdirSync(CDI_DIR).sort(), before);
});

harnessTest(`the plugin restarts between prepare and unprepare: the checkpoint answers prepare, unprepare removes the spec${SKIPPED}`, async (t) => {
  await plugin.kill();
  // The claim is gone from the API server: only the checkpoint can answer now.
  api.claims.delete(`default/${CLAIM.name}`);
  plugin = start();
  await plugin.waitForLog(/checkpoint .*: 1 prepared claim/);
  await waitUntil(() => existsSync(draSocket()) && plugin.log().includes('serving v1.DRAPlugin'), 'the DRA socket after the restart');
  const again = await nodePrepareResources(draSocket(), [CLAIM]);
  t.deepEqual(again[CLAIM_UID]!.devices.map((d) => d.cdi_device_ids), [[`${KIND}=${CLAIM_UID}-gpu-1`]]);
  const un = await nodeUnprepareResources(draSocket(), [CLAIM]);
  t.deepEqual(un, { [CLAIM_UID]: { error: '' } });
  t.false(existsSync(specFile(CLAIM_UID)));
  const checkpoint = JSON.parse(readFileSync(path.join(pluginDir(), 'checkpoint.json'), 'utf8'));
  t.deepEqual(checkpoint.claims, {});
  // Twice is fine (the kubelet retries).
  t.deepEqual(await nodeUnprepareResources(draSocket(), [CLAIM]), { [CLAIM_UID]: { error: '' } });
});

harnessTest(`a GPU disappears from the manifest while running: the slice is updated, still valid${SKIPPED}`, async (t) => {
  editManifestFile(manifest, (m) => {
    m.gpus = m.gpus.filter((g: any) => g.index !== 1);
  });
  const updated = await api.waitFor((r) => r.method === 'PUT' && r.body?.spec?.devices?.length === 1, 'ResourceSlice update with one device');
  t.deepEqual(updated.problems, []);
  t.is(updated.status, 200);
  t.deepEqual(updated.body!.spec.devices.map((d: any) => d.name), ['gpu-0']);
  t.true(updated.body!.spec.pool.generation > 1, 'a new pool generation');
  t.deepEqual([...api.slices.values()].map((s) => s.spec.devices.length), [1]);
});

harnessTest(`the registration socket disappears (kubelet restart): the plugin registers again${SKIPPED}`, async (t) => {
  rmSync(regSocket());
  await waitUntil(() => existsSync(regSocket()), 'the registration socket to come back');
  const info = await getInfo(regSocket());
  t.is(info.name, DRIVER);
  t.regex(plugin.log(), /registration socket .* vanished \(kubelet restart\?\): registering again/);
});

harnessTest(`--help and a missing --node-name${SKIPPED}`, async (t) => {
  const { run } = await import('../helpers/podman.js');
  const help = await run(bin, ['kubelet-plugin', '--help']);
  t.is(help.exitCode, 0);
  t.regex(help.stdout, /^Usage: oci-gpu kubelet-plugin --node-name NODE/);
  const bad = await run(bin, ['kubelet-plugin']);
  t.is(bad.exitCode, 2);
  t.is(bad.stderr, 'oci-gpu kubelet-plugin: --node-name (or $NODE_NAME) is required\n');
});
