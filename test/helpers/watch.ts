// Runs `oci-gpu watch` as a real subprocess against a copied fixture host, for integration tests and the bench.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { copyFixtureHost, type FixtureHostName } from '../../scripts/fixture-host.js';
import { CLI_BIN } from './binary.js';

/** The shipped binary (build it first: `await cliBinary()` from binary.ts in a before hook). */
export const CLI = CLI_BIN;

/** The files of one watcher run: a copied host tree, and an output folder for manifest, CDI spec and status. */
export interface WatchPaths {
  root: string;
  out: string;
  manifest: string;
  cdi: string;
  status: string;
  config: string;
}

/** Settings for the temp config.json5 (nested, as the file holds them). Tests default to fast, event-only rescans. */
export type WatchSettings = Record<string, Record<string, unknown> | string | number | boolean>;

export const TEST_SETTINGS: WatchSettings = { watch: { debounceMs: 50, stableScans: 2, safetyRescanSeconds: 0, udev: false } };

/** Copies a fixture host to a temp dir and makes an output folder beside it; `cleanup` removes both. */
export function makeWatchPaths(host: FixtureHostName = 'h200', settings: WatchSettings = TEST_SETTINGS): WatchPaths & { cleanup(): void } {
  const root = copyFixtureHost(host);
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'oci-gpu-watch-out-'));
  const paths = {
    root,
    out,
    manifest: path.join(out, 'run/manifest.json'),
    cdi: path.join(out, 'cdi/oci-gpu.json'),
    status: path.join(out, 'run/watch-status.json'),
    config: path.join(out, 'config.json5'),
  };
  writeConfig(paths.config, settings);
  return {
    ...paths,
    cleanup() {
      fs.rmSync(root, { recursive: true, force: true });
      fs.rmSync(out, { recursive: true, force: true });
    },
  };
}

/** Writes a config.json5 holding `settings`. */
export function writeConfig(file: string, settings: WatchSettings): void {
  fs.writeFileSync(file, `// written by a test\n${JSON.stringify(settings, null, 2)}\n`);
}

/** A running `oci-gpu watch`. */
export class WatchProcess {
  readonly lines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private notifier: ChildProcess | null = null;
  private readyMessages: string[] = [];

  constructor(
    readonly child: ChildProcess,
    notifier: ChildProcess | null,
  ) {
    this.notifier = notifier;
    let partial = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      this.lines.push(...parts);
    });
    child.stdout!.resume();
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    if (notifier) {
      notifier.stdout!.setEncoding('utf8');
      notifier.stdout!.on('data', (chunk: string) => this.readyMessages.push(...chunk.split('\n').filter(Boolean)));
    }
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** What the daemon sent to $NOTIFY_SOCKET (one entry per datagram, newlines shown as spaces). */
  get notifications(): string[] {
    return [...this.readyMessages];
  }

  /** Resolves when the daemon has told the notify socket READY=1 (start with `notify: true`). */
  async ready(timeoutMs = 20_000): Promise<void> {
    if (!this.notifier) throw new Error('started without notify: true');
    await eventually(() => this.readyMessages.some((m) => m.split(' ').includes('READY=1')), { timeoutMs, what: `READY=1 from pid ${this.pid}; log:\n${this.log()}` });
  }

  /** Resolves with the first log line matching `re` (searching from line `from`). */
  async waitForLine(re: RegExp, timeoutMs = 20_000, from = 0): Promise<string> {
    return eventually(() => this.lines.slice(from).find((l) => re.test(l)), { timeoutMs, what: `a log line matching ${re}; log:\n${this.log()}` });
  }

  /** The log so far, and how the process ended if it did: for failure messages. */
  log(): string {
    const ended = this.child.exitCode !== null || this.child.signalCode !== null ? `\n[exited: code ${this.child.exitCode}, signal ${this.child.signalCode}]` : '';
    return this.lines.join('\n') + ended;
  }

  /** Sends `signal` and resolves with how it exited. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 20_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`pid ${this.pid} did not exit within ${timeoutMs} ms of ${signal}`)), timeoutMs).unref());
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      this.notifier?.kill('SIGTERM');
    }
  }
}

/**
 * Starts `build/oci-gpu watch` (the shipped binary) on `paths`. With `notify`, a tiny python3 listener plays systemd's
 * notify socket, so `ready()` waits for the daemon's own readiness signal instead of guessing.
 * `logLevel` defaults to debug (tests count events); null leaves the flag out so the config decides.
 */
