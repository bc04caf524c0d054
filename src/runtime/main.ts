// A pass-through (state, kill, delete, start, features…) loads no more than this file and errors.ts:
// the config is read only when no --runtime is given or the bundle is edited, and the edit's modules
// (manifest, planning) only on create and run.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { errorLine, exitCodeOf, reasonOf, UsageError } from '../errors.js';
import type { Config } from '../model/config.js';

export const RUNTIME_HELP = `Usage: oci-gpu-runtime [--runtime PATH] [--manifest FILE] [--config FILE] <runc arguments>

An OCI runtime wrapper for Docker (--runtime / daemon.json "runtimes") and bare use: on
\`create\` and \`run\` it adds the GPUs the container asks for (annotation oci-gpu/devices or
NVIDIA_VISIBLE_DEVICES) to the bundle's config.json, then runs the real runtime with every
argument unchanged. Every other subcommand passes straight through.

  --runtime PATH   the real runtime (default from config: /usr/bin/runc)
  --manifest FILE  the manifest (default /run/oci-gpu/manifest.json)
  --config FILE    configuration (default /etc/oci-gpu/config.json5)
Our options come first; Docker passes them through "runtimeArgs" in daemon.json.
`;

// runc/crun global flags that take a value: needed to find the subcommand.
const GLOBAL_WITH_VALUE = new Set(['--root', '--log', '--log-format', '--criu', '--rootless', '--cgroup-manager']);

/** Splits our leading options from the runtime's arguments. */
export function splitArgs(argv: string[]): { own: Record<string, string>; rest: string[] } {
  const own: Record<string, string> = {};
  let i = 0;
  for (; i < argv.length; i++) {
    const m = /^--(runtime|manifest|config)(?:=(.*))?$/.exec(argv[i]!);
    if (!m) break;
    const value = m[2] ?? argv[++i];
    if (value === undefined || value === '') throw new UsageError(`oci-gpu-runtime: --${m[1]} needs a value`);
    own[m[1]!] = value;
  }
  return { own, rest: argv.slice(i) };
}

// create/run options that take a value: needed to find the container id after them.
const COMMAND_WITH_VALUE = new Set(['--bundle', '-b', '--console-socket', '--pid-file', '--preserve-fds']);

/**
 * Returns the subcommand, the bundle folder (from --bundle/-b, else the working directory) and the
 * container id (the subcommand's first operand; null when there is none).
 */
export function findCommand(args: string[], cwd: string): { command: string | undefined; bundle: string; id: string | null } {
  let command: string | undefined;
  let bundle = cwd;
  let id: string | null = null;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (command === undefined) {
      if (GLOBAL_WITH_VALUE.has(a)) i++;
      else if (!a.startsWith('-')) command = a;
      continue;
    }
    if (a === '--bundle' || a === '-b') bundle = path.resolve(cwd, args[++i] ?? '.');
    else if (a.startsWith('--bundle=')) bundle = path.resolve(cwd, a.slice('--bundle='.length));
    else if (COMMAND_WITH_VALUE.has(a)) i++;
    else if (!a.startsWith('-') && id === null) id = a;
  }
  return { command, bundle, id };
}

/** Runs the wrapper: edit on create/run, then the real runtime; resolves to its exit status. */
export async function runtimeMain(argv: string[]): Promise<number> {
  let runtime = '/usr/bin/runc';
  let rest: string[] = [];
  let own: Record<string, string> = {};
  let id: string | null = null;
  let config: Config | undefined;
  try {
    const split = splitArgs(argv);
    rest = split.rest;
    own = split.own;
    if (rest[0] === '--help' && !own.runtime) return process.stdout.write(RUNTIME_HELP), 0;
    const found = findCommand(rest, process.cwd());
    id = found.id;
    const edits = found.command === 'create' || found.command === 'run';
    if (!own.runtime || edits) config = (await import('../adapters/config-file.js')).loadConfig(own);
    runtime = own.runtime ?? config!.runtime.path;
    if (edits) await (await import('./edit-bundle.js')).editBundle(found.bundle, config!);
    return await exec(runtime, rest);
  } catch (error) {
    const line = errorLine('oci-gpu-runtime', error, process.env.OCI_GPU_DEBUG === '1');
    process.stderr.write(line);
    writeRuntimeLog(rest, line);
    // Loaded only on a refusal; the same places as the hook's (the runtime's log is gone with the container).
    const { recordRefusal } = await import('../adapters/refusal-log.js');
    const { refusalPlaces } = await import('../adapters/config-file.js');
    await recordRefusal({
      program: 'oci-gpu-runtime',
      reason: reasonOf('oci-gpu-runtime', error),
      container: id,
      ...refusalPlaces(config, own.manifest),
    });
    return exitCodeOf(error);
  }
}

/**
 * Appends our one line to the runtime's --log file, as runc writes its own errors there: Docker
 * and containerd show a failed runtime's error from that file, not from its stderr. JSON with
 * --log-format json (what they pass), text otherwise; a log that cannot be written is no error.
 */
export function writeRuntimeLog(args: string[], line: string): void {
  // Global flags come before the subcommand; those of GLOBAL_WITH_VALUE take the next argument.
  const value = (flag: string) => {
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      if (a === flag) return args[i + 1];
      if (a.startsWith(`${flag}=`)) return a.slice(flag.length + 1);
      if (GLOBAL_WITH_VALUE.has(a)) i++;
      else if (!a.startsWith('-')) break;
    }
    return undefined;
  };
  const file = value('--log');
  if (!file || !path.isAbsolute(file)) return;
  const msg = line.trimEnd();
  const text = value('--log-format') === 'json' ? `${JSON.stringify({ level: 'error', msg, time: new Date().toISOString() })}\n` : `${msg}\n`;
  try {
    fs.appendFileSync(file, text);
  } catch {
    // the caller still gets our exit status and stderr
  }
}

// The runtime replaces this process (execve through bun:ffi), so it starts as if called directly:
// same pid, stdio, environment, and signals reach it without us. Under Node (no exec(2) in its API)
// it runs as a child with our stdio, and we pass signals on.
async function exec(runtime: string, args: string[]): Promise<number> {
  const { errnoName, loadExec } = await import('../adapters/libc.js');
  const execve = await loadExec();
  if (!execve) return spawnRuntime(runtime, args);
  const errno = execve(runtime, [runtime, ...args], process.env);
  throw new UsageError(`oci-gpu-runtime: cannot run "${runtime}": ${errnoName(errno)}`);
}

function spawnRuntime(runtime: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(runtime, args, { stdio: 'inherit' });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];
    for (const s of signals) process.on(s, forward);
    child.on('error', (error) => reject(new UsageError(`oci-gpu-runtime: cannot run "${runtime}": ${(error as NodeJS.ErrnoException).code ?? error.message}`)));
    child.on('exit', (code, signal) => {
      for (const s of signals) process.off(s, forward);
      resolve(code ?? 128 + (signal ? os.constants.signals[signal] : 0));
    });
  });
}
