import type { HostFs } from '../adapters/host-fs.js';
import { parseProcDevices, type GpuInformation } from '../core/parse/parse-proc.js';
import type { DeviceNodes } from '../core/manifest/assemble-manifest.js';
import type { DeviceNode } from '../model/edits.js';
import { IMEX_CHANNELS_DIR } from '../model/host-paths.js';
import type { Warn } from './warn.js';

/** The major of the main NVIDIA character device: fixed by the driver. */
export const NVIDIA_MAJOR = 195;

/**
 * Returns the NVIDIA device nodes of the host. Types, numbers and modes are read from the nodes
 * themselves; majors are checked against /proc/devices, and a node whose major disagrees (a stale
 * node of an unloaded module) is warned about and left out.
 */
export function discoverDeviceNodes(fs: HostFs, gpus: GpuInformation[], majors: Map<string, number>, warn: Warn): DeviceNodes {
  const nvidia = majors.get('nvidia') ?? majors.get('nvidia-frontend') ?? NVIDIA_MAJOR;
  const node = (path: string, major: number | undefined, required: boolean): DeviceNode | null => {
    const s = fs.stat(path);
    if (!s) {
      if (required) warn(`missing device node "${fs.real(path)}"`);
      return null;
    }
    if (s.kind !== 'char') {
      warn(`"${fs.real(path)}" is not a character device (${s.kind}); ignored`);
      return null;
    }
    if (major !== undefined && s.major !== major) {
      warn(`"${fs.real(path)}" has major ${s.major} but /proc/devices says ${major}; ignored`);
      return null;
    }
    const found: DeviceNode = { path, type: 'c', major: s.major, minor: s.minor, fileMode: s.mode, uid: s.uid, gid: s.gid };
    if (fs.root !== '/') found.hostPath = fs.real(path);
    return found;
  };
  const present = <T>(xs: (T | null)[]) => xs.filter((x): x is T => x !== null);

  const gpu = new Map<number, DeviceNode>();
  const dri = new Map<string, DeviceNode[]>();
  for (const g of gpus) {
    const n = node(`/dev/nvidia${g.minor}`, nvidia, true);
    if (n) gpu.set(g.minor, n);
    const drm = fs.list(`/sys/bus/pci/devices/${g.pciBusId}/drm`).filter((e) => /^(card|renderD)\d+$/.test(e));
    dri.set(g.pciBusId, present(drm.map((e) => node(`/dev/dri/${e}`, majors.get('drm'), true))));
  }
  const uvmMajor = majors.get('nvidia-uvm');
  const capsMajor = majors.get('nvidia-caps');
  return {
    gpu,
    dri,
    control: present([node('/dev/nvidiactl', nvidia, gpus.length > 0)]),
    // The uvm module is loaded on demand and its nodes are made by nvidia-modprobe, not devtmpfs.
    uvm: present([node('/dev/nvidia-uvm', uvmMajor, uvmMajor !== undefined), node('/dev/nvidia-uvm-tools', uvmMajor, false)]),
    modeset: present([node('/dev/nvidia-modeset', nvidia, false)]),
    caps: present(
      fs.list('/dev/nvidia-caps').filter((e) => /^nvidia-cap\d+$/.test(e)).map((e) => node(`/dev/nvidia-caps/${e}`, capsMajor, false)),
    ),
    imex: present(
      fs
        .list(IMEX_CHANNELS_DIR)
        .filter((e) => /^channel\d{1,7}$/.test(e))
        .sort((a, b) => Number(a.slice(7)) - Number(b.slice(7)))
        .map((e) => node(`${IMEX_CHANNELS_DIR}/${e}`, majors.get('nvidia-caps-imex-channels'), false)),
    ),
  };
}

/** Returns the character majors of /proc/devices by driver name (the first of each name); a warning and none when unreadable. */
export function readDeviceMajors(fs: HostFs, warn: Warn): Map<string, number> {
  const majors = new Map<string, number>();
  try {
    for (const d of parseProcDevices(fs.readText('/proc/devices')).character) if (!majors.has(d.name)) majors.set(d.name, d.major);
  } catch (error) {
    warn(`${(error as Error).message}; majors not cross-checked`);
  }
  return majors;
}
