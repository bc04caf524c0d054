// The build install places: found beside the running CLI (the source tree, or a folder shipped with the bundle).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { InstallSources } from '../core/install/install-layout.js';
import { FileError, UsageError } from '../errors.js';
import { sha256File } from './install-fs.js';

/** The tree holding hooks.d/, packaging/ and build/: the nearest folder above this module that has them. */
export function findSourceTree(command: string): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (fs.existsSync(path.join(dir, 'hooks.d', 'oci-gpu.json')) && fs.existsSync(path.join(dir, 'packaging'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new UsageError(`${command}: cannot find the build to install (hooks.d/, packaging/, build/): run it from the source tree after \`npm run build\`, or pass --source DIR`);
}

/** Reads everything layoutInstall needs from a source tree; throws FileError naming the first missing file. */
export function readSources(source: string, command: string): InstallSources {
  const need = (rel: string, hint = '') => {
    const file = path.join(source, rel);
    if (!fs.existsSync(file)) throw new FileError(file, `${command}: "${file}" is missing${hint}`);
    return file;
  };
  const text = (rel: string) => fs.readFileSync(need(rel), 'utf8');
  const hookBinary = need('build/oci-gpu-hook', ': run `npm run build` first');
  const cliBundle = need('build/oci-gpu.mjs', ': run `npm run build` first');
  const hooksDir = need('hooks.d');
  const hooksD: Record<string, string> = {};
  for (const name of fs.readdirSync(hooksDir).sort()) {
    if (name.endsWith('.json')) hooksD[name] = fs.readFileSync(path.join(hooksDir, name), 'utf8');
  }
  return {
    hookBinary: { file: hookBinary, sha256: sha256File(hookBinary) },
    cliBundle: { file: cliBundle, sha256: sha256File(cliBundle) },
    hooksD,
    unit: text('packaging/systemd/oci-gpu-watch.service'),
    tmpfiles: text('packaging/tmpfiles.d/oci-gpu.conf'),
    udevRules: text('packaging/udev/71-oci-gpu.rules'),
    config: text('packaging/config.json5'),
  };
}

/** package.json's version of the source tree (0.0.0 when it has none). */
export function readVersion(source: string): string {
  try {
    const v = (JSON.parse(fs.readFileSync(path.join(source, 'package.json'), 'utf8')) as { version?: unknown }).version;
    return typeof v === 'string' ? v : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

