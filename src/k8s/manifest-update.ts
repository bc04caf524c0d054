import { parseManifest } from '../core/manifest/manifest-codec.js';
import { formatError } from '../errors.js';
import type { Logger } from '../model/logger.js';
import type { Manifest } from '../model/manifest.js';

/**
 * Returns the manifest a plugin's watch delivered (`text` of `file`), or null when it is missing
 * or does not parse: the line says so and the plugin keeps serving its last one.
 */
export function manifestUpdate(text: string | null, file: string, log: Logger): Manifest | null {
  if (text === null) {
    log.warn(`manifest "${file}" is missing: is the watcher running? keeping the last one`);
    return null;
  }
  let manifest: Manifest;
  try {
    manifest = parseManifest(text, file);
  } catch (error) {
    log.error(`keeping the last manifest: ${formatError(error)}`);
    return null;
  }
  log.info(`manifest: ${manifest.gpus.length} GPU(s), driver ${manifest.driver?.version ?? 'none'}`);
  return manifest;
}
