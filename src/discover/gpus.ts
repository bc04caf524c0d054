import type { HostFs } from '../adapters/host-fs.js';
import { parseGpuInformation, type GpuInformation } from '../core/parse/parse-proc.js';
import { GPUS_DIR } from '../model/host-paths.js';
import type { Warn } from './warn.js';


/** Returns every GPU the driver lists, ordered by PCI bus id; unreadable entries are warned about and skipped. */
export function discoverGpus(fs: HostFs, warn: Warn): GpuInformation[] {
  const found = new Map<string, GpuInformation>();
  for (const bus of fs.list(GPUS_DIR)) {
    const file = `${GPUS_DIR}/${bus}/information`;
    try {
      const info = parseGpuInformation(fs.readText(file), fs.real(file));
      if (!found.has(info.pciBusId)) found.set(info.pciBusId, info);
    } catch (error) {
      warn((error as Error).message);
    }
  }
  return [...found.values()].sort((a, b) => (a.pciBusId < b.pciBusId ? -1 : a.pciBusId > b.pciBusId ? 1 : 0));
}
