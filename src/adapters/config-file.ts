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
