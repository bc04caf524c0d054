import { appendEdits, dedupeEdits } from '../plan/edits.js';
import { architectureOfModel, brandOfModel } from './gpu-facts.js';
import type { GpuInformation } from '../parse/parse-proc.js';
import type { ContainerEdits, DeviceNode, Mount } from '../../model/edits.js';
import { LIBRARY_SUBDIRS } from '../../model/host-paths.js';
import {
  CAPABILITIES,
  MANIFEST_SCHEMA,
  type CapabilityKey,
  type DriverFile,
  type DriverInfo,
  type HostTools,
  type Manifest,
  type MigDevice,
} from '../../model/manifest.js';

/** Every NVIDIA device node found, grouped by what needs it. */
export interface DeviceNodes {
  /** Per GPU minor: its /dev/nvidia<minor>. */
  gpu: Map<number, DeviceNode>;
  /** Per PCI bus id: its /dev/dri card and render nodes. */
  dri: Map<string, DeviceNode[]>;
  /** /dev/nvidiactl. */
  control: DeviceNode[];
  /** /dev/nvidia-uvm and /dev/nvidia-uvm-tools (compute). */
  uvm: DeviceNode[];
  /** /dev/nvidia-modeset (display). */
  modeset: DeviceNode[];
  /** /dev/nvidia-caps/* (MIG). */
  caps: DeviceNode[];
  /** /dev/nvidia-caps-imex-channels/channel<N>, by N. */
  imex: DeviceNode[];
}

/** What discovery found, before it is shaped into a manifest. */
export interface ScanResult {
  root: string;
  generatedAt: string;
  driver: DriverInfo | null;
  gpus: GpuInformation[];
  nodes: DeviceNodes;
  /** Per PCI bus id of a MIG-partitioned GPU, its MIG devices. */
  mig: Map<string, MigDevice[]>;
  files: DriverFile[];
  tools: HostTools;
  warnings: string[];
}

/** Mount options of driver files: read-only, no setuid, no device files. */
export const RO_MOUNT = ['ro', 'nosuid', 'nodev', 'bind'];
/** Mount options of the MPS pipe folder, which clients write to. */
export const RW_MOUNT = ['rw', 'nosuid', 'nodev', 'bind'];

/**
 * Names that linkers and programs look for but ldconfig does not make (NVIDIA's toolkit makes them
 * as symlinks in the image): each becomes a read-only bind of the driver file itself at that name,
 * so nothing is written into the image. libcuda.so: anything linking -lcuda at run time (Triton).
 */
const DEV_LINKS: { file: RegExp; capability: CapabilityKey; at: (dir: string) => string }[] = [
  { file: /^libcuda\.so\.\d+\.\d+/, capability: 'compute', at: (d) => `${d}/libcuda.so` },
  { file: /^libnvidia-opticalflow\.so\.\d+\.\d+/, capability: 'video', at: (d) => `${d}/libnvidia-opticalflow.so` },
  { file: /^libGLX_nvidia\.so\.\d+\.\d+/, capability: 'graphics', at: (d) => `${d}/libGLX_indirect.so.0` },
  { file: /^libnvidia-allocator\.so\.\d+\.\d+/, capability: 'graphics', at: (d) => `${d}/gbm/nvidia-drm_gbm.so` },
];

/** Returns the manifest for a scan: GPUs indexed 0..N-1 in bus order, driver files grouped into per-capability edits. */
export function assembleManifest(scan: ScanResult): Manifest {
  const capabilities: Partial<Record<CapabilityKey, ContainerEdits>> = {};
  const add = (cap: CapabilityKey, edits: ContainerEdits) => {
    capabilities[cap] = dedupeEdits(appendEdits(capabilities[cap], edits));
  };
  const files = [...scan.files].sort((a, b) => compare(a.containerPath, b.containerPath));
  for (const f of files) add(f.capability, { mounts: [mountOf(f)] });
  // After every real file, so a real file of that name wins (dedupe keeps the first mount of a path).
  for (const f of files) {
    if (f.kind !== 'library') continue;
    const name = f.containerPath.slice(f.containerPath.lastIndexOf('/') + 1);
    for (const link of DEV_LINKS.filter((l) => l.file.test(name))) {
      add(f.capability === 'compat32' ? 'compat32' : link.capability, { mounts: [{ hostPath: f.hostPath, containerPath: link.at(dirname(f.containerPath)), options: RO_MOUNT }] });
    }
  }
  if (scan.nodes.uvm.length) add('compute', { deviceNodes: scan.nodes.uvm });
  if (scan.nodes.modeset.length) add('display', { deviceNodes: scan.nodes.modeset });
  const ordered: Partial<Record<CapabilityKey, ContainerEdits>> = {};
  for (const cap of [...CAPABILITIES, 'unclassified'] as CapabilityKey[]) if (capabilities[cap]) ordered[cap] = capabilities[cap];
  const libraryDirs = [...new Set(files.filter((f) => f.kind === 'library').map((f) => dirname(f.containerPath)))]
    .filter((d) => !LIBRARY_SUBDIRS.some((sub) => d.endsWith(`/${sub}`)))
    .sort(compare);
  return {
    schema: MANIFEST_SCHEMA,
    generatedAt: scan.generatedAt,
    root: scan.root,
    driver: scan.driver,
    gpus: scan.gpus.map((g, index) => {
      const node = scan.nodes.gpu.get(g.minor);
      return {
        index,
        uuid: g.uuid,
        pciBusId: g.pciBusId,
        model: g.model,
        minor: g.minor,
        brand: brandOfModel(g.model),
        architecture: architectureOfModel(g.model),
        edits: { deviceNodes: node ? [node] : [] },
        driNodes: scan.nodes.dri.get(g.pciBusId) ?? [],
        mig: scan.mig.get(g.pciBusId) ?? null,
      };
    }),
    controlNodes: scan.nodes.control,
    capNodes: scan.nodes.caps,
    imexChannels: scan.nodes.imex,
    paramsMask: null,
    capabilities: ordered,
    files,
    libraryDirs,
    tools: scan.tools,
    warnings: scan.warnings,
  };
}

function mountOf(f: DriverFile): Mount {
  return { hostPath: f.hostPath, containerPath: f.containerPath, options: f.kind === 'ipc-dir' ? RW_MOUNT : RO_MOUNT };
}

function dirname(p: string): string {
  return p.slice(0, p.lastIndexOf('/')) || '/';
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
