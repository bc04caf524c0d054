// What `oci-gpu install` places, how it finds the host, and what it records for `oci-gpu uninstall`.

/** What install was asked for. `prefix` is "/" for a real install; any other folder is a self-contained tree (tests). */
export interface InstallOptions {
  prefix: string;
  /** Also place hooks.d/oci-gpu-nvidia-env.json (the precreate hook for every container). */
  nvidiaEnv: boolean;
  /** Register oci-gpu-runtime in <prefix>/etc/docker/daemon.json as runtime "oci-gpu". */
  docker: boolean;
  /** A manifest other than the configured one: passed to the hook, the wrapper and the watcher. */
  manifest: string | null;
}

/** Where a placed file's bytes come from: a file of the build (the hook binary, the CLI bundle) or generated text. */
export type FileSource = { file: string } | { text: string };

/** One file or link install puts on the host (paths already under the prefix). */
export type Placement =
  | {
      kind: 'file';
      path: string;
      mode: number;
      source: FileSource;
      sha256: string;
      /** Written only when absent, never overwritten (the configuration). */
      preserve?: boolean;
    }
  | { kind: 'symlink'; path: string; target: string };

/** What is at a path now. */
export type PathState =
  | { type: 'absent' }
  | { type: 'file'; sha256: string; mode: number }
  | { type: 'symlink'; target: string }
  | { type: 'dir' }
  | { type: 'other' };

/** A file or link as install left it: uninstall removes it only while it is still exactly this. */
export type RecordedPath = { path: string; type: 'file'; sha256: string } | { path: string; type: 'symlink'; target: string };

/** A Docker runtime entry of daemon.json ("runtimes": { "oci-gpu": {...} }). */
export interface DockerRuntime {
  path: string;
  runtimeArgs?: string[];
}

/** What install did to daemon.json. */
export interface DockerRecord {
  file: string;
  runtime: string;
  entry: DockerRuntime;
  /** daemon.json did not exist before install: uninstall removes it when our entry was all it held. */
  createdFile: boolean;
  /** The untouched original, copied once before the first edit (null when install created the file). */
  backup: string | null;
}

/** <prefix>/var/lib/oci-gpu/installed.json: everything install placed, for uninstall. */
export interface InstallRecord {
  schema: 'oci-gpu/installed/v1';
  version: string;
  prefix: string;
  options: { nvidiaEnv: boolean; docker: boolean; manifest: string | null };
  files: RecordedPath[];
  /** Folders install created (shallow first); uninstall removes those left empty. */
  dirs: string[];
  docker: DockerRecord | null;
}

/** Facts about the host that decide which commands install and uninstall run. */
export interface HostFacts {
  /** PID 1 is systemd (/run/systemd/system exists). */
  systemd: boolean;
  /** `systemctl is-enabled` / `is-active` of the watcher's unit (false without systemd). */
  unitEnabled: boolean;
  unitActive: boolean;
  /** Absolute paths of the tools when present, else null. */
  systemctl: string | null;
  systemdTmpfiles: string | null;
  /** udevadm, when udevd is running (its control socket exists). */
  udevadm: string | null;
  /** The package manager already installed oci-gpu (/var/lib/dpkg/info/oci-gpu.list). */
  debInstalled: boolean;
}

/** One step of an install or uninstall plan; `keep` and `leave` change nothing and say why. */
export type InstallAction =
  | { op: 'mkdir'; path: string }
  | { op: 'write'; path: string; mode: number; source: FileSource; why: 'new' | 'changed' | 'replaces another file' }
  | { op: 'chmod'; path: string; mode: number }
  | { op: 'link'; path: string; target: string; why: 'new' | 'changed' | 'replaces another file' }
  | { op: 'copy'; from: string; path: string; why: string }
  | { op: 'keep'; path: string; why: string }
  | { op: 'remove'; path: string; why: string }
  | { op: 'leave'; path: string; why: string }
  | { op: 'rmdir'; path: string }
  | { op: 'record'; path: string; record: InstallRecord | null }
  | { op: 'run'; argv: string[]; why: string };

/** A plan: the steps in order, and what to tell the user after them. */
export interface InstallPlan {
  actions: InstallAction[];
  /** Lines printed after the steps (what to run next, what was left behind). */
  notes: string[];
}
