import path from 'node:path';
import { DEFAULT_CONFIG_PATH, defaultConfig, parseConfig } from '../core/config.js';
import { FileError } from '../errors.js';
import type { Config } from '../model/config.js';
import { readFileIfExists } from './atomic-write.js';

/**
 * Reads the configuration: the file given (which must exist), else the default file if present,
 * else defaults; then the `--root` / `--manifest` overrides. Throws FileError or ParseError.
 */
export function loadConfig(options: { config?: string; root?: string; manifest?: string }): Config {
  const file = options.config ?? DEFAULT_CONFIG_PATH;
  const text = readFileIfExists(file);
  if (text === null && options.config !== undefined) throw new FileError(file, `config file "${file}" does not exist`);
  const base = text === null ? defaultConfig() : parseConfig(text, file);
  return Object.freeze({
    ...base,
    ...(options.root !== undefined ? { root: path.resolve(options.root) } : {}),
    ...(options.manifest !== undefined ? { manifest: path.resolve(options.manifest) } : {}),
  });
}

/**
 * Where a refused start is recorded (the refusal log beside the manifest, and syslog): from the
 * loaded configuration, or, when loading it is what failed, from --manifest and the defaults.
 */
export function refusalPlaces(config: Config | undefined, manifestFlag: string | undefined): { manifest: string; syslog: string } {
  return {
    manifest: config?.manifest ?? (manifestFlag ? path.resolve(manifestFlag) : defaultConfig().manifest),
    syslog: config?.log.syslog ?? defaultConfig().log.syslog,
  };
}
