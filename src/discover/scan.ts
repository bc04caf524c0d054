import type { HostFs } from '../adapters/host-fs.js';
import { assembleManifest } from '../core/manifest/assemble-manifest.js';
import type { Manifest } from '../model/manifest.js';
import { nvmlMigSource } from '../adapters/nvml.js';
import { discoverDeviceNodes, readDeviceMajors } from './device-nodes.js';
import { discoverDriver } from './driver-version.js';
import { discoverBinaries, discoverConfigFiles, discoverFirmware, discoverIpc, driverRoots } from './driver-files.js';
import { discoverGpus } from './gpus.js';
import { discoverHostTools } from './host-tools.js';
import { discoverLibraries } from './libraries.js';
import { discoverMig, type MigSource } from './mig.js';

export interface ScanOptions {
  /**
   * Where MIG devices are enumerated when a GPU has MIG instances: by default NVML, loaded from the
   * driver's own libnvidia-ml.so.<version> found by the scan (through FFI in the compiled binary).
   */
  mig?: (nvmlLibrary: string | null) => MigSource | null;
}

const nvmlByDefault = (library: string | null) => (library ? nvmlMigSource(library) : null);

/**
 * Scans a host (through its rooted HostFs) and returns the manifest. Missing or unreadable files
 * become warnings in the manifest; a host without a loaded driver gives an empty manifest; a
 * corrupt ld.so.cache throws ParseError.
 */
export function scanHost(fs: HostFs, now: Date = new Date(), options: ScanOptions = {}): Manifest {
  const warnings: string[] = [];
  const warn = (m: string) => warnings.push(m);
  const driver = discoverDriver(fs, warn);
  const tools = discoverHostTools(fs, warn);
  const empty = { gpu: new Map(), dri: new Map(), control: [], uvm: [], modeset: [], caps: [], imex: [] };
  if (!driver) {
    return assembleManifest({ root: fs.root, generatedAt: now.toISOString(), driver, gpus: [], nodes: empty, mig: new Map(), files: [], tools, warnings });
  }
  const gpus = discoverGpus(fs, warn);
  const majors = readDeviceMajors(fs, warn);
  const nodes = discoverDeviceNodes(fs, gpus, majors, warn);
  const libraries = discoverLibraries(fs, driver.version, warn);
  const nvml = libraries.find((f) => f.capability === 'utility' && /\/libnvidia-ml\.so\.\d+\.\d+/.test(f.containerPath));
  const mig = discoverMig(fs, gpus, majors.get('nvidia-caps'), (options.mig ?? nvmlByDefault)(nvml?.hostPath ?? null), warn);
  const roots = driverRoots(libraries);
  const files = [
    ...libraries,
    ...discoverBinaries(fs, roots),
    ...discoverFirmware(fs, driver.version, roots),
    ...discoverIpc(fs),
    ...discoverConfigFiles(fs, roots),
  ];
  return assembleManifest({ root: fs.root, generatedAt: now.toISOString(), driver, gpus, nodes, mig, files, tools, warnings });
}
