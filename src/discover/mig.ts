import type { HostFs } from '../adapters/host-fs.js';
import { parseCapabilityAccess, type GpuInformation } from '../core/parse/parse-proc.js';
import type { DeviceNode } from '../model/edits.js';
import { CAPABILITIES_DIR } from '../model/host-paths.js';
import type { MigDevice } from '../model/manifest.js';
import type { Warn } from './warn.js';

/** One MIG device as NVML enumerates it. */
export interface NvmlMigDevice {
  uuid: string;
  gpuInstance: number;
  computeInstance: number;
  /** NVML's name of the MIG device ("NVIDIA A100-SXM4-40GB MIG 1g.5gb"). */
  name: string;
}

/**
 * Where MIG devices' UUIDs and instance ids come from: NVML in the shipped binary
 * (adapters/nvml.ts), plain data in tests. `list` returns each GPU's MIG devices (by PCI bus id)
 * in the driver's enumeration order; it throws an Error saying why when it cannot.
 */
export interface MigSource {
  list(pciBusIds: string[]): Map<string, NvmlMigDevice[]>;
}

/**
 * Returns, per PCI bus id, the MIG devices of every GPU that has MIG instances (its
 * capabilities/gpu<minor>/mig folder lists gi<N> folders): UUID, index, instance ids and the
 * capability nodes of its GPU and compute instance. GPUs without instances are absent. When the
 * devices cannot be enumerated the GPU maps to [] and a warning says why: a partitioned GPU is
 * never handed out whole.
 */
export function discoverMig(fs: HostFs, gpus: GpuInformation[], capsMajor: number | undefined, source: MigSource | null, warn: Warn): Map<string, MigDevice[]> {
  const partitioned = gpus.filter((g) => fs.list(migDir(g)).some((e) => /^gi\d+$/.test(e)));
  const out = new Map<string, MigDevice[]>(partitioned.map((g) => [g.pciBusId, []]));
  if (!partitioned.length) return out;
  const what = partitioned.map((g) => g.pciBusId).join(', ');
  if (capsMajor === undefined) {
    warn(`GPU ${what} has MIG instances but /proc/devices lists no nvidia-caps major: its MIG devices are not offered`);
    return out;
  }
  if (!source) {
    warn(`GPU ${what} has MIG instances but there is no way to enumerate them here (NVML is used by the compiled binary): its MIG devices are not offered`);
    return out;
  }
  let listed: Map<string, NvmlMigDevice[]>;
  try {
    listed = source.list(partitioned.map((g) => g.pciBusId));
  } catch (error) {
    warn(`GPU ${what} has MIG instances but they cannot be enumerated: ${(error as Error).message}; its MIG devices are not offered`);
    return out;
  }
  for (const g of partitioned) {
    const devices: MigDevice[] = [];
    (listed.get(g.pciBusId) ?? []).forEach((d, index) => {
      const gi = capNode(fs, `${migDir(g)}/gi${d.gpuInstance}/access`, capsMajor, warn);
      const ci = capNode(fs, `${migDir(g)}/gi${d.gpuInstance}/ci${d.computeInstance}/access`, capsMajor, warn);
      if (!gi || !ci) return;
      devices.push({
        index,
        uuid: d.uuid,
        gpuInstance: d.gpuInstance,
        computeInstance: d.computeInstance,
        profile: /\bMIG\s+(\S+)\s*$/.exec(d.name)?.[1] ?? '',
        edits: { deviceNodes: [gi, ci] },
      });
    });
    out.set(g.pciBusId, devices);
  }
  return out;
}

function migDir(g: GpuInformation): string {
  return `${CAPABILITIES_DIR}/gpu${g.minor}/mig`;
}

// The node a capability's access file describes: the existing node's mode and owner when it is
// there, else the mode the driver gives (the runtime makes the node in the container either way).
function capNode(fs: HostFs, accessFile: string, major: number, warn: Warn): DeviceNode | null {
  let minor: number;
  let mode: number;
  try {
    ({ minor, mode } = parseCapabilityAccess(fs.readText(accessFile), fs.real(accessFile)));
  } catch (error) {
    warn(`${(error as Error).message}; that MIG device is not offered`);
    return null;
  }
  const path = `/dev/nvidia-caps/nvidia-cap${minor}`;
  const s = fs.stat(path);
  if (s && s.kind === 'char' && s.major === major && s.minor === minor) {
    return { path, type: 'c', major, minor, fileMode: s.mode, uid: s.uid, gid: s.gid, ...(fs.root !== '/' ? { hostPath: fs.real(path) } : {}) };
  }
  return { path, type: 'c', major, minor, fileMode: mode, uid: 0, gid: 0 };
}
