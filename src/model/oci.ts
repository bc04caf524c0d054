// The parts of the OCI runtime spec (config.json, state) that oci-gpu reads or writes.

export interface OciDevice {
  path: string;
  type: string;
  major?: number;
  minor?: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface OciDeviceCgroup {
  allow: boolean;
  type?: string;
  major?: number;
  minor?: number;
  access?: string;
}

export interface OciMount {
  destination: string;
  source?: string;
  type?: string;
  options?: string[];
}

export interface OciHook {
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

export interface OciHooks {
  prestart?: OciHook[];
  createRuntime?: OciHook[];
  createContainer?: OciHook[];
  startContainer?: OciHook[];
  poststart?: OciHook[];
  poststop?: OciHook[];
}

/** A bundle's config.json; only the fields we touch are typed, the rest is kept as is. */
export interface OciConfig {
  ociVersion: string;
  process?: { env?: string[]; [k: string]: unknown };
  root?: { path: string; readonly?: boolean };
  mounts?: OciMount[];
  hooks?: OciHooks;
  annotations?: Record<string, string>;
  linux?: {
    devices?: OciDevice[];
    resources?: { devices?: OciDeviceCgroup[]; [k: string]: unknown };
    cgroupsPath?: string;
    namespaces?: { type: string; path?: string }[];
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

/** The state a runtime passes to hooks on stdin. */
export interface OciState {
  ociVersion: string;
  id: string;
  status: string;
  pid?: number;
  bundle: string;
  annotations?: Record<string, string>;
}
