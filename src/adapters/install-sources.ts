// The release install places: the files built into the running binary (hooks.d/, packaging/,
// package.json are embedded by scripts/build.sh), or the source tree when the source runs on Node.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { InstallSources } from '../core/install/install-layout.js';
import { FileError } from '../errors.js';
import { sha256File } from './install-fs.js';

/** Where the compiled binary's embedded files live (Bun's in-binary file system). */
const EMBEDDED_ROOT = '/$bunfs/root';

/** True in the Bun-compiled binary: its entry module lives in the embedded file system. */
export function isCompiled(): boolean {
  return process.argv[1]?.startsWith('/$bunfs/') ?? false;
}

/** The folder holding hooks.d/, packaging/ and package.json: embedded in the binary, or the repository. */
export function releaseRoot(): string {
  // dist/src/adapters/install-sources.js → the repository root.
  return isCompiled() ? EMBEDDED_ROOT : path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
}

/** The executable install places: the running binary, or build/oci-gpu of the repository on Node. */
export function releaseBinary(command: string): string {
  if (isCompiled()) return process.execPath;
  const file = path.join(releaseRoot(), 'build/oci-gpu');
  if (!fs.existsSync(file)) throw new FileError(file, `${command}: "${file}" is missing: run \`npm run build\` first`);
  return file;
}

/** Reads everything layoutInstall needs; throws FileError naming the first missing file. */
export function readSources(command: string): InstallSources {
  const root = releaseRoot();
  const text = (rel: string) => {
    const file = path.join(root, rel);
    try {
      return fs.readFileSync(file, 'utf8');
    } catch (error) {
      throw new FileError(file, `${command}: cannot read "${file}": ${(error as NodeJS.ErrnoException).code ?? error}`, { cause: error });
    }
  };
  const hooksD: Record<string, string> = {};
  for (const name of fs.readdirSync(path.join(root, 'hooks.d')).sort()) {
    if (name.endsWith('.json')) hooksD[name] = text(path.join('hooks.d', name));
  }
  const binary = releaseBinary(command);
  return {
    binary: { file: binary, sha256: sha256File(binary) },
    hooksD,
    unit: text('packaging/systemd/oci-gpu-watch.service'),
    tmpfiles: text('packaging/tmpfiles.d/oci-gpu.conf'),
    udevRules: text('packaging/udev/71-oci-gpu.rules'),
    config: text('packaging/config.json5'),
  };
}

/** This release's version: package.json's, embedded at build time (0.0.0 when it has none). */
export function releaseVersion(): string {
  try {
    const v = (JSON.parse(fs.readFileSync(path.join(releaseRoot(), 'package.json'), 'utf8')) as { version?: unknown }).version;
    return typeof v === 'string' ? v : '0.0.0';
  } catch {
    return '0.0.0';
  }
}
