import fs from 'node:fs';
import path from 'node:path';
import { parseManifest } from '../core/manifest-codec.js';
import { parseDriverVersion } from '../core/parse-proc.js';
import { ManifestError } from '../errors.js';
import { DRIVER_VERSION_FILES } from '../model/host-paths.js';
import type { Manifest } from '../model/manifest.js';

/**
 * Reads the manifest and checks it against the driver loaded now (`/sys/module/nvidia/version`
 * under the manifest's root). Throws ManifestError naming the file and what to run when it is
 * missing, unparsable, of another schema, or of another driver.
 */
export function readCheckedManifest(file: string): Manifest {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ManifestError(
      code === 'ENOENT'
        ? `manifest "${file}" does not exist: is oci-gpu-watch running? (\`oci-gpu status\`, or \`oci-gpu scan --output ${file}\`)`
        : `cannot read manifest "${file}": ${code ?? 'error'}`,
      { cause: error },
    );
  }
  const manifest = parseManifest(text, file);
  const loaded = loadedDriverVersion(manifest.root);
  const written = manifest.driver?.version ?? null;
  if (loaded !== written) {
    throw new ManifestError(
      `manifest "${file}" was written for ${written ? `driver ${written}` : 'no driver'} but ${loaded ? `driver ${loaded} is` : 'no driver is'} loaded now: ` +
        `wait for oci-gpu-watch to rescan, or run \`oci-gpu scan --output ${file}\` (see \`oci-gpu status\`)`,
    );
  }
  return manifest;
}

/** Returns the version of the loaded nvidia module under `root`, or null when none is loaded. */
export function loadedDriverVersion(root: string): string | null {
  for (const file of DRIVER_VERSION_FILES) {
    const real = path.join(root, file);
    let text: string;
    try {
      text = fs.readFileSync(real, 'utf8');
    } catch {
      continue;
    }
    return parseDriverVersion(text, real);
  }
  return null;
}

