import { readCheckedManifest } from '../adapters/manifest-file.js';
import { ManifestError, ParseError } from '../errors.js';
import type { Config } from '../model/config.js';
import type { Manifest } from '../model/manifest.js';

/**
 * Reads the configured manifest for a container start. On a driver mismatch with
 * hook.onDriverMismatch = "rescan", runs one inline `oci-gpu scan --output` and reads it again.
 */
export async function readManifestForHook(config: Config): Promise<Manifest> {
  try {
    return readCheckedManifest(config.manifest);
  } catch (error) {
    if (config.hook.onDriverMismatch !== 'rescan' || !(error instanceof ManifestError)) throw withRemedy(error, config.manifest);
  }
  const { runCommand } = await import('../adapters/exec.js');
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
