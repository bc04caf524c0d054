import fs from 'node:fs';
import path from 'node:path';
import { FileError } from '../errors.js';

/**
 * Writes a file so readers see the old content or the new, never a mix: temp file in the same
 * folder, write, fsync, rename, fsync the folder. Creates missing folders 0755. The file gets
 * exactly `mode`, whatever the process's umask. The temp file is removed on failure. Throws
 * FileError naming the target. `durable: false` leaves out both fsyncs, for a file that does not
 * outlive a reboot anyway (a container's bundle config): still atomic, not waiting on the disk.
 */
export function writeFileAtomic(file: string, content: string | Uint8Array, mode = 0o644, { durable = true } = {}): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  let fd: number | undefined;
  try {
    makeFolders(dir);
    fd = fs.openSync(tmp, 'wx', mode);
    // open(2) applies the umask (077 would make the manifest unreadable to rootless Podman): set the mode itself.
    fs.fchmodSync(fd, mode);
    fs.writeSync(fd, typeof content === 'string' ? Buffer.from(content) : content);
    if (durable) fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
    if (durable) syncDir(dir);
  } catch (error) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw new FileError(file, `cannot write "${file}": ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
  }
}

/** Returns the file's text, or null when it does not exist; throws FileError for other failures. */
export function readFileIfExists(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new FileError(file, `cannot read "${file}": ${(error as NodeJS.ErrnoException).code ?? 'error'}`, { cause: error });
  }
}

function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Some filesystems refuse fsync on a folder; the rename is still atomic.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * Gives an existing file exactly `mode`; returns its old mode when it changed it, null when it was
 * right or the file does not exist. A file the watcher does not rewrite (its content is current)
 * keeps the mode an earlier umask gave it otherwise. Throws FileError.
 */
export function ensureFileMode(file: string, mode = 0o644): number | null {
  try {
    const old = fs.statSync(file).mode & 0o7777;
    if (old === mode) return null;
    fs.chmodSync(file, mode);
    return old;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new FileError(file, `cannot set the mode of "${file}": ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
  }
}

/**
 * Creates `dir` and its missing parents, each 0755 whatever the umask (a hand-run watcher under
 * umask 077 must not make /run/oci-gpu untraversable for rootless Podman). Throws the fs error.
 */
export function makeFolders(dir: string): void {
  const first = fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  if (first === undefined) return;
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    fs.chmodSync(d, 0o755);
    if (d === path.resolve(first) || d === path.dirname(d)) break;
  }
}
