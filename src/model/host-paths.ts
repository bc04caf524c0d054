// Where the NVIDIA driver shows itself on a host (host paths, before any --root).

/** Version files in the order they are trusted; the first is one tiny read. */
export const DRIVER_VERSION_FILES = ['/sys/module/nvidia/version', '/proc/driver/nvidia/version'];
/** One folder per GPU, each with an `information` file. */
export const GPUS_DIR = '/proc/driver/nvidia/gpus';
export const LD_CACHE = '/etc/ld.so.cache';
/** The driver's module parameters; containers get a copy with ModifyDeviceFiles: 0 over it. */
export const DRIVER_PARAMS = '/proc/driver/nvidia/params';
/** Per GPU minor, its MIG GPU and compute instances: capabilities/gpu<minor>/mig/gi<g>[/ci<c>]/access. */
export const CAPABILITIES_DIR = '/proc/driver/nvidia/capabilities';
/** IMEX channel nodes: channel<N>. */
export const IMEX_CHANNELS_DIR = '/dev/nvidia-caps-imex-channels';
/** Library subfolders holding driver modules that are loaded by path (not through the ld cache). */
export const LIBRARY_SUBDIRS = ['vdpau', 'xorg/modules/extensions', 'xorg/modules/drivers', 'nvidia/xorg'];
