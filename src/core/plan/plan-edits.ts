import { RequestError } from '../../errors.js';
import type { ContainerEdits } from '../../model/edits.js';
import { CAPABILITIES, type Gpu, type Manifest } from '../../model/manifest.js';
import { appendEdits, dedupeEdits } from './edits.js';
import { normalizePciBusId } from '../parse/parse-proc.js';
import { shorten, type GpuRequest } from '../request/request.js';
import { checkRequirements } from '../request/requirements.js';

/** The GPUs a request gets and everything the container needs for them. */
export interface Plan {
  gpus: Gpu[];
  edits: Required<ContainerEdits>;
}

/**
 * Returns the GPUs and edits for a request: control nodes, the selected GPUs' nodes, and the
 * nodes and mounts of each requested capability. Throws RequestError when the host has no driver,
 * a selector names no GPU, or an NVIDIA_REQUIRE_* expression is unmet.
 */
export function planEdits(manifest: Manifest, request: GpuRequest): Plan {
  if (!manifest.driver) {
    throw new RequestError(`${request.source} asks for GPUs but no NVIDIA driver was loaded when the manifest was written (see \`oci-gpu status\`)`);
  }
  const gpus = selectGpus(manifest, request);
  checkRequirements(manifest, gpus, request.requirements);
  const caps = request.capabilities;
  const graphical = caps.includes('graphics') || caps.includes('display');
  const everything = CAPABILITIES.every((c) => caps.includes(c));
  const edits = appendEdits(
    { deviceNodes: manifest.controlNodes },
    ...gpus.map((g) => appendEdits(g.edits, graphical ? { deviceNodes: g.driNodes } : undefined)),
    ...caps.map((c) => manifest.capabilities[c]),
    everything ? manifest.capabilities.unclassified : undefined,
  );
  return { gpus, edits: dedupeEdits(edits) };
}

/** Returns the GPUs a request names, in request order; throws RequestError for an unknown or repeated GPU. */
export function selectGpus(manifest: Manifest, request: GpuRequest): Gpu[] {
  if (request.devices === 'all') {
    if (!manifest.gpus.length) throw new RequestError(`${request.source} asks for all GPUs but the manifest lists none (see \`oci-gpu status\`)`);
    return manifest.gpus;
  }
  const chosen: Gpu[] = [];
  for (const selector of request.devices) {
    const gpu = findGpu(manifest, selector);
    if (!gpu) {
      throw new RequestError(`${request.source} asks for GPU "${shorten(selector)}", which does not exist; this host has ${describeGpus(manifest)}`);
    }
    if (chosen.includes(gpu)) throw new RequestError(`${request.source} asks for GPU ${gpu.index} twice ("${shorten(selector)}")`);
    chosen.push(gpu);
  }
  return chosen;
}

function findGpu(manifest: Manifest, selector: string): Gpu | undefined {
  if (/^\d{1,6}$/.test(selector)) return manifest.gpus.find((g) => g.index === Number(selector));
  if (/^GPU-/i.test(selector)) return manifest.gpus.find((g) => g.uuid.toLowerCase() === selector.toLowerCase());
  const bus = normalizePciBusId(selector);
  return bus ? manifest.gpus.find((g) => g.pciBusId === bus) : undefined;
}

/** "2 GPUs: 0 (GPU-…, 0000:3b:00.0), 1 (…)" or "no GPUs". */
export function describeGpus(manifest: Manifest): string {
  if (!manifest.gpus.length) return 'no GPUs';
  const list = manifest.gpus.map((g) => `${g.index} (${g.uuid}, ${g.pciBusId})`).join(', ');
  return `${manifest.gpus.length} GPU${manifest.gpus.length > 1 ? 's' : ''}: ${list}`;
}
