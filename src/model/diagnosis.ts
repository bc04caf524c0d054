// What `oci-gpu doctor` reports: findings, and the facts the pure checks read (gathered by src/doctor/).
import type { OciDevice, OciDeviceCgroup } from './oci.js';
import type { Manifest } from './manifest.js';

/** How bad a finding is: ok, worth a look, or broken. */
export type Level = 'ok' | 'warn' | 'fail';

/** One line of the diagnosis. */
export interface Finding {
  /** Stable id of the check, e.g. "host.nodes", "container.cgroup". */
  check: string;
  level: Level;
  /** What was seen, one line. */
  message: string;
  /** What to do about it, one line; absent when there is nothing to do. */
  fix?: string;
}

/** Every finding, the worst level, and the first broken link of the chain (the first failure). */
export interface Diagnosis {
  findings: Finding[];
  worst: Level;
  firstBroken: Finding | null;
}

/** A file in /dev as lstat saw it (host path, or container path for a container). */
export interface NodeFact {
  path: string;
  kind: 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'socket' | 'fifo';
  major: number;
  minor: number;
}

/** The manifest file as read: missing, unreadable/invalid (with the reader's message), or parsed. */
export type ManifestFact =
  | { file: string; state: 'missing' }
  | { file: string; state: 'invalid'; error: string }
  | { file: string; state: 'ok'; manifest: Manifest };

/** One CDI spec file found in a spec folder. */
export interface CdiFileFact {
  file: string;
  /** Index of its folder in `CdiFacts.dirs` (higher wins a name clash); -1 when it lies in none. */
  dirIndex: number;
  /** Its `kind`, or null when it could not be read. */
  kind: string | null;
  /** The parsed document (JSON specs only; YAML specs give only their kind). */
  spec: unknown;
  error?: string;
}

export interface CdiFacts {
  enabled: boolean;
  kind: string;
  /** The container settings the watcher writes specs with (config container.*). */
  container?: { maskDriverParams: boolean; cudaCompat: boolean };
  /** The spec oci-gpu writes (cdi.path, or --cdi). */
  ours: string;
  /** Folders engines read specs from, lowest priority first (real paths). */
  dirs: string[];
  /** Every *.json / *.yaml spec in `dirs`, plus ours when it exists elsewhere. */
  files: CdiFileFact[];
}

/** A hooks.d entry (oci-hooks 1.0.0) as far as doctor reads it. */
export interface HooksDEntry {
  version: string;
  hook: { path: string; args?: string[]; env?: string[]; timeout?: number };
  when: { always?: boolean; annotations?: Record<string, string>; commands?: string[]; hasBindMounts?: boolean };
  stages: string[];
}

export interface HookFileFact {
  file: string;
  /** Base name: a file of the same name in a later folder masks it. */
  name: string;
  dirIndex: number;
  /** null when the file does not parse or validate (see `error`). */
  entry: HooksDEntry | null;
  error?: string;
  /** Where `hook.path` was found (as given, or under --root), or null when it does not exist. */
  binary: string | null;
  executable: boolean;
}

export interface HooksFacts {
  /** hooks.d folders, lowest precedence first (real paths). */
  dirs: string[];
  /** The folders Podman reads (containers.conf hooks_dir, or its default); null when not known (--hooks-dirs). */
  podmanDirs: string[] | null;
  files: HookFileFact[];
}

export type CgroupVersion = 'v1' | 'hybrid' | 'v2' | 'unknown';

/** What doctor read on the host (a real one, or a simulated one under --root). */
export interface HostFacts {
  root: string;
  /** The loaded driver now, or null; `error` when a version file exists but does not parse. */
  driver: { version: string; source: string } | null;
  driverError?: string;
  /** Character majors of /proc/devices by name; null when unreadable. */
  majors: Record<string, number> | null;
  /** nvidia* entries of /sys/module (nvidia, nvidia_uvm, nvidia_modeset...). */
  modules: string[];
  /** A scan of the host made now (the watcher's view if it ran this instant). */
  scan: Manifest;
  /** Every /dev/nvidia* and /dev/nvidia-caps/* entry. */
  nodes: NodeFact[];
  persistence: { sockets: string[]; pids: number[]; keepWarm: string[] };
  manifest: ManifestFact;
  cdi: CdiFacts;
  hooks: HooksFacts;
  cgroup: { version: CgroupVersion; evidence: string };
}

/** One line of /proc/<pid>/mountinfo. */
export interface MountInfo {
  /** Path inside the mounted filesystem that is mounted (the bind source, relative to its filesystem). */
  root: string;
  /** Where it is mounted, relative to the process's root. */
  mountPoint: string;
  options: string[];
  fsType: string;
  source: string;
  superOptions: string[];
}

/** An ld cache entry of a container with where its path leads inside the container. */
export interface LdCacheFact {
  name: string;
  path: string;
  arch: string;
  /** The in-container path after following symlinks, or null when it leads nowhere. */
  resolved: string | null;
}

/** What doctor read about a running container. */
export interface ContainerFacts {
  pid: number;
  id: string | null;
  runtime: string | null;
  /** The container's root as seen from the host: /proc/<pid>/root. */
  rootPath: string;
  /** Its init process's environment. */
  env: string[];
  /** Annotations of its OCI config, when the config was found. */
  annotations: Record<string, string> | null;
  /** /dev/nvidia* and /dev/nvidia-caps/* inside it. */
  nodes: NodeFact[];
  cgroup: {
    version: 'v1' | 'v2';
    /** Its cgroup path (of the devices controller on v1). */
    path: string;
    /** v1: the lines of its devices.list; null on v2 or when unreadable. */
    devicesList: string[] | null;
    devicesListFile: string | null;
  };
  /** Its OCI config (the runtime builds the device cgroup, and the v2 eBPF filter, from it). */
  config: { file: string; devices: OciDeviceCgroup[]; linuxDevices: OciDevice[] } | null;
  configError?: string;
  mounts: MountInfo[];
  /** Its /etc/ld.so.cache: null when missing; only the NVIDIA driver entries are kept. */
  ldCache: { file: string; entries: LdCacheFact[]; error?: string } | null;
  pathDirs: string[];
  /** nvidia-smi as found on its PATH (container path), or null. */
  nvidiaSmi: string | null;
}
