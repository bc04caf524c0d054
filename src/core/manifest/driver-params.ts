// /proc/driver/nvidia/params as containers see it.

/**
 * Returns the driver's params text with `ModifyDeviceFiles` set to 0 (added when absent), so NVML
 * in a container never tries to create or chmod device nodes; every other line is kept as it is.
 */
export function maskDriverParams(text: string): string {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  let found = false;
  const out = lines.map((line) => {
    if (!/^ModifyDeviceFiles\s*:/.test(line)) return line;
    found = true;
    return 'ModifyDeviceFiles: 0';
  });
  if (!found) out.push('ModifyDeviceFiles: 0');
  return out.join('\n') + '\n';
}

/** The masked params file of a manifest written at `manifestFile`: beside it. */
export function paramsMaskPath(manifestFile: string): string {
  return `${manifestFile.slice(0, manifestFile.lastIndexOf('/') + 1) || './'}nvidia-params`;
}

/**
 * Returns the manifest as it is written at `manifestFile`: naming the masked params file beside it
 * when the driver has params to mask, null otherwise.
 */
export function withParamsMask<M extends { driver: { maskedParams: string } | null; paramsMask: string | null }>(manifest: M, manifestFile: string): M {
  return { ...manifest, paramsMask: manifest.driver?.maskedParams ? paramsMaskPath(manifestFile) : null };
}
