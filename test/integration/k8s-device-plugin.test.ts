// `oci-gpu device-plugin` (the compiled build/oci-gpu) against a kubelet harness that serves the
// device plugin Registration service on kubelet.sock and calls the plugin back over its own socket
// (deviceplugin v1beta1, real unix sockets): registration, ListAndWatch with health that follows
// the manifest, Allocate with CDI names, GetPreferredAllocation, and a kubelet restart. An allocated
// CDI name then starts a real Podman container with the watcher's CDI spec on a fixture host.
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cliBinary, ENXIO, fixtureManifest, parseProbe, PROBE, show, tempDir, type FixtureManifest } from '../helpers/hook-env.js';
import { copyManifest, editManifestFile, harnessTest, K8S_SKIP_REASON, runName, SKIPPED } from '../helpers/k8s-env.js';
import { devicePluginCall, listAndWatch, startKubeletRegistration, startPlugin, waitUntil, type DeviceStream, type KubeletRegistration, type PluginProcess } from '../helpers/kubelet-harness.js';
import { podmanRun, podmanUnavailableReason, run } from '../helpers/podman.js';
import test from 'ava';

const NAME = runName();
const CDI_KIND = `${NAME}.oci-gpu.test/gpu`;
const CDI_SPEC = `/var/run/cdi/${NAME}-gpu.json`;
const RESOURCE = `${NAME}.oci-gpu.test/gpu`;

let fixture: FixtureManifest;
let bin: string;
let dir: string;
let manifest: string;
let kubelet: KubeletRegistration;
let plugin: PluginProcess;
let stream: DeviceStream;
const pluginSocket = () => path.join(dir, 'oci-gpu.sock');
const uuids = () => fixture.data.gpus.map((g) => g.uuid);

test.before(async () => {
  if (K8S_SKIP_REASON) return;
  const reason = podmanUnavailableReason();
  if (reason) throw new Error(`the device plugin harness needs root and podman: ${reason}`);
  dir = tempDir('k8s-dp');
  bin = await cliBinary();
  fixture = await fixtureManifest('rhel-2gpu');
  manifest = copyManifest(fixture.file, dir);
  // The watcher's CDI spec, with a kind of this run's own: Allocate answers with its device names.
  const r = await run(bin, ['cdi', 'generate', '--root', fixture.root, '--kind', CDI_KIND, '--output', CDI_SPEC]);
  if (r.exitCode !== 0) throw new Error(show(r));
  kubelet = await startKubeletRegistration(path.join(dir, 'kubelet.sock'));
  plugin = startPlugin(bin, ['device-plugin', '--resource-name', RESOURCE, '--plugin-dir', dir, '--manifest', manifest, '--cdi-kind', CDI_KIND, '--check-interval-ms', '200']);
});

test.after.always(async () => {
  stream?.close();
  await plugin?.stop();
  await kubelet?.close();
  rmSync(CDI_SPEC, { force: true });
});

harnessTest(`registers with kubelet.sock: v1beta1, its socket, the resource, preferred allocation on${SKIPPED}`, async (t) => {
  await waitUntil(() => kubelet.registrations.length > 0, () => `a Register call; plugin log:\n${plugin.log()}`);
  t.deepEqual(kubelet.registrations[0], { version: 'v1beta1', endpoint: 'oci-gpu.sock', resource_name: RESOURCE, options: { pre_start_required: false, get_preferred_allocation_available: true } });
  t.true(existsSync(pluginSocket()));
  const options = await devicePluginCall(pluginSocket(), 'GetDevicePluginOptions', {});
  t.deepEqual(options, { pre_start_required: false, get_preferred_allocation_available: true });
});

harnessTest(`ListAndWatch streams every GPU by UUID, Healthy${SKIPPED}`, async (t) => {
  stream = listAndWatch(pluginSocket());
  const first = await stream.waitFor((d) => d.length > 0, 'the first list');
  t.deepEqual(first, [...uuids()].sort().map((ID) => ({ ID, health: 'Healthy', topology: null })));
});

harnessTest(`Allocate returns the CDI name and annotation; podman --device <name> gets that GPU only${SKIPPED}`, async (t) => {
  const gpu = fixture.data.gpus[1]!;
  const res = await devicePluginCall<any>(pluginSocket(), 'Allocate', { container_requests: [{ devices_ids: [gpu.uuid] }] });
  t.deepEqual(res.container_responses, [
    { envs: {}, mounts: [], devices: [], annotations: { 'cdi.k8s.io/oci-gpu-device-plugin': `${CDI_KIND}=${gpu.uuid}` }, cdi_devices: [{ name: `${CDI_KIND}=${gpu.uuid}` }] },
  ]);
  const r = await podmanRun({ runtime: 'runc', devices: [res.container_responses[0].cdi_devices[0].name], args: ['sh', '-c', PROBE] });
  t.is(r.exitCode, 0, show(r));
  const probe = parseProbe(r.stdout);
  t.deepEqual([...probe.nodes.keys()].filter((n) => /^\/dev\/nvidia\d+$/.test(n)), [`/dev/nvidia${gpu.minor}`]);
  for (const [node, { open }] of probe.nodes) t.is(open, ENXIO, `${node} is allowed by the device cgroup`);
  t.is(probe.smiExit, 0, probe.smi);
});

