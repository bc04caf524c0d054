import type { CapabilityKey } from '../../model/manifest.js';

// Driver libraries per capability, after NVIDIA's own lists (libnvidia-container), by name before ".so".
const LIBRARIES: Record<Exclude<CapabilityKey, 'compat32' | 'unclassified'>, string[]> = {
  utility: ['libnvidia-ml', 'libnvidia-cfg', 'libnvidia-nscq'],
  compute: [
    'libcuda',
    'libcudadebugger',
    'libnvidia-opencl',
    'libnvidia-gpucomp',
    'libnvidia-ptxjitcompiler',
    'libnvidia-fatbinaryloader',
    'libnvidia-allocator',
    'libnvidia-compiler',
    'libnvidia-pkcs11',
    'libnvidia-pkcs11-openssl3',
    'libnvidia-nvvm',
  ],
  video: ['libvdpau_nvidia', 'libnvidia-encode', 'libnvidia-opticalflow', 'libnvcuvid'],
  graphics: [
    'libnvidia-eglcore',
    'libnvidia-glcore',
    'libnvidia-tls',
    'libnvidia-glsi',
    'libnvidia-fbc',
    'libnvidia-ifr',
    'libnvidia-rtcore',
    'libnvoptix',
    'libGLX_nvidia',
    'libEGL_nvidia',
    'libGLESv2_nvidia',
    'libGLESv1_CM_nvidia',
    'libnvidia-glvkspirv',
    'libnvidia-cbl',
    'libnvidia-vksc-core',
    'nvidia-drm_gbm',
  ],
  ngx: ['libnvidia-ngx'],
  display: ['libglxserver_nvidia', 'nvidia_drv'],
};

const BY_NAME = new Map<string, CapabilityKey>(
  Object.entries(LIBRARIES).flatMap(([cap, names]) => names.map((n) => [n, cap as CapabilityKey] as const)),
);

/** Binaries per capability (NVIDIA's lists). */
export const BINARIES: Record<string, CapabilityKey> = {
  'nvidia-smi': 'utility',
  'nvidia-debugdump': 'utility',
  'nvidia-persistenced': 'utility',
  'nvidia-cuda-mps-control': 'compute',
  'nvidia-cuda-mps-server': 'compute',
};

/**
 * Returns the capability of a driver library file ("libcuda.so.580.159.04" → compute); 32-bit
 * libraries are compat32; names on no list are "unclassified".
 */
export function classifyLibrary(fileName: string, is32bit: boolean): CapabilityKey {
  if (is32bit) return 'compat32';
  const stem = fileName.replace(/\.so(\..*)?$/, '');
  return BY_NAME.get(stem) ?? 'unclassified';
}

/** Returns true when a file name carries exactly the driver version as its suffix (".so.580.159.04"). */
export function hasDriverVersion(fileName: string, version: string): boolean {
  return fileName.endsWith(`.so.${version}`);
}
