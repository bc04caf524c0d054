import type { HostFs } from '../adapters/host-fs.js';
import { assembleManifest } from '../core/manifest/assemble-manifest.js';
import type { Manifest } from '../model/manifest.js';
import { discoverDeviceNodes } from './device-nodes.js';
import { discoverDriver } from './driver-version.js';
import { discoverBinaries, discoverConfigFiles, discoverFirmware, discoverIpc, driverRoots } from './driver-files.js';
import { discoverGpus } from './gpus.js';
import { discoverHostTools } from './host-tools.js';
import { discoverLibraries } from './libraries.js';

/**
 * Scans a host (through its rooted HostFs) and returns the manifest. Missing or unreadable files
 * become warnings in the manifest; a host without a loaded driver gives an empty manifest; a
 * corrupt ld.so.cache throws ParseError.
 */
export function scanHost(fs: HostFs, now: Date = new Date()): Manifest {
  const warnings: string[] = [];
  const warn = (m: string) => warnings.push(m);
  const driver = discoverDriver(fs, warn);
  const tools = discoverHostTools(fs, warn);
  const empty = { gpu: new Map(), dri: new Map(), control: [], uvm: [], modeset: [], caps: [] };
  if (!driver) {
    return assembleManifest({ root: fs.root, generatedAt: now.toISOString(), driver, gpus: [], nodes: empty, files: [], tools, warnings });
  }
  const gpus = discoverGpus(fs, warn);
  const nodes = discoverDeviceNodes(fs, gpus, warn);
  const libraries = discoverLibraries(fs, driver.version, warn);
  const roots = driverRoots(libraries);
  const files = [
    ...libraries,
    ...discoverBinaries(fs, roots),
    ...discoverFirmware(fs, driver.version, roots),
    ...discoverIpc(fs),
    ...discoverConfigFiles(fs, roots),
  ];
  return assembleManifest({ root: fs.root, generatedAt: now.toISOString(), driver, gpus, nodes, files, tools, warnings });
}
