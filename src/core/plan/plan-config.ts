import type { Manifest } from '../../model/manifest.js';
import type { OciConfig } from '../../model/oci.js';
import { applyEditsToConfig } from './apply-config.js';
import { appendEdits } from './edits.js';
import { ldcacheHook } from './post-mount.js';
import { planEdits } from './plan-edits.js';
import type { GpuRequest } from '../request/request.js';

/**
 * Returns the config edited for a request: the planned nodes, allow rules and mounts, plus the
 * createRuntime ld cache step for the library folders it mounts (run against `rootfs`, an
 * absolute host path). Throws RequestError as planEdits does.
 */
export function editConfigForRequest(config: OciConfig, manifest: Manifest, request: GpuRequest, rootfs: string): OciConfig {
  const plan = planEdits(manifest, request);
  const mounted = new Set(plan.edits.mounts.map((m) => m.containerPath.slice(0, m.containerPath.lastIndexOf('/'))));
  const hook = ldcacheHook(manifest.tools, rootfs, manifest.libraryDirs.filter((d) => mounted.has(d)));
  return applyEditsToConfig(config, appendEdits(plan.edits, hook ? { hooks: [hook] } : undefined));
}
