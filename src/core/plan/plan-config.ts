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
 * `container` turns on: params masking, CUDA forward compatibility). `rootfs` is the config's root
 * as an absolute host path (root.path resolved against the bundle): while it is writable, the step
 * runs inside the container's namespaces (createContainer), else from the runtime's (createRuntime).
 * Throws RequestError as planEdits does.
 */
export function editConfigForRequest(config: OciConfig, manifest: Manifest, request: GpuRequest, container: ContainerOptions, rootfs: string): OciConfig {
  const plan = planEdits(manifest, request);
  const dirs = mountedLibraryDirs(manifest.libraryDirs, plan.edits.mounts);
  const hook = postMountHook(manifest.tools, dirs, postMountOptions(manifest, container), config.root?.readonly ? null : rootfs);
  return applyEditsToConfig(config, appendEdits(plan.edits, hook ? { hooks: [hook] } : undefined));
}
