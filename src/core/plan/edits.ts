import type { ContainerEdits, DeviceNode, Hook, Mount } from '../../model/edits.js';

/** Returns a + b (env, nodes, mounts, hooks concatenated in order); never mutates its inputs. */
export function appendEdits(...parts: (ContainerEdits | undefined)[]): ContainerEdits {
  const out: Required<ContainerEdits> = { env: [], deviceNodes: [], mounts: [], hooks: [] };
  for (const p of parts) {
    if (!p) continue;
    if (p.env) out.env.push(...p.env);
    if (p.deviceNodes) out.deviceNodes.push(...p.deviceNodes);
    if (p.mounts) out.mounts.push(...p.mounts);
    if (p.hooks) out.hooks.push(...p.hooks);
  }
  return out;
}

/** Returns the edits with later duplicates dropped: env by name (last wins), nodes by path, mounts by containerPath, hooks by content. */
export function dedupeEdits(e: ContainerEdits): Required<ContainerEdits> {
  const env = new Map<string, string>();
  for (const kv of e.env ?? []) env.set(kv.split('=', 1)[0]!, kv);
  return {
    env: [...env.values()],
    deviceNodes: firstBy(e.deviceNodes ?? [], (d: DeviceNode) => d.path),
    mounts: firstBy(e.mounts ?? [], (m: Mount) => m.containerPath),
    hooks: firstBy(e.hooks ?? [], (h: Hook) => JSON.stringify(h)),
  };
}

/** Returns true when the edits change nothing. */
export function isEmptyEdits(e: ContainerEdits): boolean {
  return !e.env?.length && !e.deviceNodes?.length && !e.mounts?.length && !e.hooks?.length;
}

function firstBy<T>(items: T[], key: (t: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    const k = key(item);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
