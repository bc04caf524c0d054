import type { DeviceNode } from '../../model/edits.js';
import type { OciDeviceCgroup } from '../../model/oci.js';

/**
 * Returns true when an OCI device cgroup rule list lets the container read and write the node:
 * rules apply in order and the last one that matches decides, as runc and crun build them.
 */
export function rulesAllow(rules: OciDeviceCgroup[], node: DeviceNode): boolean {
  let allowed = false;
  for (const r of rules) {
    if (r.type && r.type !== 'a' && r.type !== (node.type ?? 'c')) continue;
    if (r.major !== undefined && r.major !== -1 && r.major !== node.major) continue;
    if (r.minor !== undefined && r.minor !== -1 && r.minor !== node.minor) continue;
    const access = r.access ?? 'rwm';
    if (r.allow) allowed = allowed || (access.includes('r') && access.includes('w'));
    else if (access.includes('r') || access.includes('w')) allowed = false;
  }
  return allowed;
}

/** Returns the cgroup v1 `devices.allow` lines for nodes ("c 195:0 rwm"). */
export function devicesAllowLines(nodes: DeviceNode[]): string[] {
  return nodes.filter((n) => n.major !== undefined && n.minor !== undefined).map((n) => `${n.type ?? 'c'} ${n.major}:${n.minor} ${n.permissions ?? 'rwm'}`);
}