export function startWatch(
  paths: WatchPaths,
  options: {
    notify?: boolean;
    logLevel?: string | null;
    extraArgs?: string[];
    /** More environment (e.g. WATCHDOG_USEC). */
    env?: Record<string, string>;
    /** Started under this umask (through sh, which then execs the binary: the pid stays the daemon's). */
    umask?: number;
    /** JOURNAL_STREAM set to its stderr's device:inode, as systemd does when stderr is the journal. */
    journalStream?: boolean;
  } = {},
): WatchProcess {
  let notifier: ChildProcess | null = null;
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...options.env };
  if (options.notify) {
    const socket = path.join(paths.out, `notify-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}.sock`);
    notifier = spawn('python3', ['-u', '-c', NOTIFY_LISTENER, socket], { stdio: ['ignore', 'pipe', 'inherit'] });
    waitSync(() => fs.existsSync(socket), 10_000, `python3 notify listener on ${socket}`);
    env.NOTIFY_SOCKET = socket;
  }
  const args = ['watch', '--root', paths.root, '--manifest', paths.manifest, '--cdi', paths.cdi, '--config', paths.config, ...(options.logLevel === null ? [] : ['--log-level', options.logLevel ?? 'debug']), ...(options.extraArgs ?? [])];
  const prelude = [
    ...(options.umask === undefined ? [] : [`umask ${options.umask.toString(8).padStart(3, '0')}`]),
    ...(options.journalStream ? ['JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2); export JOURNAL_STREAM'] : []),
  ];
  const child = prelude.length
    ? spawn('/bin/sh', ['-c', `${prelude.join('; ')}; exec "$0" "$@"`, CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env })
    : spawn(CLI, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  return new WatchProcess(child, notifier);
}

// Binds a unix datagram socket like systemd's notify socket and prints each message on one line.
const NOTIFY_LISTENER = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
while True:
    print(s.recv(65536).decode('utf-8', 'replace').replace('\\n', ' '), flush=True)
`;

/** Polls `check` until it returns something truthy; throws naming `what` after `timeoutMs` (a generous upper bound, never a timing assertion). */
export async function eventually<T>(check: () => T | undefined | null | false, options: { timeoutMs?: number; intervalMs?: number; what: string }): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  let lastError: unknown;
  for (;;) {
    try {
      const value = check();
      if (value) return value;
    } catch (error) {
      lastError = error; // a file caught mid-change: try again
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${options.timeoutMs ?? 20_000} ms waiting for ${options.what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
    }
    await sleep(options.intervalMs ?? 20);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function waitSync(check: () => boolean, timeoutMs: number, what: string): void {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
  }
}

/** Parsed JSON of a file, or null when it does not exist. Throws on unparsable content. */
export function readJson<T = any>(file: string): T | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  return JSON.parse(text) as T;
}

/** Runs the shipped CLI to completion. */
export function runCli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(CLI, args, { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Atomic-write temp files (".name.pid.x.tmp") left in `dir` and its subfolders. */
export function tempFiles(dir: string): string[] {
  const found: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.name.startsWith('.') && e.name.endsWith('.tmp')) found.push(path.join(e.parentPath ?? (e as any).path, e.name));
  }
  return found;
}

/** A second GPU as the driver shows it: /proc/driver/nvidia/gpus/<bus>/information and /dev/nvidia<minor>. */
export interface FakeGpu {
  minor: number;
  bus: string;
  uuid: string;
}

export const SECOND_GPU: FakeGpu = { minor: 1, bus: '0000:00:07.0', uuid: 'GPU-1b472ccd-7f02-9c7a-ca0f-35527f14b321' };

/** Adds a GPU: its information file first, then its device node (as the driver does), so one event sees both. */
export function addGpu(root: string, gpu: FakeGpu = SECOND_GPU): void {
  const dir = path.join(root, 'proc/driver/nvidia/gpus', gpu.bus);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'information'),
    `Model: \t\t NVIDIA H200\nIRQ:   \t\t 42\nGPU UUID: \t ${gpu.uuid}\nVideo BIOS: \t 96.00.a5.00.1a\nBus Type: \t PCIe\nDMA Size: \t 52 bits\nDMA Mask: \t 0xfffffffffffff\nBus Location: \t ${gpu.bus}\nDevice Minor: \t ${gpu.minor}\nGPU Firmware: \t 580.159.04\nGPU Excluded:\t No\n`,
  );
  const node = path.join(root, `dev/nvidia${gpu.minor}`);
  fs.rmSync(node, { force: true });
  const r = spawnSync('mknod', ['-m', '0666', node, 'c', '195', String(gpu.minor)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mknod ${node}: ${r.stderr}`);
}

