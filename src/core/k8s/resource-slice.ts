// The ResourceSlice a node's DRA driver publishes: one device per GPU of the manifest.
import type { Gpu, Manifest } from '../../model/manifest.js';
import { gpuDeviceName } from './names.js';

/** A device attribute: exactly one of its fields is set (resource.k8s.io/v1 DeviceAttribute). */
export type DeviceAttribute = { int: number } | { string: string } | { version: string } | { bool: boolean };

/** A ResourceSlice as the API server sees it (resource.k8s.io/v1, wire field names). */
export interface ResourceSlice {
  apiVersion: 'resource.k8s.io/v1';
  kind: 'ResourceSlice';
  metadata: {
    name: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
  };
  spec: {
    driver: string;
    nodeName: string;
    pool: { name: string; generation: number; resourceSliceCount: number };
    devices: { name: string; attributes: Record<string, DeviceAttribute> }[];
  };
}

/** The label our slices carry, so a plugin lists (and may delete) only its own. */
export const SLICE_LABEL = 'oci-gpu.io/node';

/** A slice name for a node and driver: "<node>-<driver>" with dots as dashes, at most 253 characters. */
export function sliceName(nodeName: string, driver: string): string {
  return `${nodeName}-${driver.replace(/\./g, '-')}`.slice(0, 253).replace(/[-.]+$/, '');
}

/**
 * Returns the slice for a manifest: pool = the node (one slice), one device per GPU named
 * "gpu-<index>" with index, uuid, productName, brand, architecture, pciBusID, driverVersion and
 * cudaVersion attributes (versions as semver). The generation is the caller's.
 */
export function buildResourceSlice(
  manifest: Manifest,
  o: { driver: string; nodeName: string; generation: number; nodeUid?: string },
): ResourceSlice {
  return {
    apiVersion: 'resource.k8s.io/v1',
    kind: 'ResourceSlice',
    metadata: {
      name: sliceName(o.nodeName, o.driver),
      labels: { [SLICE_LABEL]: o.nodeName },
      // Owned by the Node: the slice goes away with the node.
      ...(o.nodeUid ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: o.nodeName, uid: o.nodeUid, controller: true }] } : {}),
    },
    spec: {
      driver: o.driver,
      nodeName: o.nodeName,
      pool: { name: o.nodeName, generation: o.generation, resourceSliceCount: 1 },
      devices: manifest.gpus.map((gpu) => ({ name: gpuDeviceName(gpu), attributes: gpuAttributes(manifest, gpu) })),
    },
  };
}

function gpuAttributes(manifest: Manifest, gpu: Gpu): Record<string, DeviceAttribute> {
  const attrs: Record<string, DeviceAttribute> = {
    index: { int: gpu.index },
    uuid: { string: gpu.uuid },
    productName: { string: clip(gpu.model) },
    brand: { string: gpu.brand },
    pciBusID: { string: gpu.pciBusId },
  };
  if (gpu.architecture) attrs['architecture'] = { string: gpu.architecture };
  const driver = semver(manifest.driver?.version ?? '');
  if (driver) attrs['driverVersion'] = { version: driver };
  const cuda = semver(manifest.driver?.cudaVersion ?? '');
  if (cuda) attrs['cudaVersion'] = { version: cuda };
  return attrs;
}

// String attributes are at most 64 characters.
const clip = (s: string) => s.slice(0, 64);

/** Returns a dotted numeric version as semver ("580.159.04" → "580.159.4", "13.0" → "13.0.0"), or null. */
export function semver(version: string): string | null {
  const parts = version.split('.');
  if (!version || parts.length > 3 || parts.some((p) => !/^\d{1,9}$/.test(p))) return null;
  while (parts.length < 3) parts.push('0');
  return parts.map((p) => String(Number(p))).join('.');
}

/** What to send to make the API server hold exactly `desired` for this node and driver. */
export type SliceAction =
  | { op: 'create'; slice: ResourceSlice }
  | { op: 'update'; slice: ResourceSlice }
  | { op: 'delete'; name: string };

/**
 * Returns the actions that turn the slices listed for this node and driver into `desired`:
 * nothing when the one slice already has the same devices; else create or update it with a
 * generation above every listed one, and delete any other slice of ours.
 */
export function planSliceSync(existing: readonly ResourceSlice[], desired: ResourceSlice): SliceAction[] {
  const actions: SliceAction[] = [];
  const same = existing.find((s) => s.metadata.name === desired.metadata.name);
  for (const s of existing) if (s !== same) actions.push({ op: 'delete', name: s.metadata.name });
  const generation = Math.max(0, ...existing.map((s) => s.spec.pool.generation ?? 0)) + 1;
  if (!same) actions.unshift({ op: 'create', slice: withGeneration(desired, generation) });
  else if (!sameContent(same, desired) || actions.length) {
    actions.unshift({ op: 'update', slice: withGeneration({ ...desired, metadata: { ...desired.metadata, resourceVersion: same.metadata.resourceVersion } }, generation) });
  }
  return actions;
}

function withGeneration(s: ResourceSlice, generation: number): ResourceSlice {
  return { ...s, spec: { ...s.spec, pool: { ...s.spec.pool, generation } } };
}

// Same devices, driver, node, pool name, labels and owner: what we set (the API server adds defaults we ignore).
function sameContent(a: ResourceSlice, b: ResourceSlice): boolean {
  const pick = (s: ResourceSlice) =>
    JSON.stringify([
      s.spec.driver,
      s.spec.nodeName,
      s.spec.pool.name,
      s.spec.pool.resourceSliceCount,
      s.metadata.labels ?? {},
      (s.metadata.ownerReferences ?? []).map((o) => o.uid),
      s.spec.devices.map((d) => [d.name, Object.entries(d.attributes).sort(([x], [y]) => x.localeCompare(y))]),
    ]);
  return pick(a) === pick(b);
}
