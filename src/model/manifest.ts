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
  /**
   * The GPU's MIG devices when it is partitioned (a container then gets a MIG device, never the
   * whole GPU), or null when it has no MIG instances.
   */
  mig: MigDevice[] | null;
}

/** One MIG device: a compute instance inside a GPU instance of a MIG-partitioned GPU. */
export interface MigDevice {
  /** 0..n-1 in the order the driver enumerates this GPU's MIG devices: the M of "<gpu>:<M>". */
  index: number;
  /** "MIG-…" */
  uuid: string;
  gpuInstance: number;
  computeInstance: number;
  /** The profile as nvidia-smi names it ("1g.10gb"), or "" when unknown. */
  profile: string;
  /** The capability nodes of its GPU instance and compute instance (/dev/nvidia-caps/nvidia-cap<N>). */
  edits: ContainerEdits;
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
  /** util-linux mount: the post-mount step puts the masked driver params over /proc/driver/nvidia/params. */
  mount: string;
}

/** The driver that was loaded when the manifest was written. */
export interface DriverInfo {
  version: string;
  /** CUDA driver API version the driver supports ("13.0"), from the driver version; "" if unknown. */
  cudaVersion: string;
  /** File the version was read from (a host path). */
  source: string;
  /**
   * /proc/driver/nvidia/params with ModifyDeviceFiles set to 0, the content containers see in its
   * place (NVML in a container must not try to create device nodes); "" when the host has none.
   */
  maskedParams: string;
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
  /** MIG capability nodes (/dev/nvidia-caps/*): reported; a MIG device's own are in its edits. */
  capNodes: DeviceNode[];
  /** IMEX channel nodes (/dev/nvidia-caps-imex-channels/channel<N>), by channel number. */
  imexChannels: DeviceNode[];
  /**
   * The host file holding driver.maskedParams, written beside the manifest by whoever wrote the
   * manifest (the watcher, `oci-gpu scan --output`); null when none was written.
   */
  paramsMask: string | null;
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
