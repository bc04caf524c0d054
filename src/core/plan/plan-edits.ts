import { RequestError } from '../../errors.js';
import type { ContainerEdits, DeviceNode } from '../../model/edits.js';
import { CAPABILITIES, type Gpu, type Manifest, type MigDevice } from '../../model/manifest.js';
import { appendEdits, dedupeEdits } from './edits.js';
import { normalizePciBusId } from '../parse/parse-proc.js';
import { shorten, type GpuRequest } from '../request/request.js';
import { checkRequirements } from '../request/requirements.js';

/** One device a container gets: a whole GPU, or one MIG device of a partitioned GPU. */
export interface Selected {
  gpu: Gpu;
  mig: MigDevice | null;
}

/** The devices a request gets and everything the container needs for them. */
export interface Plan {
  /** The GPUs involved (a MIG device's parent once), in request order. */
  gpus: Gpu[];
  devices: Selected[];
  edits: Required<ContainerEdits>;
}

/**
 * Returns the devices and edits for a request: control nodes, the selected GPUs' nodes (a MIG
 * device: its parent GPU's node and the capability nodes of its GPU and compute instance), the
 * IMEX channels asked for, and the nodes and mounts of each requested capability. Throws
 * RequestError when the host has no driver, a selector names no device (or a whole GPU that is
 * split into MIG devices), an IMEX channel does not exist, or an NVIDIA_REQUIRE_* is unmet.
 */
export function planEdits(manifest: Manifest, request: GpuRequest): Plan {
  if (!manifest.driver) {
    throw new RequestError(`${request.source} asks for GPUs but no NVIDIA driver was loaded when the manifest was written (see \`oci-gpu status\`)`);
  }
  const devices = selectDevices(manifest, request);
  const gpus = [...new Set(devices.map((d) => d.gpu))];
  checkRequirements(manifest, gpus, request.requirements);
  const caps = request.capabilities;
  const graphical = caps.includes('graphics') || caps.includes('display');
  const everything = CAPABILITIES.every((c) => caps.includes(c));
  const edits = appendEdits(
    { deviceNodes: manifest.controlNodes },
    ...devices.map(({ gpu, mig }) => (mig ? appendEdits(gpu.edits, mig.edits) : appendEdits(gpu.edits, graphical ? { deviceNodes: gpu.driNodes } : undefined))),
    { deviceNodes: selectImexChannels(manifest, request) },
    ...caps.map((c) => manifest.capabilities[c]),
    everything ? manifest.capabilities.unclassified : undefined,
  );
  return { gpus, devices, edits: dedupeEdits(edits) };
}

/** Returns the devices a request names, in request order; throws RequestError for an unknown, malformed or repeated one. */
export function selectDevices(manifest: Manifest, request: GpuRequest): Selected[] {
  if (request.devices === 'all') {
    const all = manifest.gpus.flatMap((gpu): Selected[] => (gpu.mig === null ? [{ gpu, mig: null }] : gpu.mig.map((mig) => ({ gpu, mig }))));
    if (!all.length) throw new RequestError(`${request.source} asks for all GPUs but the manifest lists none (see \`oci-gpu status\`)`);
    return all;
  }
  const chosen: Selected[] = [];
  for (const selector of request.devices) {
    const device = findDevice(manifest, selector, request.source);
    if (chosen.some((c) => c.gpu === device.gpu && c.mig === device.mig)) {
      throw new RequestError(`${request.source} asks for ${device.mig ? `MIG device ${device.gpu.index}:${device.mig.index}` : `GPU ${device.gpu.index}`} twice ("${shorten(selector)}")`);
    }
    chosen.push(device);
  }
  return chosen;
}

