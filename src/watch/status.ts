import { readFileIfExists } from '../adapters/atomic-write.js';

/** What the watcher last saw, written beside the manifest after every scan for `oci-gpu status`. */
export interface WatchStatus {
  schema: 'oci-gpu.watch-status/v1';
  pid: number;
  startedAt: string;
  lastScanAt: string | null;
  /** When the manifest content last changed on disk. */
  lastWriteAt: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
  scans: number;
  writes: number;
  /** Folders watched with inotify. */
  watching: string[];
  udev: boolean;
  /** GPU nodes held open (watch.keepWarm), empty when off. */
  holdingOpen: string[];
}

/** The status file of a manifest: "watch-status.json" in the same folder. */
export function statusPathFor(manifestPath: string): string {
  return manifestPath.slice(0, manifestPath.lastIndexOf('/') + 1) + 'watch-status.json';
}

/** Returns the watcher's status file for a manifest, or null when it is missing or unreadable. */
export function readWatchStatus(manifestPath: string): WatchStatus | null {
  try {
    const text = readFileIfExists(statusPathFor(manifestPath));
    return text === null ? null : (JSON.parse(text) as WatchStatus);
  } catch {
    return null;
  }
}

/** Returns true when a process with that pid exists (ours to signal or not). */
export function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
