import fs from 'node:fs';
import path from 'node:path';
import { resolveInRoot } from '../core/resolve-in-root.js';
import { FileError } from '../errors.js';

/**
 * Returns the real path of `containerPath` inside a container rootfs, creating missing folders
 * and (for kind "file") an empty file, without ever following a symlink out of the rootfs: every
 * link is resolved with the rootfs as `/`, and each created component is checked not to be a link.
 * Throws FileError when something in the way has the wrong type.
 */
export function prepareMountTarget(rootfs: string, containerPath: string, kind: 'file' | 'dir'): string {
  const inRoot = resolveInRoot(containerPath, (p) => readlinkOrNull(path.join(rootfs, p)));
  const parts = inRoot.split('/').filter(Boolean);
  let at = rootfs;
  for (const [i, part] of parts.entries()) {
    at = path.join(at, part);
    const last = i === parts.length - 1;
    const want = last ? kind : 'dir';
    let st = lstatOrNull(at);
    if (!st) {
      try {
        if (want === 'dir') fs.mkdirSync(at, { mode: 0o755 });
        else fs.closeSync(fs.openSync(at, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW, 0o644));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw new FileError(at, `cannot create mount target "${at}": ${(error as NodeJS.ErrnoException).code}`, { cause: error });
      }
      st = lstatOrNull(at);
    }
    if (!st || st.isSymbolicLink()) throw new FileError(at, `mount target "${at}" changed while it was prepared (a symlink appeared); refusing`);
    if (want === 'dir' ? !st.isDirectory() : st.isDirectory()) {
      throw new FileError(at, `mount target "${at}" is a ${st.isDirectory() ? 'folder' : 'file'} where a ${want === 'dir' ? 'folder' : 'file'} is needed`);
    }
  }
  return at;
}

function readlinkOrNull(p: string): string | null {
  try {
    return fs.readlinkSync(p);
  } catch {
    return null;
  }
}

function lstatOrNull(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(p);
  } catch {
    return null;
  }
}
