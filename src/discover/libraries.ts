import path from 'node:path/posix';
import type { HostFs } from '../adapters/host-fs.js';
import { classifyLibrary, hasDriverVersion } from '../core/manifest/classify.js';
import { parseLdCache } from '../core/parse/parse-ld-cache.js';
import { LD_CACHE, LIBRARY_SUBDIRS } from '../model/host-paths.js';
import type { DriverFile } from '../model/manifest.js';
import type { Warn } from './warn.js';


/** Driver files whose names carry no version, taken only from a folder that holds the running driver's libraries. */
const UNVERSIONED = new Set(['nvidia_drv.so']);

/**
 * Returns the driver's libraries: every file of the running driver version that the host's
 * ld.so.cache points at (through its symlinks), plus same-version files beside them, each
 * classified by capability. A missing cache is a warning; a corrupt one throws ParseError.
 */
export function discoverLibraries(fs: HostFs, version: string, warn: Warn): DriverFile[] {
  if (!fs.stat(LD_CACHE)) {
    warn(`missing "${fs.real(LD_CACHE)}": no driver libraries found`);
    return [];
  }
  let data: Uint8Array;
  try {
    data = fs.readBytes(LD_CACHE);
  } catch (error) {
    warn(`${(error as Error).message}: no driver libraries found`);
    return [];
  }
  const entries = parseLdCache(data, fs.real(LD_CACHE));
  const files = new Map<string, DriverFile>();
  const dirs = new Map<string, boolean>();
  const add = (hostPath: string, is32bit: boolean) => {
    if (files.has(hostPath)) return;
    const file = path.basename(hostPath);
    if (!hasDriverVersion(file, version) && !UNVERSIONED.has(file)) return;
    const s = fs.stat(hostPath);
    if (!s || s.kind !== 'file') return;
    files.set(hostPath, {
      capability: classifyLibrary(file, is32bit),
      kind: 'library',
      hostPath: fs.real(hostPath),
      containerPath: hostPath,
    });
    dirs.set(path.dirname(hostPath), is32bit);
  };
  for (const e of entries) {
    const is32bit = e.arch === 'i386';
    const target = fs.resolve(e.path);
    if (hasDriverVersion(path.basename(target), version)) add(target, is32bit);
  }
  for (const [dir, is32bit] of [...dirs]) {
    for (const sub of ['', ...LIBRARY_SUBDIRS]) {
      const d = sub ? `${dir}/${sub}` : dir;
      for (const name of fs.list(d)) if (hasDriverVersion(name, version) || UNVERSIONED.has(name)) add(fs.resolve(`${d}/${name}`), is32bit);
    }
  }
  return [...files.values()].sort((a, b) => (a.containerPath < b.containerPath ? -1 : 1));
}
