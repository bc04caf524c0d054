import type { ContainerEdits, Hook } from '../../model/edits.js';
import type { OciConfig, OciDevice, OciDeviceCgroup, OciHook } from '../../model/oci.js';

/**
 * Returns a copy of an OCI config with the edits applied the way a CDI-aware engine would:
 * device nodes in linux.devices plus an allow rule each in linux.resources.devices (so the runtime
 * builds the cgroup filter), bind mounts, env and hooks. Whatever the config already has at the
 * same device path, mount destination or env name is kept; identical rules and hooks are not repeated.
 */
export function applyEditsToConfig(config: OciConfig, edits: ContainerEdits): OciConfig {
  const out = structuredClone(config);
  if (edits.deviceNodes?.length) {
    const linux = (out.linux ??= {});
    const devices = (linux.devices ??= []);
    const rules = ((linux.resources ??= {}).devices ??= []);
    for (const d of edits.deviceNodes) {
      if (d.major === undefined || d.minor === undefined) continue;
      const type = d.type ?? 'c';
      if (!devices.some((x) => x.path === d.path)) {
        const dev: OciDevice = { path: d.path, type, major: d.major, minor: d.minor };
        if (d.fileMode !== undefined) dev.fileMode = d.fileMode;
        if (d.uid !== undefined) dev.uid = d.uid;
        if (d.gid !== undefined) dev.gid = d.gid;
        devices.push(dev);
      }
      const rule: OciDeviceCgroup = { allow: true, type, major: d.major, minor: d.minor, access: d.permissions ?? 'rwm' };
      if (!rules.some((r) => sameRule(r, rule))) rules.push(rule);
    }
  }
  if (edits.mounts?.length) {
    const mounts = (out.mounts ??= []);
    for (const m of edits.mounts) {
      if (mounts.some((x) => x.destination === m.containerPath)) continue;
      // Copies: the output must not share arrays with the edits (and through them the manifest).
      mounts.push({ destination: m.containerPath, type: m.type ?? 'bind', source: m.hostPath, options: [...(m.options ?? ['ro', 'nosuid', 'nodev', 'bind'])] });
    }
  }
  if (edits.env?.length) {
    const env = ((out.process ??= {}).env ??= []);
    for (const kv of edits.env) {
      const name = kv.split('=', 1)[0]!;
      if (!env.some((x) => x.split('=', 1)[0] === name)) env.push(kv);
    }
  }
  for (const h of edits.hooks ?? []) {
    const list = ((out.hooks ??= {})[h.hookName] ??= []);
    const hook = ociHook(h);
    if (!list.some((x) => JSON.stringify(x) === JSON.stringify(hook))) list.push(hook);
  }
  return out;
}

function ociHook(h: Hook): OciHook {
  const hook: OciHook = { path: h.path };
  if (h.args) hook.args = [...h.args];
  if (h.env) hook.env = [...h.env];
  if (h.timeout !== undefined) hook.timeout = h.timeout;
  return hook;
}

function sameRule(a: OciDeviceCgroup, b: OciDeviceCgroup): boolean {
  return a.allow === b.allow && a.type === b.type && a.major === b.major && a.minor === b.minor && a.access === b.access;
}
