// The refusal log: "<manifest folder>/refusals.log", one line per refused container start, so that
// `oci-gpu status` and `oci-gpu doctor` can say why (Podman drops a precreate hook's stderr).
// Why one file and O_APPEND: each refusal is a single write(2) of at most 1 KiB to a file opened
// with O_APPEND, which Linux never interleaves with another writer's, so concurrent hooks need no
// lock. Bounded twice: the watcher rotates it to "refusals.log.1" past ROTATE_BYTES (a hook that
// opened the old file still writes into a file the readers read), and a hook appends nothing past
// MAX_BYTES, so it stays small even with no watcher running. Readers read ".1" then the current file.
import fs from 'node:fs';
import path from 'node:path';
import { containerIdOf, formatRefusal, parseRefusal, printableContainerId, type Refusal } from '../core/refusal/refusal.js';
import { sendSyslog } from './syslog.js';

/** Past this size the watcher moves the log to ".1". */
export const ROTATE_BYTES = 32 * 1024;
/** Past this size a hook appends nothing (syslog still gets the line). */
export const MAX_BYTES = 256 * 1024;

/** The refusal log beside a manifest. */
export function refusalLogFor(manifest: string): string {
  return path.join(path.dirname(manifest), 'refusals.log');
}

/** Appends one refusal in one write; throws the fs error (callers never let it change an exit status). */
export function appendRefusal(file: string, refusal: Refusal): void {
  const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o644);
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.size >= MAX_BYTES) return;
    // The umask of whoever runs the hook must not hide the log from `oci-gpu status` run by a user.
    if ((st.mode & 0o777) !== 0o644 && st.uid === process.getuid?.()) fs.fchmodSync(fd, 0o644);
    fs.writeSync(fd, formatRefusal(refusal));
  } finally {
    fs.closeSync(fd);
  }
}

/** Returns the last `count` refusals, oldest first; [] when there is no log. Never throws. */
export function readRefusals(file: string, count = 10): Refusal[] {
  const lines: string[] = [];
  for (const f of [`${file}.1`, file]) {
    try {
      lines.push(...fs.readFileSync(f, 'utf8').split('\n'));
    } catch {
      // missing or unreadable: nothing to show from it
    }
  }
  return lines
    .map(parseRefusal)
    .filter((r): r is Refusal => r !== null)
    .slice(-count);
}

/** Moves the log to ".1" when it is larger than `maxBytes`; returns true when it did. Throws the fs error. */
export function rotateRefusals(file: string, maxBytes = ROTATE_BYTES): boolean {
  let size: number;
  try {
    size = fs.lstatSync(file).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  if (size <= maxBytes) return false;
  fs.renameSync(file, `${file}.1`);
  return true;
}

/** What an entry point knows when it refuses a container. */
export interface RefusalRecord {
  program: 'oci-gpu-hook' | 'oci-gpu-runtime';
  /** The line printed on stderr, without the program prefix. */
  reason: string;
  container: string | null;
  /** What the program read on stdin (a config.json or a state), where the container id is found when `container` is null. */
  input?: Buffer | undefined;
  /** The manifest in use (the log goes beside it). */
  manifest: string;
  /** The syslog socket; "" for none. */
  syslog: string;
}

/**
 * Puts a refusal where users look: the refusal log (`oci-gpu status`, `oci-gpu doctor`) and syslog
 * (`journalctl -t oci-gpu-hook`). Never throws and never fails: a refusal must exit with its own status.
 */
export async function recordRefusal(r: RefusalRecord, now = new Date()): Promise<void> {
  const container = r.container ?? (r.input ? containerIdOf(parseJsonOrNull(r.input)) : null);
  const refusal: Refusal = { time: now.toISOString(), program: r.program, container: printableContainerId(container), reason: r.reason };
  try {
    appendRefusal(refusalLogFor(r.manifest), refusal);
  } catch {
    // a folder this user cannot write (rootless Podman runs hooks as the user): syslog still has it
  }
  if (r.syslog) await sendSyslog(r.syslog, r.program, `container ${refusal.container}: ${r.reason}`);
}

function parseJsonOrNull(input: Buffer): unknown {
  try {
    return JSON.parse(input.toString('utf8'));
  } catch {
    return null;
  }
}
