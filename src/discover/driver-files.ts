import path from 'node:path/posix';
import type { HostFs } from '../adapters/host-fs.js';
import { BINARIES } from '../core/manifest/classify.js';
import type { CapabilityKey, DriverFile } from '../model/manifest.js';

const BIN_DIRS = ['/usr/bin', '/usr/sbin', '/bin', '/sbin', '/usr/local/bin', '/usr/local/sbin'];
const FIRMWARE_DIRS = ['/lib/firmware/nvidia', '/usr/lib/firmware/nvidia'];

/** Folders of the JSON and ICD files loaders read (standard container locations), with the names that are NVIDIA's. */
const CONFIG_DIRS: [string, RegExp, CapabilityKey][] = [
  ['/usr/share/vulkan/icd.d', /^nvidia_icd(\.[\w-]+)?\.json$/, 'graphics'],
  ['/etc/vulkan/icd.d', /^nvidia_icd(\.[\w-]+)?\.json$/, 'graphics'],
  ['/usr/share/vulkan/implicit_layer.d', /^nvidia_layers(\.[\w-]+)?\.json$/, 'graphics'],
  ['/etc/vulkan/implicit_layer.d', /^nvidia_layers(\.[\w-]+)?\.json$/, 'graphics'],
  ['/usr/share/glvnd/egl_vendor.d', /^\d*_nvidia\.json$/, 'graphics'],
  ['/etc/glvnd/egl_vendor.d', /^\d*_nvidia\.json$/, 'graphics'],
  ['/usr/share/egl/egl_external_platform.d', /^\d*_nvidia_\w+\.json$/, 'graphics'],
  ['/etc/OpenCL/vendors', /^nvidia\.icd$/, 'compute'],
];

const SOCKETS: [string, CapabilityKey][] = [
  ['/run/nvidia-persistenced/socket', 'utility'],
  ['/run/nvidia-fabricmanager/socket', 'compute'],
];
const MPS_PIPE_DIR = '/tmp/nvidia-mps';

/**
 * Driver folders: the parents of the library folders ("/usr/local/nvidia" for
 * "/usr/local/nvidia/lib64"), where a self-contained driver keeps bin/, firmware/ and share/.
 */
export function driverRoots(libraries: DriverFile[]): string[] {
  const roots = new Set<string>();
  for (const lib of libraries) roots.add(path.dirname(path.dirname(lib.containerPath)));
  return [...roots].filter((r) => r !== '/' && r !== '/usr').sort();
}

/** Returns the driver's binaries: first match per name in the driver's bin folders, then the usual PATH folders; binaries go to /usr/bin in the container so they are on PATH. */
export function discoverBinaries(fs: HostFs, roots: string[]): DriverFile[] {
  const dirs = [...roots.map((r) => `${r}/bin`), ...BIN_DIRS];
  const out: DriverFile[] = [];
  for (const [name, capability] of Object.entries(BINARIES)) {
    for (const dir of dirs) {
      const target = fs.resolve(`${dir}/${name}`);
      const s = fs.stat(target);
      if (s?.kind === 'file' && (s.mode & 0o111) !== 0) {
        out.push({ capability, kind: 'binary', hostPath: fs.real(target), containerPath: `/usr/bin/${name}` });
        break;
      }
    }
  }
  return out;
}

/** Returns GSP firmware files (gsp*.bin) of the running version, from /lib/firmware and the driver folders. */
export function discoverFirmware(fs: HostFs, version: string, roots: string[]): DriverFile[] {
  const dirs = [...FIRMWARE_DIRS, ...roots.map((r) => `${r}/firmware/nvidia`)].map((d) => `${d}/${version}`);
  return uniqueBy(
    dirs.flatMap((dir) =>
      fs
        .list(dir)
        .filter((n) => /^gsp.*\.bin$/.test(n))
        .map((n) => fs.resolve(`${dir}/${n}`))
        .filter((p) => fs.stat(p)?.kind === 'file')
        .map((p): DriverFile => ({ capability: 'utility', kind: 'firmware', hostPath: fs.real(p), containerPath: p })),
    ),
  );
}

/** Returns the IPC endpoints that exist: persistenced and fabricmanager sockets, the MPS pipe folder. */
export function discoverIpc(fs: HostFs): DriverFile[] {
  const out: DriverFile[] = [];
  for (const [p, capability] of SOCKETS) {
    if (fs.stat(p)?.kind === 'socket') out.push({ capability, kind: 'socket', hostPath: fs.real(p), containerPath: p });
  }
  if (fs.stat(MPS_PIPE_DIR)?.kind === 'dir') {
    out.push({ capability: 'compute', kind: 'ipc-dir', hostPath: fs.real(MPS_PIPE_DIR), containerPath: MPS_PIPE_DIR });
  }
  return out;
}

/**
 * Returns Vulkan ICD/layer, EGL vendor/platform and OpenCL ICD files. A copy inside a driver folder
 * ("/usr/local/nvidia/share/vulkan/…") goes to the standard container path ("/usr/share/vulkan/…");
 * the standard host file wins when both exist.
 */
export function discoverConfigFiles(fs: HostFs, roots: string[]): DriverFile[] {
  const candidates: DriverFile[] = [];
  for (const prefix of ['', ...roots]) {
    for (const [std, pattern, capability] of CONFIG_DIRS) {
      const dir = prefix ? prefix + std.replace(/^\/usr\/share\//, '/share/') : std;
      for (const name of fs.list(dir).filter((n) => pattern.test(n))) {
        const target = fs.resolve(`${dir}/${name}`);
        if (fs.stat(target)?.kind === 'file') candidates.push({ capability, kind: 'icd', hostPath: fs.real(target), containerPath: `${std}/${name}` });
      }
    }
  }
  return uniqueBy(candidates);
}

function uniqueBy(files: DriverFile[]): DriverFile[] {
  const seen = new Set<string>();
  return files.filter((f) => !seen.has(f.containerPath) && seen.add(f.containerPath));
}
