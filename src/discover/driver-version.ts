import type { HostFs } from '../adapters/host-fs.js';
import { parseDriverVersion } from '../core/parse/parse-proc.js';
import { cudaVersionForDriver } from '../core/manifest/gpu-facts.js';
import { DRIVER_VERSION_FILES } from '../model/host-paths.js';
import type { DriverInfo } from '../model/manifest.js';
import type { Warn } from './warn.js';


/** Returns the loaded driver's version, or null when no NVIDIA kernel module is loaded. */
export function discoverDriver(fs: HostFs, warn: Warn): DriverInfo | null {
  for (const file of DRIVER_VERSION_FILES) {
    if (!fs.stat(file)) continue;
    try {
      const version = parseDriverVersion(fs.readText(file), fs.real(file));
      return { version, cudaVersion: cudaVersionForDriver(version), source: fs.real(file) };
    } catch (error) {
      warn((error as Error).message);
    }
  }
  return null;
}
