import type { HostFs } from '../adapters/host-fs.js';
import { parseDriverVersion } from '../core/parse/parse-proc.js';
import { maskDriverParams } from '../core/manifest/driver-params.js';
import { cudaVersionForDriver } from '../core/manifest/gpu-facts.js';
import { DRIVER_PARAMS, DRIVER_VERSION_FILES } from '../model/host-paths.js';
import type { DriverInfo } from '../model/manifest.js';
import type { Warn } from './warn.js';


/**
 * Returns the loaded driver's version and its params as containers should see them, or null when
 * no NVIDIA kernel module is loaded. Unreadable params are a warning (maskedParams "").
 */
export function discoverDriver(fs: HostFs, warn: Warn): DriverInfo | null {
  for (const file of DRIVER_VERSION_FILES) {
    if (!fs.stat(file)) continue;
    try {
      const version = parseDriverVersion(fs.readText(file), fs.real(file));
      return { version, cudaVersion: cudaVersionForDriver(version), source: fs.real(file), maskedParams: readMaskedParams(fs, warn) };
    } catch (error) {
      warn((error as Error).message);
    }
  }
  return null;
}

function readMaskedParams(fs: HostFs, warn: Warn): string {
  if (!fs.stat(DRIVER_PARAMS)) return '';
  try {
    return maskDriverParams(fs.readText(DRIVER_PARAMS));
  } catch (error) {
    warn(`${(error as Error).message}: containers see the driver's own params`);
    return '';
  }
}
