// CDI's ContainerEdits model (container-device-interface specs-go), field names are the JSON keys.

/** A device node to create in the container; `path` is the container path. */
export interface DeviceNode {
  path: string;
  /** Host path when it differs from `path` (always set with `--root`). */
  hostPath?: string;
  type?: 'c' | 'b' | 'u' | 'p';
  major?: number;
  minor?: number;
  /** Permission bits of the host node (e.g. 0o666). */
  fileMode?: number;
  /** cgroup access, CDI style: a subset of "rwm". */
  permissions?: string;
  uid?: number;
  gid?: number;
}

/** A bind mount from the host into the container. */
export interface Mount {
  hostPath: string;
  containerPath: string;
  options?: string[];
  type?: string;
}

/** An OCI hook to add to the container. */
export interface Hook {
  hookName: 'prestart' | 'createRuntime' | 'createContainer' | 'startContainer' | 'poststart' | 'poststop';
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

/** Everything a container needs for a set of devices; a plain value, never mutated in place. */
export interface ContainerEdits {
  env?: string[];
  deviceNodes?: DeviceNode[];
  mounts?: Mount[];
  hooks?: Hook[];
}
