import fs from 'node:fs';
import path from 'node:path';
import { FileError } from '../errors.js';

const MAX_LINKS = 40;
const DIR_FLAGS = fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW;

/** A mount target or device node made inside a rootfs: its folder held open, and its name in that folder. */
export interface RootfsTarget {
  /** The path as resolved (the rootfs path joined with the in-root path), for messages. */
  path: string;
  /** An open descriptor of the folder that holds `name`; the caller closes it. */
  dirFd: number;
  /** The last component, looked up in `dirFd` only. */
  name: string;
}

/**
 * Returns the folder (held open) and name of `containerPath` inside a container rootfs, creating
 * missing folders and, for kind "file", an empty file; kind "node" creates nothing at the last
 * component. Every symlink is resolved with the rootfs as `/`, and every step is taken from the
 * open descriptor of the folder before it (`/proc/self/fd/N/<name>`, O_NOFOLLOW), never by
 * walking the path again: a folder swapped for a symlink while this runs cannot redirect a
 * creation out of the rootfs. Throws FileError when something in the way has the wrong type or
 * changed under it.
 */
export function openTargetInRoot(rootfs: string, containerPath: string, kind: 'file' | 'dir' | 'node'): RootfsTarget {
  const rootFd = openDir(rootfs, `"${rootfs}"`);
  const held: { fd: number; name: string }[] = [];
  const top = () => held.at(-1)?.fd ?? rootFd;
  const shown = (name?: string) => path.join(rootfs, ...held.map((h) => h.name), name ?? '');
  // For messages: the path inside the container, and what was asked for when a link led elsewhere.
  const inRoot = (name: string) => {
    const p = '/' + [...held.map((h) => h.name), name].join('/');
    return p === containerPath ? `"${p}"` : `"${p}" (for "${containerPath}")`;
  };
  const closeAll = () => {
    for (const h of held.splice(0)) fs.closeSync(h.fd);
  };
  let pending = split(containerPath);
  let links = 0;
  try {
    while (pending.length > 0) {
      const part = pending.shift()!;
      if (part === '..') {
        const up = held.pop();
        if (up) fs.closeSync(up.fd);
        continue;
      }
      const at = `/proc/self/fd/${top()}/${part}`;
      let st = lstatOrNull(at);
      if (st?.isSymbolicLink()) {
        if (++links > MAX_LINKS) throw new FileError(shown(part), `mount target "${containerPath}": too many levels of symbolic links in the container rootfs`);
        const target = readlinkOrChanged(at, inRoot(part));
        if (target.startsWith('/')) closeAll();
        pending = [...split(target), ...pending];
        continue;
      }
      const last = pending.length === 0;
      const want = last ? kind : 'dir';
      if (want === 'node') return done(part);
      if (!st) {
        try {
          if (want === 'dir') fs.mkdirSync(at, { mode: 0o755 });
          else fs.closeSync(fs.openSync(at, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW, 0o644));
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code !== 'EEXIST') throw new FileError(shown(part), `cannot create mount target ${inRoot(part)} in the container rootfs: ${code}`, { cause: error });
        }
        st = lstatOrNull(at);
      }
      if (!st || st.isSymbolicLink()) throw changed(at, inRoot(part));
      if (want === 'dir' ? !st.isDirectory() : st.isDirectory()) {
        const is = st.isDirectory() ? 'folder' : 'file';
        throw new FileError(shown(part), `mount target ${inRoot(part)} is a ${is} in the container image where a ${want === 'dir' ? 'folder' : 'file'} is needed`);
      }
      if (last) return done(part);
      held.push({ fd: openDir(at, inRoot(part)), name: part });
    }
    throw new FileError(rootfs, `mount target "${containerPath}" resolves to the container's root folder itself`);
  } catch (error) {
    closeAll();
    fs.closeSync(rootFd);
    throw error;
  }

  // Keeps the folder that holds the target open and closes every other descriptor.
  function done(name: string): RootfsTarget {
    const p = shown(name);
    const kept = held.pop();
    closeAll();
    if (kept) fs.closeSync(rootFd);
    return { path: p, dirFd: kept ? kept.fd : rootFd, name };
  }
}

/**
 * Throws FileError when a folder on the way to one of `devicePaths` (container paths such as
 * /dev/nvidia0) is a symlink in the rootfs. Runtimes create linux.devices nodes by path, and
 * crun 1.8.1 follows an image's `/dev` symlink out of the rootfs to create them on the host.
 */
export function refuseLinkedDeviceFolders(rootfs: string, devicePaths: string[]): void {
  const folders = new Set<string>();
  for (const p of devicePaths) {
    const parts = split(p).slice(0, -1);
    for (let i = 1; i <= parts.length; i++) folders.add('/' + parts.slice(0, i).join('/'));
  }
  for (const folder of [...folders].sort()) {
    const at = path.join(rootfs, folder);
    if (lstatOrNull(at)?.isSymbolicLink()) {
      // It can be swapped back between lstat and readlink: still a refusal, and still one clear line.
      const target = readlinkOrNull(at);
      throw new FileError(
        at,
        `the container image's "${folder}" is a symlink (${target === null ? 'that changed while it was checked' : `to "${target}"`}): refusing to add GPU device nodes, the runtime could create them outside the container`,
      );
    }
  }
}

// `label` is the quoted path for messages.
function openDir(at: string, label: string): number {
  try {
    return fs.openSync(at, DIR_FLAGS);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'ENOTDIR') throw changed(at, label, error);
    throw new FileError(at, `cannot open ${label} in the container rootfs: ${code}`, { cause: error });
  }
}

function readlinkOrChanged(at: string, label: string): string {
  try {
    return fs.readlinkSync(at);
  } catch (error) {
    // It was a symlink a moment ago.
    throw changed(at, label, error);
  }
}

function changed(at: string, label: string, cause?: unknown): FileError {
  return new FileError(at, `mount target ${label} changed while it was prepared (a symlink appeared or went); refusing`, { cause });
}

function split(p: string): string[] {
  return p.split('/').filter((s) => s !== '' && s !== '.');
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