/** Removes what addGpu made. */
export function removeGpu(root: string, gpu: FakeGpu = SECOND_GPU): void {
  fs.rmSync(path.join(root, 'proc/driver/nvidia/gpus', gpu.bus), { recursive: true, force: true });
  fs.rmSync(path.join(root, `dev/nvidia${gpu.minor}`), { force: true });
}

/** The driver version the fixture hosts run. */
export const FIXTURE_DRIVER = '580.159.04';

/**
 * A driver upgrade as an installer does it, in the order that hurts: the kernel side first (version
 * files, invisible to inotify), then every file named for `from` renamed to `to` with its links
 * re-pointed, then etc/ld.so.cache regenerated with this machine's `ldconfig -X -r TREE`.
 */
export function upgradeDriver(root: string, from: string, to: string): void {
  for (const rel of ['sys/module/nvidia/version', 'proc/driver/nvidia/version', ...fs.readdirSync(path.join(root, 'proc/driver/nvidia/gpus')).map((b) => `proc/driver/nvidia/gpus/${b}/information`)]) {
    const file = path.join(root, rel);
    if (fs.existsSync(file)) fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replaceAll(from, to));
  }
  const fw = path.join(root, 'usr/local/nvidia/firmware/nvidia');
  if (fs.existsSync(path.join(fw, from))) fs.renameSync(path.join(fw, from), path.join(fw, to));
  for (const dir of ['usr/local/nvidia/lib64', 'usr/local/nvidia/lib64/vdpau', 'usr/local/nvidia/lib']) {
    const full = path.join(root, dir);
    if (!fs.existsSync(full)) continue;
    for (const name of fs.readdirSync(full)) {
      const file = path.join(full, name);
      const st = fs.lstatSync(file);
      if (st.isSymbolicLink()) {
        const target = fs.readlinkSync(file);
        if (target.includes(from)) {
          fs.rmSync(file);
          fs.symlinkSync(target.replaceAll(from, to), file);
        }
      }
      if (name.includes(from)) fs.renameSync(file, path.join(full, name.replaceAll(from, to)));
    }
  }
  regenerateLdCache(root);
}

/** Regenerates `<root>/etc/ld.so.cache` from the tree's ld.so.conf, creating no links (as the fixture builder does). */
export function regenerateLdCache(root: string): void {
  const r = spawnSync('/usr/sbin/ldconfig', ['-X', '-r', root], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ldconfig -X -r ${root}: ${r.stderr}`);
  fs.rmSync(path.join(root, 'var/cache/ldconfig'), { recursive: true, force: true });
}

/** Removes what a loaded NVIDIA driver shows: its version files, /proc/driver/nvidia and every /dev/nvidia* node. */
export function unloadDriver(root: string): void {
  fs.rmSync(path.join(root, 'sys/module/nvidia'), { recursive: true, force: true });
  fs.rmSync(path.join(root, 'proc/driver/nvidia'), { recursive: true, force: true });
  for (const name of fs.readdirSync(path.join(root, 'dev'))) {
    if (name.startsWith('nvidia')) fs.rmSync(path.join(root, 'dev', name), { recursive: true, force: true });
  }
}
