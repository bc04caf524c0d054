import type { OciDeviceCgroup } from '../../model/oci.js';

/** One line of /proc/<pid>/cgroup: hierarchy id, controllers ([] for the v2 line "0::/path"), path. */
export interface CgroupLine {
  id: number;
  controllers: string[];
  path: string;
}

/** Parses /proc/<pid>/cgroup; malformed lines are skipped. */
export function parseProcCgroup(text: string): CgroupLine[] {
  const lines: CgroupLine[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (m) lines.push({ id: Number(m[1]), controllers: m[2] ? m[2].split(',') : [], path: m[3]! });
  }
  return lines;
}

/**
 * Parses a cgroup v1 devices.list ("c 195:* rwm", "a *:* rwm") into allow rules that rulesAllow
 * evaluates; `*` becomes -1. Lines that do not parse are returned in `bad`.
 */
export function parseDevicesList(text: string): { rules: OciDeviceCgroup[]; bad: string[] } {
  const rules: OciDeviceCgroup[] = [];
  const bad: string[] = [];
  for (const line of text.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const m = /^([abc]) (\*|\d+):(\*|\d+) ([rwm]+)$/.exec(line);
    if (!m) {
      bad.push(line);
      continue;
    }
    const num = (s: string) => (s === '*' ? -1 : Number(s));
    rules.push({ allow: true, type: m[1]!, major: num(m[2]!), minor: num(m[3]!), access: m[4]! });
  }
  return { rules, bad };
}

/** Returns the 64-hex container id in a cgroup path (libpod-<id>.scope, crio-<id>, docker/<id>), or null. */
export function containerIdOfCgroup(path: string): string | null {
  const ids = path.match(/[0-9a-f]{64}/g);
  return ids ? ids[ids.length - 1]! : null;
}
