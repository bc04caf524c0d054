// One watcher per manifest: the service and a hand-run `oci-gpu watch` would both write it. The lock
// is flock(2) on "<manifest>.lock" (the kernel drops it when the holder dies, kill -9 included, so
// there is no stale lock to judge); the file holds the holder's pid, for the refusal message.
import fs from 'node:fs';
import path from 'node:path';
import { FileError, OciGpuError } from '../errors.js';
import { makeFolders } from './atomic-write.js';
import { errnoName, EWOULDBLOCK, loadLibc } from './libc.js';

/** Another watcher holds the lock of the same manifest. */
export class WatchLockedError extends OciGpuError {}

/** The lock file of a manifest. */
export function lockPathFor(manifest: string): string {
  return `${manifest}.lock`;
}

/**
 * Takes the manifest's lock for the life of this process and returns its path, or null under Node
 * (no flock there: the development entry runs unlocked). Throws WatchLockedError naming the pid
 * that holds it, FileError when the lock file cannot be opened.
 */
export async function lockManifest(manifest: string): Promise<string | null> {
  const libc = await loadLibc();
  if (!libc) return null;
  const file = lockPathFor(manifest);
  let fd: number;
  try {
    makeFolders(path.dirname(file));
    fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o644);
    fs.fchmodSync(fd, 0o644);
  } catch (error) {
    throw new FileError(file, `cannot open the lock "${file}": ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
  }
  const errno = libc.tryLockExclusive(fd);
  if (errno === EWOULDBLOCK) {
    const holder = fs.readFileSync(fd, 'utf8').trim();
    fs.closeSync(fd);
    throw new WatchLockedError(
      `another watcher (pid ${/^\d+$/.test(holder) ? holder : 'unknown'}) already keeps "${manifest}" (lock "${file}"): stop it first, or give this one another --manifest`,
    );
  }
  if (errno) {
    fs.closeSync(fd);
    throw new FileError(file, `cannot lock "${file}": ${errnoName(errno)}`);
  }
  // Ours now: the descriptor stays open (and locked) until the process ends.
  fs.ftruncateSync(fd, 0);
  fs.writeSync(fd, `${process.pid}\n`, 0);
  return file;
}
