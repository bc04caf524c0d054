import type { ContainerEdits, DeviceNode, Hook } from '../../model/edits.js';
import type { Manifest } from '../../model/manifest.js';
import { appendEdits, dedupeEdits } from './edits.js';
import { postMountHook } from './post-mount.js';

export const DEFAULT_CDI_KIND = 'nvidia.com/gpu';

/** A CDI spec document (container-device-interface schema). */
export interface CdiSpec {
  cdiVersion: string;
  kind: string;
  devices: { name: string; containerEdits: ContainerEdits }[];
  containerEdits: ContainerEdits;
}

/**
 * Returns the CDI spec for a manifest: one device per GPU named by index and by UUID, plus "all";
 * every driver file and control node as shared edits; and the post-mount step that refreshes
 * the container's ld cache (it finds the rootfs from the state, as a CDI hook must). The version
 * is the lowest that expresses the content.
 */
export function buildCdiSpec(manifest: Manifest, options: { kind?: string } = {}): CdiSpec {
  const kind = options.kind ?? DEFAULT_CDI_KIND;
  const perGpu = manifest.gpus.map((g) => ({ gpu: g, edits: cleanEdits(appendEdits(g.edits, { deviceNodes: g.driNodes })) }));
  const devices = [
    ...perGpu.map(({ gpu, edits }) => ({ name: String(gpu.index), containerEdits: edits })),
    ...perGpu.map(({ gpu, edits }) => ({ name: gpu.uuid, containerEdits: edits })),
  ];
  if (perGpu.length) devices.push({ name: 'all', containerEdits: cleanEdits(appendEdits(...perGpu.map((p) => p.edits))) });
  const hook = postMountHook(manifest.tools, manifest.libraryDirs);
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
