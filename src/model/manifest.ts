import type { ContainerEdits, DeviceNode, Mount } from './edits.js';

/** The manifest format version this build writes and reads. */
export const MANIFEST_SCHEMA = 'oci-gpu.manifest/v2';

/** Capabilities in the NVIDIA contract (`NVIDIA_DRIVER_CAPABILITIES`). */
export const CAPABILITIES = ['utility', 'compute', 'video', 'graphics', 'display', 'ngx', 'compat32'] as const;
export type Capability = (typeof CAPABILITIES)[number];
/** Where a driver file that matches no known list goes: reported, never dropped, injected with `all`. */
export type CapabilityKey = Capability | 'unclassified';

/** One GPU as the driver reports it in /proc/driver/nvidia/gpus/<bus>/information. */
export interface Gpu {
  /** 0..N-1 in PCI bus id order. */
  index: number;
  uuid: string;
  /** Normalised lower-case domain:bus:device.function, e.g. "0000:3b:00.0". */
  pciBusId: string;
  model: string;
  /** Device minor: the GPU's node is /dev/nvidia<minor>. */
  minor: number;
  /** Brand as NVIDIA_REQUIRE_BRAND spells it (derived from the model name). */
  brand: string;
  /** CUDA compute capability "major.minor" when the model is known, else "". */
  architecture: string;
  /** Nodes that belong to this GPU alone (its /dev/nvidia<minor>). */
  edits: ContainerEdits;
  /** This GPU's /dev/dri card and render nodes, injected with the graphics or display capability. */
  driNodes: DeviceNode[];
}

/** A driver file found by discovery, with the capability it serves. */
export interface DriverFile {
  capability: CapabilityKey;
  kind: 'library' | 'binary' | 'firmware' | 'socket' | 'ipc-dir' | 'icd';
  /** Real path on this machine (root-prefixed with --root). */
  hostPath: string;
  /** Path as it is on the real host (root stripped); also the path in the container. */
  containerPath: string;
}

/** Host tools the post-mount step uses, as real paths on this machine. */
export interface HostTools {
  /** A static ldconfig that takes `-r ROOT` (ldconfig.real on Ubuntu), or "" if none was found. */
  ldconfig: string;
  nsenter: string;
  sh: string;
  /** Any POSIX awk (mawk, gawk, busybox): the post-mount step reads the state and config.json with it. */
  awk: string;
}

/** The driver that was loaded when the manifest was written. */
export interface DriverInfo {
  version: string;
  /** CUDA driver API version the driver supports ("13.0"), from the driver version; "" if unknown. */
  cudaVersion: string;
  /** File the version was read from (a host path). */
  source: string;
}

/** What `oci-gpu watch` / `oci-gpu scan` found; the hook reads only this. */
export interface Manifest {
  schema: typeof MANIFEST_SCHEMA;
  /** ISO-8601 time of the scan that produced this content. */
  generatedAt: string;
  /** The host root that was scanned ("/" on a real host). */
  root: string;
  /** null when no NVIDIA driver is loaded. */
  driver: DriverInfo | null;
  gpus: Gpu[];
  /** Nodes every GPU container gets (nvidiactl); per-capability nodes live in `capabilities`. */
  controlNodes: DeviceNode[];
  /** MIG capability nodes (/dev/nvidia-caps/*): reported, injected only when asked for by name. */
  capNodes: DeviceNode[];
  /** Shared edits per capability: libraries, binaries, firmware, sockets, ICD files, extra nodes. */
  capabilities: Partial<Record<CapabilityKey, ContainerEdits>>;
  /** Every driver file, for status and doctor. */
  files: DriverFile[];
  /** Folders (container paths) holding driver libraries: the ld cache step is run on them. */
  libraryDirs: string[];
  tools: HostTools;
  /** One line per problem seen while scanning (missing or unreadable files). */
  warnings: string[];
}

export type { ContainerEdits, DeviceNode, Mount };
