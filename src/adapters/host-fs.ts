import fs from 'node:fs';
import path from 'node:path';
import { FileError } from '../errors.js';
import { resolveInRoot } from '../core/resolve-in-root.js';

/** What discovery needs to know about a file, read with lstat. */
export interface NodeStat {
  kind: 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'socket' | 'fifo';
  /** Permission bits (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  major: number;
  minor: number;
  size: number;
}

/** Returns the lstat of a real path, or null when it does not exist. */
export type StatFn = (realPath: string) => NodeStat | null;

/**
 * The host as discovery sees it: every path is a host path ("/dev/nvidia0") that the HostFs maps
 * into `root`. With root "/" host and real paths are the same.
 */
export interface HostFs {
  readonly root: string;
  /** Real path on this machine of a host path. */
  real(hostPath: string): string;
  /** Host path of a real path under root (root stripped). */
  host(realPath: string): string;
  /** File content as text; throws FileError naming the real path. */
  readText(hostPath: string): string;
  readBytes(hostPath: string): Uint8Array;
  /** The first `length` bytes (fewer for a short file); throws FileError. */
  readHead(hostPath: string, length: number): Uint8Array;
  /** Sorted entry names; [] when the folder is missing or unreadable. */
  list(hostPath: string): string[];
  /** lstat of the host path, null when missing. */
  stat(hostPath: string): NodeStat | null;
  /** stat following symlinks within the root. */
  statFollow(hostPath: string): NodeStat | null;
  /** Host path with every symlink resolved inside the root. */
  resolve(hostPath: string): string;
}

/** Creates a HostFs bound to `root`; `stat` can be replaced so fixtures can be plain trees. */
export function createHostFs(root: string, options: { stat?: StatFn } = {}): HostFs {
  const base = path.resolve(root);
  const stat = options.stat ?? lstatReal;
  const real = (hostPath: string) => (base === '/' ? path.posix.normalize(hostPath) : path.join(base, hostPath));
  const host = (realPath: string) => {
    if (base === '/') return realPath;
    const rel = path.relative(base, realPath);
    return '/' + rel;
  };
  const readlink = (hostPath: string) => {
    const s = stat(real(hostPath));
    if (!s || s.kind !== 'symlink') return null;
    try {
      return fs.readlinkSync(real(hostPath));
    } catch {
      return null;
    }
  };
  const resolve = (hostPath: string) => resolveInRoot(hostPath, readlink);
  return {
    root: base,
    real,
    host,
    readText: (p) => read(real(p), 'utf8'),
    readBytes: (p) => read(real(p)),
    readHead(p, length) {
      const file = real(p);
      let fd: number | undefined;
      try {
        fd = fs.openSync(file, 'r');
        const buf = Buffer.alloc(length);
        return buf.subarray(0, fs.readSync(fd, buf, 0, length, 0));
      } catch (error) {
        throw new FileError(file, `cannot read "${file}": ${(error as NodeJS.ErrnoException).code ?? 'error'}`, { cause: error });
      } finally {
        if (fd !== undefined) fs.closeSync(fd);
      }
    },
    list(p) {
      try {
        return fs.readdirSync(real(p)).sort();
      } catch {
        return [];
      }
    },
    stat: (p) => stat(real(p)),
    statFollow: (p) => stat(real(resolve(p))),
    resolve,
  };
}

function read(file: string): Buffer;
function read(file: string, encoding: 'utf8'): string;
function read(file: string, encoding?: 'utf8'): Buffer | string {
  try {
    return encoding ? fs.readFileSync(file, encoding) : fs.readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new FileError(file, `cannot read "${file}": ${code}`, { cause: error });
  }
}

/** lstat of a real path turned into a NodeStat; null when missing. */
export function lstatReal(file: string): NodeStat | null {
  let s: fs.Stats;
  try {
    s = fs.lstatSync(file);
  } catch {
    return null;
  }
  const kind: NodeStat['kind'] = s.isSymbolicLink()
    ? 'symlink'
    : s.isDirectory()
      ? 'dir'
      : s.isCharacterDevice()
        ? 'char'
        : s.isBlockDevice()
          ? 'block'
          : s.isSocket()
            ? 'socket'
            : s.isFIFO()
              ? 'fifo'
              : 'file';
  const rdev = s.rdev;
  return {
    kind,
    mode: s.mode & 0o7777,
    uid: s.uid,
    gid: s.gid,
    major: (rdev >> 8) & 0xfff,
    minor: (rdev & 0xff) | ((rdev >> 12) & 0xfff00),
    size: s.size,
  };
}
