/** /etc/oci-gpu/config.json5, resolved: every field present. */
export interface Config {
  /** Where the watcher writes and the hook reads the manifest. */
  manifest: string;
  /** Host root to scan ("/" on a real host). */
  root: string;
  cdi: {
    /** Write a CDI spec beside the manifest. */
    enabled: boolean;
    path: string;
    kind: string;
  };
  hook: {
    /** What the hook does when the manifest's driver is not the loaded one: refuse, or rescan once inline. */
    onDriverMismatch: 'fail' | 'rescan';
    /** The CLI run for an inline rescan. */
    scanCommand: string;
  };
  runtime: {
    /** The OCI runtime oci-gpu-runtime runs after editing the bundle. */
    path: string;
  };
  container: {
    /** Put /proc/driver/nvidia/params with ModifyDeviceFiles: 0 over the container's. */
    maskDriverParams: boolean;
    /** Put the image's /usr/local/cuda/compat first in its ld cache when its libcuda is newer than the driver. */
    cudaCompat: boolean;
  };
  watch: {
    debounceMs: number;
    /** Rescan this often even without events (for /proc and /sys, which inotify cannot see). */
    safetyRescanSeconds: number;
    /** Equal consecutive scans needed before a changed manifest is written. */
    stableScans: number;
    /** Listen to `udevadm monitor` when udevadm exists. */
    udev: boolean;
    /** Keep /dev/char/<major>:<minor> links for NVIDIA nodes (systemd resolves device rules through them). */
    charLinks: boolean;
    /** Hold GPU nodes open when no nvidia-persistenced runs, so containers skip the driver's cold start. */
    keepWarm: boolean;
  };
  log: {
    level: 'error' | 'warn' | 'info' | 'debug';
    format: 'text' | 'json';
    /** The syslog socket refusals are sent to; "" for none. */
    syslog: string;
  };
}
