// Helpers for integration tests that start real containers with Podman (crun and runc).
// The host is prepared by scripts/setup-host.sh: packages, containers.conf ulimits, cgroup fix for
// crun, and the registry-free test image/rootfs below.
import { accessSync, constants } from 'node:fs';
import { execa, execaSync } from 'execa';
import { need, needs, type Gate, type Need } from './needs.js';

export { TEST_ALL } from './needs.js';

export type Runtime = 'crun' | 'runc';
export const RUNTIMES: readonly Runtime[] = ['crun', 'runc'];

/** The image setup-host.sh imports: busybox-static applets + libc6 + libc-bin (/sbin/ldconfig, ld cache). */
export const TEST_IMAGE = 'localhost/oci-gpu-test:latest';
/** The same tree as a directory, for `--rootfs`; shared by every test, so mount it with overlay (`:O`). */
export const TEST_ROOTFS = '/var/lib/oci-gpu-test/rootfs';
export const PODMAN = '/usr/bin/podman';

// Subprocesses get an explicit environment, never the test runner's.
const BASE_ENV: Record<string, string> = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  HOME: process.env['HOME'] ?? '/root',
};

export interface RunOptions {
  /** Milliseconds before the command is killed (default 60 000). */
  timeout?: number;
  /** Added to the minimal PATH/HOME environment. */
  env?: Record<string, string>;
  /** Written to stdin (stdin is otherwise empty). */
  input?: string;
  cwd?: string;
}

export interface RunResult {
  /** The exit status; -1 when the command could not start or was killed by a signal (see `signal`). */
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  signal: string | undefined;
  /** The command line, for assertion messages. */
  command: string;
}

/** Runs cmd with args (no shell); never throws for a failing command: check `exitCode`. */
export async function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await execa(cmd, args, {
    reject: false,
    timeout: opts.timeout ?? 60_000,
    env: { ...BASE_ENV, ...opts.env },
    extendEnv: false,
    input: opts.input ?? '',
    stripFinalNewline: false,
    ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
  });
  // A command that could not start (ENOENT…) has no exit code and its reason only in the message.
  const startFailed = r.exitCode === undefined && r.signal === undefined;
  return {
    exitCode: r.exitCode ?? -1,
    stdout: String(r.stdout ?? ''),
    stderr: startFailed ? `${String(r.stderr ?? '')}${r.shortMessage ?? ''}` : String(r.stderr ?? ''),
    timedOut: r.timedOut,
    signal: r.signal,
    command: r.command,
  };
}

let availability: boolean | undefined;

/** True when running as root with podman, crun, runc and the test image in place (memoized). */
export function podmanAvailable(): boolean {
  if (availability !== undefined) return availability;
  availability = podmanUnavailableReason() === undefined;
  return availability;
}

/** Why podman integration tests cannot run here, or undefined when they can. */
export function podmanUnavailableReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root: podman integration tests need root (run npm run test:all as root)';
  for (const bin of [PODMAN, '/usr/bin/crun', '/usr/sbin/runc']) {
    try {
      accessSync(bin, constants.X_OK);
    } catch {
      return `${bin} is missing: run scripts/setup-host.sh`;
    }
  }
  const r = execaSync(PODMAN, ['image', 'exists', TEST_IMAGE], { reject: false, timeout: 30_000, env: BASE_ENV, extendEnv: false });
  if (r.exitCode !== 0) return `image ${TEST_IMAGE} is missing: run scripts/setup-host.sh`;
  return undefined;
}

export interface PodmanRunOptions {
  runtime: Runtime;
  /** The command inside the container, e.g. ['/bin/true']. */
  args: readonly string[];
  /** `--annotation K=V` each (e.g. { 'oci-gpu/devices': 'all' }). */
  annotations?: Record<string, string>;
  /** `--env K=V` each. */
  env?: Record<string, string>;
  /** `--hooks-dir` (global flag; replaces Podman's default hooks dirs). */
  hooksDir?: string | readonly string[];
  /** `--read-only` rootfs. */
  readOnly?: boolean;
  /** `--device` values: "HOST[:CONTAINER[:PERMS]]". */
  devices?: readonly string[];
  /** `--volume` values: "HOST:CONTAINER[:OPTS]". */
  volumes?: readonly string[];
  /**
   * Run from a directory instead of the image: `true` = TEST_ROOTFS through an overlay (`:O`, so the
   * shared tree is never written), a string = passed to `--rootfs` as is. Default: TEST_IMAGE.
   */
  rootfs?: true | string;
  /** The image when `rootfs` is not set (default TEST_IMAGE). */
  image?: string;
  /** More `podman run` flags, placed before the image. */
  extraArgs?: readonly string[];
  /** More global podman flags, placed before `run`. */
  globalArgs?: readonly string[];
  /** Milliseconds (default 60 000). */
  timeout?: number;
  /** Written to the container's stdin (adds `--interactive`). */
  input?: string;
}

/** The argv (after `podman`) podmanRun uses; exported so tests can show it. */
export function podmanRunArgs(o: PodmanRunOptions): string[] {
  const argv: string[] = ['--runtime', o.runtime];
  const hooksDirs = o.hooksDir === undefined ? [] : typeof o.hooksDir === 'string' ? [o.hooksDir] : o.hooksDir;
  for (const d of hooksDirs) argv.push('--hooks-dir', d);
  argv.push(...(o.globalArgs ?? []));
  argv.push('run', '--rm', '--network', 'none', '--pull', 'never');
  if (o.readOnly) argv.push('--read-only');
  if (o.input !== undefined) argv.push('--interactive');
  for (const [k, v] of Object.entries(o.annotations ?? {})) argv.push('--annotation', `${k}=${v}`);
  for (const [k, v] of Object.entries(o.env ?? {})) argv.push('--env', `${k}=${v}`);
  for (const d of o.devices ?? []) argv.push('--device', d);
  for (const v of o.volumes ?? []) argv.push('--volume', v);
  argv.push(...(o.extraArgs ?? []));
  if (o.rootfs === true) argv.push('--rootfs', `${TEST_ROOTFS}:O`);
  else if (o.rootfs !== undefined) argv.push('--rootfs', o.rootfs);
  else argv.push(o.image ?? TEST_IMAGE);
  argv.push(...o.args);
  return argv;
}

/** Runs one throwaway container (`--rm --network none --pull never`); never throws for a failing container. */
export async function podmanRun(o: PodmanRunOptions): Promise<RunResult> {
  return run(PODMAN, podmanRunArgs(o), {
    timeout: o.timeout ?? 60_000,
    ...(o.input === undefined ? {} : { input: o.input }),
  });
}

/**
 * Creates a device node at path with mknod(1) (root only): a fake /dev/nvidiaN is `mknodFake(p, 195, N)`.
 * Throws with mknod's message when it fails.
 */
export async function mknodFake(path: string, major: number, minor: number, mode = 0o666, type: 'c' | 'b' = 'c'): Promise<void> {
  const r = await run('/usr/bin/mknod', ['-m', mode.toString(8), path, type, String(major), String(minor)]);
  if (r.exitCode !== 0) throw new Error(`mknod ${path} ${type} ${major} ${minor} failed: ${r.stderr.trim()}`);
}

/** Podman with crun, runc and the test image (scripts/setup-host.sh), as root. */
export const PODMAN_NEED: Need = need(() => podmanUnavailableReason());

/**
 * Registers tests that need podman (root, crun, runc, the test image): skipped with the reason in
 * the title when it is missing, except under test:all, where they run and fail with it (see needs.ts).
 */
export function podmanTests(...more: Need[]): Gate {
  return needs(PODMAN_NEED, ...more);
}
