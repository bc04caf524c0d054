// Every error oci-gpu raises on purpose. Messages: context first, path quoted, lower case, one line.

/** Base class: `exitCode` is what the top-level catch exits with. */
export class OciGpuError extends Error {
  readonly exitCode: number = 1;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad command line: unknown flag, missing value. Exit 2. */
export class UsageError extends OciGpuError {
  override readonly exitCode = 2;
}

/** A file could not be read or written. */
export class FileError extends OciGpuError {
  constructor(readonly path: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Content that does not parse or validate; `problems` are dot-path lines ("devices[2].major: must be a number"). */
export class ParseError extends OciGpuError {
  constructor(readonly what: string, readonly problems: string[], options?: { cause?: unknown }) {
    super(`${what}: ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? ` (and ${problems.length - 3} more)` : ''}`, options);
  }
}

/** A container asked for something that cannot be given (unknown GPU, unmet NVIDIA_REQUIRE_*). */
export class RequestError extends OciGpuError {}

/** The manifest is missing, unreadable, of another schema, or of another driver than the one loaded. */
export class ManifestError extends OciGpuError {
  override readonly exitCode = 3;
}

/** A subprocess failed: carries the command line, exit code and stderr. */
export class ExecError extends OciGpuError {
  constructor(
    readonly command: string,
    readonly exitStatus: number | undefined,
    readonly stderr: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** One line for the user: the message of a known error, or "internal error: ..." with the stack under --debug. */
export function formatError(error: unknown, debug = false): string {
  if (debug && error instanceof Error && error.stack) return error.stack;
  if (error instanceof OciGpuError) return oneLine(error.message);
  const message = error instanceof Error ? error.message : String(error);
  return `internal error: ${oneLine(message.split('\n')[0]!)} (run with --debug for details)`;
}

// Messages quote values from files and containers (JSON.parse even quotes the text it failed on):
// control characters are escaped so that one error stays one line, and no escape sequence reaches a terminal.
function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000a-\u001f\u007f]/g, (c) =>
    c === '\n' ? '\\n' : c === '\r' ? '\\r' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}

/** Exit status for an error: the class's own, 1 for anything unexpected. */
export function exitCodeOf(error: unknown): number {
  return error instanceof OciGpuError ? error.exitCode : 1;
}

/** The line an entry point prints for an error: "<program>: <message>", without repeating the program name. */
export function errorLine(program: string, error: unknown, debug = false): string {
  const text = formatError(error, debug);
  return `${text.startsWith(program) ? '' : `${program}: `}${text}\n`;
}

/** The reason part of an error line: formatError's one line without a leading "<program>: ". */
export function reasonOf(program: string, error: unknown): string {
  const text = formatError(error);
  return text.startsWith(`${program}: `) ? text.slice(program.length + 2) : text;
}
