import { execa } from 'execa';
import { ExecError } from '../errors.js';

/** The PATH every subprocess gets: never the caller's environment. */
export const SAFE_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

export interface RunOptions {
  /** Milliseconds before the command is killed (default 10 s). */
  timeoutMs?: number;
  input?: string;
  /** Extra variables; the environment is otherwise only PATH. */
  env?: Record<string, string>;
  /** Return a non-zero exit instead of throwing. */
  allowFailure?: boolean;
  /** Open descriptors the program inherits as fd 3, 4, ... in this order. */
  fds?: number[];
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs an absolute-path program without a shell, with an explicit minimal environment and a
 * timeout. Throws ExecError (command, exit code, stderr) when it cannot start, times out, or
 * exits non-zero (unless allowFailure).
 */
export async function runCommand(file: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  // execa hands any open descriptor through at index 3 and up (its types list only 3..9).
  const extra = (options.fds ?? []) as unknown as 3[];
  const result = await execa(file, args, {
    reject: false,
    extendEnv: false,
    env: { PATH: SAFE_PATH, ...options.env },
    timeout: options.timeoutMs ?? 10_000,
    input: options.input,
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe', ...extra],
    stripFinalNewline: false,
  });
  const command = [file, ...args].join(' ');
  const stderr = String(result.stderr ?? '');
  if (result.failed && (result.exitCode === undefined || !options.allowFailure)) {
    const why = result.timedOut
      ? `timed out after ${options.timeoutMs ?? 10_000} ms`
      : result.exitCode === undefined
        ? (result.cause as Error | undefined)?.message ?? 'could not start'
        : `exited with ${result.exitCode}`;
    const detail = stderr.trim().split('\n').at(-1);
    throw new ExecError(command, result.exitCode, stderr, `"${command.slice(0, 200)}" ${why}${detail ? `: ${detail}` : ''}`, { cause: result.cause });
  }
  return { exitCode: result.exitCode ?? 0, stdout: String(result.stdout ?? ''), stderr };
}

/** A long-running child started by startCommand: `exited` resolves with its exit code or signal. */
export interface RunningCommand {
  readonly exited: Promise<{ exitCode: number | undefined; signal: string | undefined }>;
  kill(signal?: NodeJS.Signals): void;
}

/**
 * Starts an absolute-path program that runs until stopped (a monitor), without a shell, with the
 * same explicit minimal environment as runCommand and no timeout; `onStdout` gets each chunk of its
 * output as it comes. Never rejects: a child that cannot start resolves `exited` without an exit code.
 */
export function startCommand(file: string, args: string[], options: { env?: Record<string, string>; onStdout(chunk: string): void }): RunningCommand {
  const child = execa(file, args, { reject: false, extendEnv: false, env: { PATH: SAFE_PATH, ...options.env }, stdin: 'ignore', buffer: false });
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => options.onStdout(chunk));
  return {
    exited: child.then((r) => ({ exitCode: r.exitCode, signal: r.signal })),
    kill: (signal = 'SIGTERM') => void child.kill(signal),
  };
}
