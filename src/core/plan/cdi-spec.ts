import type { ContainerEdits, DeviceNode, Hook } from '../../model/edits.js';
import type { Manifest } from '../../model/manifest.js';
import { appendEdits, dedupeEdits } from './edits.js';
import { postMountHook, postMountOptions, type ContainerOptions } from './post-mount.js';
import { IMEX_CDI_CLASS } from '../request/request.js';

export const DEFAULT_CDI_KIND = 'nvidia.com/gpu';

/** A CDI spec document (container-device-interface schema). */
export interface CdiSpec {
  cdiVersion: string;
  kind: string;
  devices: { name: string; containerEdits: ContainerEdits }[];
  containerEdits: ContainerEdits;
}

/** The container settings CDI specs are written with when none are given: everything on. */
const ALL_ON: ContainerOptions = { maskDriverParams: true, cudaCompat: true };

/**
 * Returns the CDI spec for a manifest: one device per GPU named by index and by UUID — for a GPU
 * split into MIG devices, one per MIG device named "<gpu>:<mig index>" and by its MIG UUID, and
 * none for the whole GPU (as NVIDIA's toolkit does) — plus "all"; every driver file and control
 * node as shared edits; and the post-mount step (the container's ld cache; params masking and CUDA
 * forward compatibility as `container` says), which finds the rootfs from the state, as a CDI hook
 * must. The version is the lowest that expresses the content.
 */
export function buildCdiSpec(manifest: Manifest, options: { kind?: string; container?: ContainerOptions } = {}): CdiSpec {
  const kind = options.kind ?? DEFAULT_CDI_KIND;
  const perDevice = manifest.gpus.flatMap((g) =>
    g.mig === null
      ? [{ index: String(g.index), uuid: g.uuid, edits: cleanEdits(appendEdits(g.edits, { deviceNodes: g.driNodes })) }]
      : g.mig.map((m) => ({ index: `${g.index}:${m.index}`, uuid: m.uuid, edits: cleanEdits(appendEdits(g.edits, m.edits)) })),
  );
  const devices = [
    ...perDevice.map((d) => ({ name: d.index, containerEdits: d.edits })),
    ...perDevice.map((d) => ({ name: d.uuid, containerEdits: d.edits })),
  ];
  if (perDevice.length) devices.push({ name: 'all', containerEdits: cleanEdits(appendEdits(...perDevice.map((d) => d.edits))) });
  const hook = postMountHook(manifest.tools, manifest.libraryDirs, postMountOptions(manifest, options.container ?? ALL_ON));
  const hooks: Hook[] = hook ? [hook] : [];
  const shared = cleanEdits(
    appendEdits(
      { deviceNodes: manifest.controlNodes, env: ['NVIDIA_VISIBLE_DEVICES=void'] },
      ...Object.values(manifest.capabilities),
      { hooks },
    ),
  );
  const spec: CdiSpec = { cdiVersion: '', kind, devices, containerEdits: shared };
  spec.cdiVersion = minimumCdiVersion(spec);
  return spec;
}

/**
 * Returns the CDI spec of the host's IMEX channels (kind "<vendor of `gpuKind`>/imex-channel",
 * devices named by channel number, plus "all"), or null when the host has none.
 */
export function buildImexCdiSpec(manifest: Manifest, gpuKind: string = DEFAULT_CDI_KIND): CdiSpec | null {
  if (!manifest.imexChannels.length) return null;
  const kind = `${gpuKind.slice(0, gpuKind.indexOf('/'))}/${IMEX_CDI_CLASS}`;
  const devices = manifest.imexChannels.map((n) => ({ name: n.path.slice(n.path.lastIndexOf('channel') + 7), containerEdits: cleanEdits({ deviceNodes: [n] }) }));
  devices.push({ name: 'all', containerEdits: cleanEdits({ deviceNodes: manifest.imexChannels }) });
  const spec: CdiSpec = { cdiVersion: '', kind, devices, containerEdits: {} };
  spec.cdiVersion = minimumCdiVersion(spec);
  return spec;
}

/** Where the IMEX channels' spec goes: beside the GPUs' one ("oci-gpu.json" → "oci-gpu-imex-channel.json"). */
export function imexCdiPath(gpuSpecPath: string): string {
  return gpuSpecPath.replace(/(\.json)?$/, `-${IMEX_CDI_CLASS}.json`);
}

/**
 * Returns the lowest CDI version that can express a spec: 0.6.0 for a dot in the kind's class,
 * 0.5.0 for device names starting with a digit or device hostPath, 0.4.0 for mount types, else 0.3.0.
 */
export function minimumCdiVersion(spec: Omit<CdiSpec, 'cdiVersion'>): string {
  const slash = spec.kind.indexOf('/');
  if (slash >= 0 && spec.kind.slice(slash + 1).includes('.')) return '0.6.0';
  const edits = [spec.containerEdits, ...spec.devices.map((d) => d.containerEdits)];
  const nodes = edits.flatMap((e) => e.deviceNodes ?? []);
  if (spec.devices.some((d) => !/^[A-Za-z]/.test(d.name)) || nodes.some((n) => n.hostPath)) return '0.5.0';
  if (edits.some((e) => (e.mounts ?? []).some((m) => m.type))) return '0.4.0';
  return '0.3.0';
}

/** CDI edits: empty lists dropped, duplicates removed, and only the node fields CDI knows. */
export function cleanEdits(e: ContainerEdits): ContainerEdits {
  const d = dedupeEdits(e);
  const out: ContainerEdits = {};
  if (d.env.length) out.env = d.env;
  if (d.deviceNodes.length) out.deviceNodes = d.deviceNodes.map(cdiNode);
  if (d.mounts.length) out.mounts = d.mounts;
  if (d.hooks.length) out.hooks = d.hooks;
  return out;
}

function cdiNode(n: DeviceNode): DeviceNode {
  const { path, hostPath, type, major, minor, fileMode, permissions, uid, gid } = n;
  return Object.fromEntries(
    Object.entries({ path, hostPath, type, major, minor, fileMode, permissions, uid, gid }).filter(([, v]) => v !== undefined),
  ) as unknown as DeviceNode;
}
