// What the device plugin tells the kubelet: devices with health, allocations as CDI names, and
// which GPUs to prefer together.
import { RequestError } from '../../errors.js';
import type { Gpu, Manifest } from '../../model/manifest.js';
import { CDI_ANNOTATION_PREFIX } from '../request/request.js';

export const HEALTHY = 'Healthy';
export const UNHEALTHY = 'Unhealthy';

/** A device as ListAndWatch sends it (deviceplugin/v1beta1 Device, wire names). */
export interface PluginDevice {
  ID: string;
  health: typeof HEALTHY | typeof UNHEALTHY;
}

/**
 * Returns the devices to advertise: every GPU of the manifest by UUID, Healthy when each of its
 * device nodes exists (`nodeExists`, given the node's host path), else Unhealthy; and every GPU
 * advertised before (`previous`) that the manifest no longer lists, Unhealthy — the kubelet then
 * stops placing pods on it instead of forgetting it. Sorted by ID.
 */
export function pluginDevices(manifest: Manifest, previous: readonly string[], nodeExists: (hostPath: string) => boolean): PluginDevice[] {
  const out = new Map<string, PluginDevice>();
  for (const id of previous) out.set(id, { ID: id, health: UNHEALTHY });
  for (const gpu of manifest.driver ? manifest.gpus : []) {
    const nodes = gpu.edits.deviceNodes ?? [];
    const ok = nodes.length > 0 && nodes.every((n) => nodeExists(n.hostPath ?? n.path));
    out.set(gpu.uuid, { ID: gpu.uuid, health: ok ? HEALTHY : UNHEALTHY });
  }
  return [...out.values()].sort((a, b) => a.ID.localeCompare(b.ID));
}

/** One container's answer to Allocate (deviceplugin/v1beta1 ContainerAllocateResponse, wire names). */
export interface ContainerAllocation {
  envs: Record<string, string>;
  annotations: Record<string, string>;
  cdi_devices: { name: string }[];
}

/**
 * Returns the allocation of GPUs (by UUID) to one container: their CDI names in the watcher's spec
 * ("<kind>=<uuid>") as cdi_devices and, for runtimes that read only annotations, as the
 * "cdi.k8s.io/<annotationName>" annotation. Throws RequestError for an ID that is not a GPU of the
 * manifest or that `unhealthy` holds.
 */
export function planAllocation(
  manifest: Manifest,
  ids: readonly string[],
  o: { cdiKind: string; annotationName: string; unhealthy: ReadonlySet<string> },
): ContainerAllocation {
  const names: string[] = [];
  for (const id of ids) {
    const gpu = manifest.gpus.find((g) => g.uuid === id);
    if (!gpu) throw new RequestError(`allocate: device "${id.slice(0, 80)}" is not a GPU of this node (${manifest.gpus.map((g) => g.uuid).join(', ') || 'none'})`);
    if (o.unhealthy.has(id)) throw new RequestError(`allocate: GPU ${gpu.index} (${id}) is unhealthy: its device node is missing`);
    names.push(`${o.cdiKind}=${gpu.uuid}`);
  }
  return {
    envs: {},
    annotations: names.length ? { [`${CDI_ANNOTATION_PREFIX}${o.annotationName}`]: names.join(',') } : {},
    cdi_devices: names.map((name) => ({ name })),
  };
}

/**
 * Returns `size` device IDs out of `available` that include `mustInclude` and sit closest together
 * on PCI (the manifest knows bus ids, not NVLink): GPUs in PCI order, the window of `size` around
 * the required ones with the smallest bus spread; ties go to the lowest bus. IDs the manifest does
 * not know sort last. Fewer available than asked: all of them.
 */
export function preferredAllocation(manifest: Manifest, available: readonly string[], mustInclude: readonly string[], size: number): string[] {
  const rank = (id: string) => {
    const gpu = manifest.gpus.find((g) => g.uuid === id);
    return gpu ? pciKey(gpu) : Number.MAX_SAFE_INTEGER;
  };
  const ordered = [...new Set([...available, ...mustInclude])].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  if (size >= ordered.length) return ordered;
  const required = new Set(mustInclude);
  let best: string[] | null = null;
  let bestSpread = Infinity;
  for (let start = 0; start + size <= ordered.length; start++) {
    const window = ordered.slice(start, start + size);
    if (![...required].every((id) => window.includes(id))) continue;
    const spread = rank(window[window.length - 1]!) - rank(window[0]!);
    if (spread < bestSpread) [best, bestSpread] = [window, spread];
  }
  // The required ones are too far apart for one window: them, then their nearest neighbours.
  if (!best) {
    const pick = [...required];
    const centre = Math.min(...pick.map(rank));
    for (const id of [...ordered].sort((a, b) => Math.abs(rank(a) - centre) - Math.abs(rank(b) - centre))) {
      if (pick.length >= size) break;
      if (!pick.includes(id)) pick.push(id);
    }
    best = pick.sort((a, b) => rank(a) - rank(b));
  }
  return best;
}

// domain:bus:device.function as one number, so neighbours on a bus are close.
function pciKey(gpu: Gpu): number {
  const m = /^([0-9a-f]+):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/.exec(gpu.pciBusId);
  if (!m) return Number.MAX_SAFE_INTEGER - 1;
  return ((Number.parseInt(m[1]!, 16) * 256 + Number.parseInt(m[2]!, 16)) * 32 + Number.parseInt(m[3]!, 16)) * 8 + Number(m[4]);
}
