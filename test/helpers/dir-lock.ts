import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { processAlive } from '../../src/watch/status.js';

/**
 * Tries once to take a lock folder (mkdir is atomic) and writes our pid into it. A lock whose owner
 * died, or older than `staleMs`, is removed so the next try can take it. Returns whether we hold it
 * and, when not, the holder's pid (NaN while it is being written).
 */
export function tryDirLock(lock: string, staleMs = Infinity): { taken: boolean; owner: number } {
  mkdirSync(path.dirname(lock), { recursive: true });
  try {
    mkdirSync(lock);
    writeFileSync(path.join(lock, 'pid'), String(process.pid));
    return { taken: true, owner: process.pid };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  let owner = NaN;
  try {
    owner = Number(readFileSync(path.join(lock, 'pid'), 'utf8'));
  } catch {
    /* being written or removed */
  }
  let age = 0;
  try {
    age = Date.now() - statSync(lock).mtimeMs;
  } catch {
    return { taken: false, owner };
  }
  if ((Number.isInteger(owner) && !processAlive(owner)) || age > staleMs) rmSync(lock, { recursive: true, force: true });
  return { taken: false, owner };
}

/** Gives a lock folder back. */
export function releaseDirLock(lock: string): void {
  rmSync(lock, { recursive: true, force: true });
}
