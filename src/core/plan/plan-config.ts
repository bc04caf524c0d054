import type { Manifest } from '../../model/manifest.js';
import type { OciConfig } from '../../model/oci.js';
import { applyEditsToConfig } from './apply-config.js';
import { appendEdits } from './edits.js';
import { mountedLibraryDirs, postMountHook, postMountOptions, type ContainerOptions } from './post-mount.js';
import { planEdits } from './plan-edits.js';
import type { GpuRequest } from '../request/request.js';

/**
 * Returns the config edited for a request: the planned nodes, allow rules and mounts, plus the
 * post-mount step (the container's ld cache for the library folders it mounts, and what
 * `container` turns on: params masking, CUDA forward compatibility). Throws RequestError as
 * planEdits does.
 */
export function editConfigForRequest(config: OciConfig, manifest: Manifest, request: GpuRequest, container: ContainerOptions): OciConfig {
  const plan = planEdits(manifest, request);
  const hook = postMountHook(manifest.tools, mountedLibraryDirs(manifest.libraryDirs, plan.edits.mounts), postMountOptions(manifest, container));
  return applyEditsToConfig(config, appendEdits(plan.edits, hook ? { hooks: [hook] } : undefined));
}
