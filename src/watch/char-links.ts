import fs from 'node:fs';
import path from 'node:path';
import type { DeviceNode } from '../model/edits.js';
import type { Logger } from '../model/logger.js';

/**
 * Makes `<root>/dev/char/<major>:<minor>` a link to each NVIDIA node ("../nvidia0"), as udev does
 * for other devices: systemd resolves device cgroup rules through these links, and without them a
 * `systemctl daemon-reload` drops GPU access of running containers. Links to NVIDIA nodes that are
 * gone are removed. Returns the links it created or removed.
 */
export function syncCharLinks(root: string, nodes: DeviceNode[], log: Logger): { created: string[]; removed: string[] } {
  const dir = path.join(root, 'dev/char');
  const created: string[] = [];
  const removed: string[] = [];
  const wanted = new Map<string, string>();
  for (const n of nodes) {
    if (n.type !== 'c' || n.major === undefined || n.minor === undefined) continue;
    wanted.set(`${n.major}:${n.minor}`, path.posix.relative('/dev/char', n.path));
  }
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  } catch (error) {
    log.warn(`cannot create "${dir}": ${(error as NodeJS.ErrnoException).code}`);
    return { created, removed };
  }
  for (const [name, target] of wanted) {
    const link = path.join(dir, name);
    let current: string | null = null;
    try {
      current = fs.readlinkSync(link);
    } catch {
      // missing, or not a link: only a missing entry is ours to fill
    }
    if (current === target) continue;
    if (current !== null && !isNvidiaTarget(current)) continue;
    try {
      if (current !== null) fs.unlinkSync(link);
      fs.symlinkSync(target, link);
      created.push(link);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') log.warn(`cannot link "${link}" -> ${target}: ${(error as NodeJS.ErrnoException).code}`);
    }
  }
  for (const name of safeList(dir)) {
    if (wanted.has(name)) continue;
    const link = path.join(dir, name);
    let target: string;
    try {
      target = fs.readlinkSync(link);
    } catch {
      continue;
    }
    if (isNvidiaTarget(target) && !fs.existsSync(path.resolve(dir, target))) {
      fs.rmSync(link, { force: true });
      removed.push(link);
    }
  }
  return { created, removed };
}

function isNvidiaTarget(target: string): boolean {
  return /(^|\/)nvidia[^/]*(\/nvidia-cap\d+)?$/.test(target);
}

function safeList(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}
