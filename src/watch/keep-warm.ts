import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../model/logger.js';

/**
 * Holds GPU device nodes open so the driver keeps its state initialised between containers
 * (what nvidia-persistenced does), only while no nvidia-persistenced runs. `sync` opens what is
 * new and closes what is gone; `release` closes everything.
 */
export class KeepWarm {
  private readonly open = new Map<string, number>();
  private readonly failed = new Set<string>();

  constructor(private readonly log: Logger) {}

  /** Returns the nodes held open after syncing with `nodes` (real paths); holds none when `enabled` is false or persistenced runs. */
  sync(nodes: string[], enabled: boolean, root: string): string[] {
    const want = enabled && !persistencedRunning(root) ? new Set(nodes) : new Set<string>();
    for (const [node, fd] of this.open) {
      if (want.has(node)) continue;
      fs.closeSync(fd);
      this.open.delete(node);
      this.log.info(`keep-warm: released ${node}`);
    }
    for (const node of want) {
      if (this.open.has(node)) continue;
      try {
        this.open.set(node, fs.openSync(node, fs.constants.O_RDWR | fs.constants.O_NONBLOCK));
        this.failed.delete(node);
        this.log.info(`keep-warm: holding ${node} open`);
      } catch (error) {
        if (!this.failed.has(node)) this.log.warn(`keep-warm: cannot open ${node}: ${(error as NodeJS.ErrnoException).code}`);
        this.failed.add(node);
      }
    }
    return [...this.open.keys()].sort();
  }

  release(): void {
    for (const fd of this.open.values()) fs.closeSync(fd);
    this.open.clear();
  }
}

/** nvidia-persistenced as /proc/<pid>/comm shows it: the kernel cuts names to 15 characters. */
export const PERSISTENCED_COMM = 'nvidia-persiste';

/** Returns true when an nvidia-persistenced process runs (its socket, or its name in /proc). */
export function persistencedRunning(root: string): boolean {
  if (fs.existsSync(path.join(root, 'run/nvidia-persistenced/socket'))) return true;
  let pids: string[] = [];
  try {
    pids = fs.readdirSync(path.join(root, 'proc')).filter((p) => /^\d+$/.test(p));
  } catch {
    return false;
  }
  return pids.some((pid) => {
    try {
      return fs.readFileSync(path.join(root, 'proc', pid, 'comm'), 'utf8').trim() === PERSISTENCED_COMM;
    } catch {
      return false;
    }
  });
}
