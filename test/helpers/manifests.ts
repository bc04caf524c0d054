// Synthetic Manifest values for tests and benchmarks: N GPUs with chosen minors and models, and a
// realistic set of per-capability driver files, built without touching the filesystem. With a
// `root` other than "/", every node and mount gets a root-prefixed hostPath, as `scan --root` does.
// scanFixture() scans one of the checked-in fixture hosts instead (builds it first; needs root).
import { createHostFs } from '../../src/adapters/host-fs.js';
import { RO_MOUNT, RW_MOUNT } from '../../src/core/manifest/assemble-manifest.js';
import { architectureOfModel, brandOfModel, cudaVersionForDriver } from '../../src/core/manifest/gpu-facts.js';
import { scanHost } from '../../src/discover/scan.js';
import type { ContainerEdits, DeviceNode, Mount } from '../../src/model/edits.js';
import {
  CAPABILITIES,
  MANIFEST_SCHEMA,
  type CapabilityKey,
  type DriverFile,
  type Gpu,
  type HostTools,
  type Manifest,
} from '../../src/model/manifest.js';
import { buildFixtureHost, type FixtureHostName } from '../../scripts/fixture-host.js';

export const DRIVER_VERSION = '580.159.04';
export const NVIDIA_MAJOR = 195;
export const UVM_MAJOR = 511;
export const DRI_MAJOR = 226;

/** One GPU of a synthetic manifest; every field has a default derived from its index. */
export interface GpuOptions {
  /** Device minor (default: the index). */
  minor?: number;
  /** Model name (default "NVIDIA H200"); brand and architecture are derived from it. */
  model?: string;
  uuid?: string;
  /** Lower-case normalised bus id (default from the index, e.g. "0000:1b:00.0"). */
  pciBusId?: string;
  /** Give the GPU /dev/dri card and render nodes (default true). */
  dri?: boolean;
  /** Split the GPU into these MIG devices (GPU instance, compute instance, profile), in enumeration order. */
  mig?: { gi: number; ci: number; profile?: string }[];
}

export interface ManifestOptions {
  /** A count of default GPUs, or one options object per GPU (default 1). */
  gpus?: number | GpuOptions[];
  /** Model of every GPU not given its own (default "NVIDIA H200"). */
  model?: string;
  /** Driver version, or null for a host without a loaded driver (default 580.159.04). */
  driver?: string | null;
  /** Host root: "/" (default) gives no hostPath; anything else prefixes every host path with it. */
  root?: string;
  /** Per-capability files to use instead of the default set (capabilities left out get nothing). */
  files?: Partial<Record<CapabilityKey, string[]>>;
  /** Add MIG capability nodes /dev/nvidia-caps/nvidia-cap1 and 2 (default false). */
  capNodes?: boolean;
  /** Host tools (default: ldconfig, nsenter, sh, awk and mount under the root). */
  tools?: Partial<HostTools>;
  /** IMEX channel nodes channel0..N-1 (default 0). */
  imexChannels?: number;
  /** The masked params file the manifest names (default null). */
  paramsMask?: string | null;
}

export const CAPS_MAJOR = 237;
export const IMEX_MAJOR = 236;

/** A deterministic MIG device UUID for a GPU index and MIG index. */
export function migUuid(gpu: number, mig: number): string {
  return `MIG-${(gpu + 1).toString(16).padStart(8, '0')}-1111-2222-3333-${(mig + 1).toString(16).padStart(12, '0')}`;
}

/** The capability minor of a GPU instance or compute instance, laid out like /proc/driver/nvidia-caps/mig-minors. */
export function migCapMinor(gpuMinor: number, gi: number, ci?: number): number {
  return 3 + gpuMinor * 132 + gi * 9 + (ci === undefined ? 0 : ci + 1);
}

/** Container paths of the default driver files, per capability. */
export function defaultFiles(version = DRIVER_VERSION): Record<CapabilityKey, string[]> {
  const lib = (name: string) => `/usr/lib/x86_64-linux-gnu/${name}.so.${version}`;
  return {
    utility: ['/usr/bin/nvidia-smi', lib('libnvidia-ml'), lib('libnvidia-cfg'), `/lib/firmware/nvidia/${version}/gsp_ga10x.bin`],
    compute: [lib('libcuda'), lib('libnvidia-ptxjitcompiler'), lib('libnvidia-nvvm'), '/usr/bin/nvidia-cuda-mps-control', '/tmp/nvidia-mps'],
    video: [lib('libnvcuvid'), lib('libnvidia-encode')],
    graphics: [lib('libGLX_nvidia'), lib('libEGL_nvidia'), lib('libnvidia-glcore'), '/usr/share/vulkan/icd.d/nvidia_icd.json'],
    display: [],
    ngx: [lib('libnvidia-ngx')],
    compat32: [`/usr/lib/i386-linux-gnu/libcuda.so.${version}`],
    unclassified: [lib('libnvidia-future')],
  };
}