harnessTest(`Allocate of a device this node does not have is a clear INVALID_ARGUMENT${SKIPPED}`, async (t) => {
  const error = await t.throwsAsync(devicePluginCall(pluginSocket(), 'Allocate', { container_requests: [{ devices_ids: ['GPU-00000000-0000-0000-0000-000000000000'] }] }));
  t.is((error as any).code, 3, 'grpc.status.INVALID_ARGUMENT');
  t.regex((error as any).details, /^allocate: device "GPU-00000000-0000-0000-0000-000000000000" is not a GPU of this node \(GPU-/);
});

harnessTest(`GetPreferredAllocation keeps the required GPU and fills up from its PCI neighbours${SKIPPED}`, async (t) => {
  const [a, b] = uuids();
  const res = await devicePluginCall<any>(pluginSocket(), 'GetPreferredAllocation', {
    container_requests: [{ available_deviceIDs: [b, a], must_include_deviceIDs: [b], allocation_size: 1 }, { available_deviceIDs: [b, a], must_include_deviceIDs: [], allocation_size: 2 }],
  });
  t.deepEqual(res.container_responses, [{ deviceIDs: [b] }, { deviceIDs: [a, b] }]);
});

harnessTest(`mid-stream: a GPU whose device node vanishes, then a GPU the manifest drops, turn Unhealthy${SKIPPED}`, async (t) => {
  const [a, b] = [fixture.data.gpus[0]!, fixture.data.gpus[1]!];
  // GPU 0's node moved to a file of this test, then removed (the fixture's own nodes are shared).
  const node = path.join(dir, 'nvidia-node');
  writeFileSync(node, '');
  editManifestFile(manifest, (m) => {
    m.gpus[0].edits.deviceNodes[0].hostPath = node;
  });
  rmSync(node);
  const sick = await stream.waitFor((d) => d.some((x) => x.ID === a.uuid && x.health === 'Unhealthy'), 'GPU 0 unhealthy');
  t.is(sick.find((x) => x.ID === b.uuid)?.health, 'Healthy');
  const refused = await t.throwsAsync(devicePluginCall(pluginSocket(), 'Allocate', { container_requests: [{ devices_ids: [a.uuid] }] }));
  t.regex((refused as any).details, /is unhealthy: its device node is missing/);
  editManifestFile(manifest, (m) => {
    m.gpus = m.gpus.filter((g: any) => g.uuid !== b.uuid);
  });
  const both = await stream.waitFor((d) => d.every((x) => x.health === 'Unhealthy'), 'both unhealthy');
  t.deepEqual(both.map((x) => x.ID).sort(), [a.uuid, b.uuid].sort(), 'the dropped GPU is still listed, as Unhealthy');
});

harnessTest(`a kubelet restart (kubelet.sock and the plugin's socket removed, a new kubelet.sock): the plugin registers again${SKIPPED}`, async (t) => {
  const before = kubelet.registrations.length;
  await kubelet.close();
  rmSync(pluginSocket(), { force: true });
  kubelet = await startKubeletRegistration(path.join(dir, 'kubelet.sock'));
  await waitUntil(() => kubelet.registrations.length > 0, () => `a Register call to the new kubelet; plugin log:\n${plugin.log()}`);
  t.true(before >= 1);
  t.is(kubelet.registrations[0]!.resource_name, RESOURCE);
  await waitUntil(() => existsSync(pluginSocket()), 'the plugin socket');
  const fresh = listAndWatch(pluginSocket());
  t.teardown(() => fresh.close());
  await fresh.waitFor((d) => d.length === 2, 'the list on the new socket');
  t.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.sock')).sort(), ['kubelet.sock', 'oci-gpu.sock']);
});

harnessTest(`--help, and a bad --resource-name${SKIPPED}`, async (t) => {
  const help = await run(bin, ['device-plugin', '--help']);
  t.is(help.exitCode, 0);
  t.regex(help.stdout, /^Usage: oci-gpu device-plugin/);
  const bad = await run(bin, ['device-plugin', '--resource-name', 'gpu']);
  t.is(bad.exitCode, 2);
  t.regex(bad.stderr, /^oci-gpu device-plugin: --resource-name "gpu" is not an extended resource name/);
});
