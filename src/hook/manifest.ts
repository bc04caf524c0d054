import { readCheckedManifest } from '../adapters/manifest-file.js';
import { ManifestError } from '../errors.js';
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
    if (config.hook.onDriverMismatch !== 'rescan' || !(error instanceof ManifestError)) throw error;
    const { runCommand } = await import('../adapters/exec.js');
    await runCommand(config.hook.scanCommand, ['scan', '--root', config.root, '--output', config.manifest], { timeoutMs: 20_000 });
    return readCheckedManifest(config.manifest);
  }
}