/** A character device node, with hostPath under `root` when root is not "/". */
export function charNode(path: string, major: number, minor: number, root = '/', fileMode = 0o666): DeviceNode {
  const node: DeviceNode = { path, type: 'c', major, minor, fileMode, uid: 0, gid: 0 };
  if (root !== '/') node.hostPath = hostPathOf(root, path);
  return node;
}

/** The bind mount of a driver file: read-only, or read-write for the MPS pipe folder. */
export function fileMount(containerPath: string, root = '/'): Mount {
  return { hostPath: hostPathOf(root, containerPath), containerPath, options: containerPath === '/tmp/nvidia-mps' ? RW_MOUNT : RO_MOUNT };
}

/** A deterministic, well-formed GPU UUID for an index. */
export function gpuUuid(index: number): string {
  const hex = (index + 1).toString(16).padStart(12, '0');
  return `GPU-0b1e5a3c-7d2f-4a6b-9c8d-${hex}`;
}

/** A deterministic PCI bus id for an index: 0000:<bus>:00.0, buses spread like a real 8-GPU box. */
export function gpuPciBusId(index: number): string {
  const bus = (0x18 + index * 0x11) % 0x100;
  const domain = Math.floor((0x18 + index * 0x11) / 0x100);
  return `${domain.toString(16).padStart(4, '0')}:${bus.toString(16).padStart(2, '0')}:00.0`;
}

