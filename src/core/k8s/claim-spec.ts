// A DRA claim's CDI spec: what NodePrepareResources writes for the GPUs the scheduler allocated.
import { RequestError } from '../../errors.js';
import type { ContainerEdits } from '../../model/edits.js';
import { CAPABILITIES, type Capability, type Gpu, type Manifest } from '../../model/manifest.js';
import { cleanEdits, minimumCdiVersion, type CdiSpec } from '../plan/cdi-spec.js';
import { mountedLibraryDirs, postMountHook } from '../plan/post-mount.js';
import { appendEdits } from '../plan/edits.js';
import { checkClaimUid, claimCdiKind, gpuDeviceName } from './names.js';

/** The claim as the kubelet names it (dra/v1 Claim). */
export interface ClaimRef {
  namespace: string;
  name: string;
  uid: string;
}

/** One entry of a ResourceClaim's status.allocation.devices.results. */
export interface AllocationResult {
  request: string;
  driver: string;
  pool: string;
  device: string;
}

/** A prepared device as NodePrepareResources returns it (dra/v1 Device, wire names). */
export interface PreparedDevice {
  request_names: string[];
  pool_name: string;
  device_name: string;
  cdi_device_ids: string[];
}

/** What preparing a claim produces: the spec to write, the devices to return, the GPUs it holds. */
export interface PreparedClaim {
  spec: CdiSpec;
  devices: PreparedDevice[];
  gpuUuids: string[];
}

/**
 * Returns the CDI spec and prepared devices for a claim's allocation results of `driver`: one CDI
 * device "<uid>-gpu-<index>" per allocated GPU with that GPU's nodes, and as shared edits the
 * control nodes, the capabilities' driver files and the ld cache step, all taken from the manifest.
 * Throws RequestError naming the claim when its UID is not a UUID, when a result names a pool other
 * than this node or a device the manifest does not have, or when no result is for this driver.
 */
export function planClaim(
  manifest: Manifest,
  claim: ClaimRef,
  results: readonly AllocationResult[],
  o: { driver: string; nodeName: string; capabilities: readonly Capability[] },
): PreparedClaim {
  const uid = checkClaimUid(claim.uid);
  const what = `claim ${claim.namespace}/${claim.name} (${uid})`;
  const ours = results.filter((r) => r.driver === o.driver);
  if (!ours.length) throw new RequestError(`${what} has no device allocated by driver ${o.driver}`);
  const byDevice = new Map<string, { gpu: Gpu; requests: string[] }>();
  for (const r of ours) {
    const gpu = manifest.gpus.find((g) => gpuDeviceName(g) === r.device);
    if (r.pool !== o.nodeName || !gpu) {
      const have = manifest.gpus.map(gpuDeviceName).join(', ') || 'no GPUs';
      throw new RequestError(`${what} was allocated device "${r.pool}/${r.device}", which is not on this node (${o.nodeName} has ${have})`);
    }
    const entry = byDevice.get(r.device) ?? byDevice.set(r.device, { gpu, requests: [] }).get(r.device)!;
    if (!entry.requests.includes(r.request)) entry.requests.push(r.request);
  }
  const kind = claimCdiKind(o.driver);
  const caps = o.capabilities;
  const graphical = caps.includes('graphics') || caps.includes('display');
  const devices: CdiSpec['devices'] = [];
  const prepared: PreparedDevice[] = [];
  for (const [deviceName, { gpu, requests }] of byDevice) {
    const name = `${uid}-${deviceName}`;
    devices.push({ name, containerEdits: cleanEdits(appendEdits(gpu.edits, graphical ? { deviceNodes: gpu.driNodes } : undefined)) });
    prepared.push({ request_names: requests, pool_name: o.nodeName, device_name: deviceName, cdi_device_ids: [`${kind}=${name}`] });
  }
  const everything = CAPABILITIES.every((c) => caps.includes(c));
  const files = appendEdits(...caps.map((c) => manifest.capabilities[c]), everything ? manifest.capabilities.unclassified : undefined);
  const hook = postMountHook(manifest.tools, mountedLibraryDirs(manifest.libraryDirs, files.mounts ?? []));
  const shared: ContainerEdits = cleanEdits(appendEdits({ deviceNodes: manifest.controlNodes, env: ['NVIDIA_VISIBLE_DEVICES=void'] }, files, hook ? { hooks: [hook] } : undefined));
  const spec: CdiSpec = { cdiVersion: '', kind, devices, containerEdits: shared };
  spec.cdiVersion = minimumCdiVersion(spec);
  return { spec, devices: prepared, gpuUuids: [...byDevice.values()].map((d) => d.gpu.uuid) };
}
