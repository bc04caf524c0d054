import fs from 'node:fs';
import path from 'node:path';
import { parseManifest, serializeManifest } from '../core/manifest/manifest-codec.js';
import { writeFileAtomic } from './atomic-write.js';
import { parseDriverVersion } from '../core/parse/parse-proc.js';
import { ManifestError, ParseError } from '../errors.js';
import type { Config } from '../model/config.js';
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

/**
 * Reads the configured manifest for a container start. On a driver mismatch with
 * hook.onDriverMismatch = "rescan", runs one inline `oci-gpu scan --output` and reads it again.
 */
export async function readManifestForStart(config: Config): Promise<Manifest> {
  try {
    return readCheckedManifest(config.manifest);
  } catch (error) {
    if (config.hook.onDriverMismatch !== 'rescan' || !(error instanceof ManifestError)) throw withRemedy(error, config.manifest);
  }
  const { runCommand } = await import('./exec.js');
  await runCommand(config.hook.scanCommand, ['scan', '--root', config.root, '--output', config.manifest], { timeoutMs: 20_000 });
  try {
    return readCheckedManifest(config.manifest);
  } catch (error) {
    throw withRemedy(error, config.manifest);
  }
}

// A container start that fails on the manifest must say what to run: the reader's messages for a
// wrong shape, a foreign schema or an unreadable file name the file but not the remedy.
function withRemedy(error: unknown, file: string): unknown {
  if (!(error instanceof ManifestError || error instanceof ParseError)) return error;
  if (/oci-gpu scan|upgrade oci-gpu/.test(error.message)) return error;
  return new ManifestError(`${error.message}: run \`oci-gpu scan --output ${file}\` or restart oci-gpu-watch (see \`oci-gpu status\`)`, { cause: error });
}

/**
 * Writes a manifest to `file` atomically, first the masked params file it names (paramsMask, see
 * withParamsMask), read-only for everyone, so a manifest never names a file that is not there.
 */
export function writeManifest(file: string, manifest: Manifest): void {
  if (manifest.paramsMask && manifest.driver?.maskedParams) writeFileAtomic(manifest.paramsMask, manifest.driver.maskedParams, 0o444);
  writeFileAtomic(file, serializeManifest(manifest));
}