function findDevice(manifest: Manifest, selector: string, source: string): Selected {
  const pair = /^(\d{1,6}):(\d{1,6})$/.exec(selector);
  if (pair) {
    const gpu = manifest.gpus.find((g) => g.index === Number(pair[1]));
    if (!gpu) throw new RequestError(`${source} asks for MIG device "${selector}" of GPU ${pair[1]}, which does not exist; this host has ${describeGpus(manifest)}`);
    if (gpu.mig === null) throw new RequestError(`${source} asks for MIG device "${selector}" but GPU ${gpu.index} is not in MIG mode: ask for it as ${gpu.index}`);
    const mig = gpu.mig.find((m) => m.index === Number(pair[2]));
    if (!mig) throw new RequestError(`${source} asks for MIG device "${selector}", which does not exist; GPU ${gpu.index} has ${describeMig(gpu)}`);
    return { gpu, mig };
  }
  if (/^\d{1,6}:/.test(selector) && !normalizePciBusId(selector)) {
    throw new RequestError(`${source}: "${shorten(selector)}" is not a MIG device: use <GPU index>:<MIG index>, like 0:1`);
  }
  if (/^MIG-/i.test(selector)) {
    for (const gpu of manifest.gpus) {
      const mig = gpu.mig?.find((m) => m.uuid.toLowerCase() === selector.toLowerCase());
      if (mig) return { gpu, mig };
    }
    const all = manifest.gpus.filter((g) => g.mig?.length);
    throw new RequestError(
      `${source} asks for MIG device "${shorten(selector)}", which does not exist; ${all.length ? `this host has ${all.map((g) => `GPU ${g.index}: ${describeMig(g)}`).join('; ')}` : 'this host has no MIG devices'}`,
    );
  }
  const gpu = findGpu(manifest, selector);
  if (!gpu) throw new RequestError(`${source} asks for GPU "${shorten(selector)}", which does not exist; this host has ${describeGpus(manifest)}`);
  if (gpu.mig !== null) {
    throw new RequestError(`${source} asks for GPU ${gpu.index} ("${shorten(selector)}") whole, but it is split into MIG devices: ask for one of them; GPU ${gpu.index} has ${describeMig(gpu)}`);
  }
  return { gpu, mig: null };
}

function findGpu(manifest: Manifest, selector: string): Gpu | undefined {
  if (/^\d{1,6}$/.test(selector)) return manifest.gpus.find((g) => g.index === Number(selector));
  if (/^GPU-/i.test(selector)) return manifest.gpus.find((g) => g.uuid.toLowerCase() === selector.toLowerCase());
  const bus = normalizePciBusId(selector);
  return bus ? manifest.gpus.find((g) => g.pciBusId === bus) : undefined;
}

function selectImexChannels(manifest: Manifest, request: GpuRequest): DeviceNode[] {
  if (request.imexChannels === 'all') return manifest.imexChannels;
  return request.imexChannels.map((n) => {
    const node = manifest.imexChannels.find((c) => c.path === `/dev/nvidia-caps-imex-channels/channel${n}`);
    if (!node) throw new RequestError(`${request.imexSource} asks for IMEX channel ${n}, which does not exist; this host has ${describeImex(manifest)}`);
    return node;
  });
}

/** "2 GPUs: 0 (GPU-…, 0000:3b:00.0), 1 (…)" or "no GPUs"; a GPU split into MIG devices lists them. */
export function describeGpus(manifest: Manifest): string {
  if (!manifest.gpus.length) return 'no GPUs';
  const list = manifest.gpus.map((g) => `${g.index} (${g.uuid}, ${g.pciBusId}${g.mig ? `, MIG: ${describeMig(g)}` : ''})`).join(', ');
  return `${manifest.gpus.length} GPU${manifest.gpus.length > 1 ? 's' : ''}: ${list}`;
}

/** "MIG devices 0:0 (MIG-…, 1g.10gb), 0:1 (…)" or "no MIG devices ready". */
export function describeMig(gpu: Gpu): string {
  if (!gpu.mig?.length) return 'no MIG devices ready (see `oci-gpu status`)';
  return `MIG devices ${gpu.mig.map((m) => `${gpu.index}:${m.index} (${m.uuid}${m.profile ? `, ${m.profile}` : ''})`).join(', ')}`;
}

function describeImex(manifest: Manifest): string {
  const n = manifest.imexChannels.map((c) => c.path.slice(c.path.lastIndexOf('channel') + 7));
  return n.length ? `${n.length} IMEX channel${n.length > 1 ? 's' : ''}: ${n.join(', ')}` : 'no IMEX channels';
}