/** Returns a Manifest of `gpus` GPUs and the default (or given) driver files; never touches the filesystem. */
export function buildManifest(options: ManifestOptions = {}): Manifest {
  const root = options.root ?? '/';
  const version = options.driver === undefined ? DRIVER_VERSION : options.driver;
  const specs: GpuOptions[] = typeof options.gpus === 'number' || options.gpus === undefined
    ? Array.from({ length: options.gpus ?? 1 }, () => ({}))
    : options.gpus;
  const tools: HostTools = {
    ldconfig: hostPathOf(root, '/sbin/ldconfig.real'),
    nsenter: hostPathOf(root, '/usr/bin/nsenter'),
    sh: hostPathOf(root, '/bin/sh'),
    awk: hostPathOf(root, '/usr/bin/awk'),
    mount: hostPathOf(root, '/usr/bin/mount'),
    ...options.tools,
  };
  if (version === null) {
    return {
      schema: MANIFEST_SCHEMA,
      generatedAt: '2026-01-01T00:00:00.000Z',
      root,
      driver: null,
      gpus: [],
      controlNodes: [],
      capNodes: [],
      imexChannels: [],
      paramsMask: null,
      capabilities: {},
      files: [],
      libraryDirs: [],
      tools,
      warnings: [],
    };
  }

  let render = 128;
  const gpus: Gpu[] = specs.map((spec, index) => {
    const minor = spec.minor ?? index;
    const model = spec.model ?? options.model ?? 'NVIDIA H200';
    const dri = spec.dri === false ? [] : [charNode(`/dev/dri/card${index + 1}`, DRI_MAJOR, index + 1, root, 0o660), charNode(`/dev/dri/renderD${render}`, DRI_MAJOR, render, root)];
    render++;
    return {
      index,
      uuid: spec.uuid ?? gpuUuid(index),
      pciBusId: spec.pciBusId ?? gpuPciBusId(index),
      model,
      minor,
      brand: brandOfModel(model),
      architecture: architectureOfModel(model),
      edits: { deviceNodes: [charNode(`/dev/nvidia${minor}`, NVIDIA_MAJOR, minor, root)] },
      driNodes: dri,
      mig: spec.mig
        ? spec.mig.map((m, i) => ({
            index: i,
            uuid: migUuid(index, i),
            gpuInstance: m.gi,
            computeInstance: m.ci,
            profile: m.profile ?? '1g.18gb',
            edits: {
              deviceNodes: [
                charNode(`/dev/nvidia-caps/nvidia-cap${migCapMinor(minor, m.gi)}`, CAPS_MAJOR, migCapMinor(minor, m.gi), root, 0o444),
                charNode(`/dev/nvidia-caps/nvidia-cap${migCapMinor(minor, m.gi, m.ci)}`, CAPS_MAJOR, migCapMinor(minor, m.gi, m.ci), root, 0o444),
              ],
            },
          }))
        : null,
    };
  });

  const perCap = options.files ?? defaultFiles(version);
  const files: DriverFile[] = [];
  const capabilities: Partial<Record<CapabilityKey, ContainerEdits>> = {};
  for (const cap of [...CAPABILITIES, 'unclassified'] as CapabilityKey[]) {
    const paths = perCap[cap] ?? [];
    const nodes =
      cap === 'compute' ? [charNode('/dev/nvidia-uvm', UVM_MAJOR, 0, root), charNode('/dev/nvidia-uvm-tools', UVM_MAJOR, 1, root)]
      : cap === 'display' ? [charNode('/dev/nvidia-modeset', NVIDIA_MAJOR, 254, root)]
      : [];
    if (!paths.length && !nodes.length) continue;
    for (const p of paths) files.push({ capability: cap, kind: kindOf(p), hostPath: hostPathOf(root, p), containerPath: p });
    capabilities[cap] = { env: [], deviceNodes: nodes, mounts: [...paths].sort().map((p) => fileMount(p, root)), hooks: [] };
  }
  files.sort((a, b) => (a.containerPath < b.containerPath ? -1 : a.containerPath > b.containerPath ? 1 : 0));
  const libraryDirs = [...new Set(files.filter((f) => f.kind === 'library').map((f) => f.containerPath.slice(0, f.containerPath.lastIndexOf('/'))))].sort();

  return {
    schema: MANIFEST_SCHEMA,
    generatedAt: '2026-01-01T00:00:00.000Z',
    root,
    driver: { version, cudaVersion: cudaVersionForDriver(version), source: hostPathOf(root, '/sys/module/nvidia/version'), maskedParams: 'ResmanDebugLevel: 4294967295\nModifyDeviceFiles: 0\n' },
    gpus,
    controlNodes: [charNode('/dev/nvidiactl', NVIDIA_MAJOR, 255, root)],
    capNodes: options.capNodes
      ? [charNode('/dev/nvidia-caps/nvidia-cap1', CAPS_MAJOR, 1, root, 0o400), charNode('/dev/nvidia-caps/nvidia-cap2', CAPS_MAJOR, 2, root, 0o444)]
      : [],
    imexChannels: Array.from({ length: options.imexChannels ?? 0 }, (_, n) => charNode(`/dev/nvidia-caps-imex-channels/channel${n}`, IMEX_MAJOR, n, root)),
    paramsMask: options.paramsMask ?? null,
    capabilities,
    files,
    libraryDirs,
    tools,
    warnings: [],
  };
}

/** Every container path the edits mount, in order. */
export function mountedPaths(edits: ContainerEdits): string[] {
  return (edits.mounts ?? []).map((m) => m.containerPath);
}

/** Every device node path of the edits, in order. */
export function nodePaths(edits: ContainerEdits): string[] {
  return (edits.deviceNodes ?? []).map((n) => n.path);
}

const scanned = new Map<FixtureHostName, Manifest>();

/**
 * Builds (cached) and scans a fixture host from test/fixtures/hosts: the manifest `oci-gpu scan --root` writes.
 * Needs root and gcc (buildFixtureHost); each call returns a fresh deep copy.
 */
export function scanFixture(name: FixtureHostName): Manifest {
  let m = scanned.get(name);
  if (!m) {
    m = scanHost(createHostFs(buildFixtureHost(name)), new Date('2026-01-01T00:00:00Z'));
    scanned.set(name, m);
  }
  return structuredClone(m);
}

function hostPathOf(root: string, path: string): string {
  return root === '/' ? path : `${root.replace(/\/+$/, '')}${path}`;
}

function kindOf(p: string): DriverFile['kind'] {
  if (p.includes('/firmware/')) return 'firmware';
  if (p.endsWith('.json')) return 'icd';
  if (p === '/tmp/nvidia-mps') return 'ipc-dir';
  if (p.includes('/bin/')) return 'binary';
  return 'library';
}

/** Freezes a value and everything under it, so a function that mutates it throws (ESM code is strict). */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
