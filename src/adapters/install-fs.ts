// The effectful side of install/uninstall: what is on the host now, and carrying out a plan.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { FileError } from '../errors.js';
import type { HostFacts, InstallAction, PathState } from '../model/install.js';
import { UNIT_NAME, underPrefix } from '../core/install/install-layout.js';
import { writeFileAtomic } from './atomic-write.js';
import { runCommand } from './exec.js';

/** sha256 (hex) of a text. */
export function sha256Text(text: string): string {
  return crypto.createHash('sha256').update(text).digest('hex');
}

/** sha256 (hex) of a file, read in chunks (the hook binary is ~100 MB). Throws FileError. */
export function sha256File(file: string): string {
  const hash = crypto.createHash('sha256');
  const buf = Buffer.allocUnsafe(1 << 20);
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) hash.update(buf.subarray(0, n));
  } catch (error) {
    throw new FileError(file, `cannot read "${file}": ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
  return hash.digest('hex');
}

/** What is at `p` (not following a final symlink); files are hashed. */
export function inspectPath(p: string): PathState {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return { type: 'absent' };
    throw new FileError(p, `cannot inspect "${p}": ${(error as NodeJS.ErrnoException).code}`, { cause: error });
  }
  if (st.isSymbolicLink()) return { type: 'symlink', target: fs.readlinkSync(p) };
  if (st.isDirectory()) return { type: 'dir' };
  if (st.isFile()) return { type: 'file', sha256: sha256File(p), mode: st.mode & 0o7777 };
  return { type: 'other' };
}

/** A memoizing inspectPath for one planning pass (the planner asks about a path more than once). */
export function pathInspector(): (p: string) => PathState {
  const seen = new Map<string, PathState>();
  return (p) => {
    let s = seen.get(p);
    if (!s) seen.set(p, (s = inspectPath(p)));
    return s;
  };
}

const firstExecutable = (...candidates: string[]): string | null =>
  candidates.find((c) => {
    try {
      fs.accessSync(c, fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  }) ?? null;

/** Reads the host facts install and uninstall act on; under a --prefix other than "/", no tool is used. */
export async function readHostFacts(prefix: string): Promise<HostFacts> {
  const real = prefix === '/';
  const systemd = real && fs.existsSync('/run/systemd/system');
  const systemctl = real ? firstExecutable('/usr/bin/systemctl', '/bin/systemctl') : null;
  let unitEnabled = false;
  let unitActive = false;
  if (systemd && systemctl) {
    unitEnabled = (await runCommand(systemctl, ['is-enabled', '--quiet', UNIT_NAME], { allowFailure: true })).exitCode === 0;
    unitActive = (await runCommand(systemctl, ['is-active', '--quiet', UNIT_NAME], { allowFailure: true })).exitCode === 0;
  }
  return {
    systemd,
    unitEnabled,
    unitActive,
    systemctl,
    systemdTmpfiles: real ? firstExecutable('/usr/bin/systemd-tmpfiles', '/bin/systemd-tmpfiles') : null,
    udevadm: real && fs.existsSync('/run/udev/control') ? firstExecutable('/usr/bin/udevadm', '/bin/udevadm', '/sbin/udevadm') : null,
    debInstalled: fs.existsSync(underPrefix(prefix, '/var/lib/dpkg/info/oci-gpu.list')),
  };
}

/** One line saying what a step does (or would do, for --dry-run). */
export function describeAction(a: InstallAction, dryRun: boolean): string {
  const would = (verb: string) => (dryRun ? `would ${verb}` : verb);
  switch (a.op) {
    case 'mkdir':
      return `${would('create')} folder ${a.path}`;
    case 'write':
      return `${would('write')} ${a.path} (${a.why})`;
    case 'chmod':
      return `${would('chmod')} ${a.mode.toString(8)} ${a.path}`;
    case 'link':
      return `${would('link')} ${a.path} -> ${a.target} (${a.why})`;
    case 'copy':
      return `${would('copy')} ${a.from} to ${a.path} (${a.why})`;
    case 'keep':
      return `${dryRun ? 'would keep' : 'kept'} ${a.path} (${a.why})`;
    case 'remove':
      return `${would('remove')} ${a.path} (${a.why})`;
    case 'leave':
      return `${dryRun ? 'would leave' : 'left'} ${a.path} (${a.why})`;
    case 'rmdir':
      return `${would('remove')} folder ${a.path}${dryRun ? ' (if empty)' : ''}`;
    case 'record':
      return a.record ? `${would('record')} what was installed in ${a.path}` : `${would('remove')} ${a.path} (the install record)`;
    case 'run':
      return `${would('run')} ${a.argv.join(' ')} (${a.why})`;
  }
}

/**
 * Carries out the steps in order, printing one line each. Stops at the first file error (thrown as
 * FileError); a command that fails is reported and the rest still runs. Resolves to the number of
 * failed commands.
 */
export async function applyPlan(actions: InstallAction[], say: (line: string) => void): Promise<number> {
  let failed = 0;
  for (const a of actions) {
    switch (a.op) {
      case 'mkdir':
        attempt(a.path, () => fs.mkdirSync(a.path, { mode: 0o755 }));
        break;
      case 'write':
        if ('text' in a.source) writeFileAtomic(a.path, a.source.text, a.mode);
        else copyFileAtomic(a.source.file, a.path, a.mode);
        attempt(a.path, () => fs.chmodSync(a.path, a.mode));
        break;
      case 'chmod':
        attempt(a.path, () => fs.chmodSync(a.path, a.mode));
        break;
      case 'link':
        symlinkAtomic(a.target, a.path);
        break;
      case 'copy':
        attempt(a.path, () => fs.copyFileSync(a.from, a.path, fs.constants.COPYFILE_EXCL));
        break;
      case 'remove':
        attempt(a.path, () => fs.rmSync(a.path, { force: true }));
        break;
      case 'rmdir':
        try {
          fs.rmdirSync(a.path);
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') continue;
          if (code === 'ENOTEMPTY' || code === 'EEXIST') {
            say(`kept folder ${a.path} (not empty)`);
            continue;
          }
          throw new FileError(a.path, `cannot remove folder "${a.path}": ${code}`, { cause: error });
        }
        break;
      case 'record':
        if (a.record) writeFileAtomic(a.path, JSON.stringify(a.record, null, 2) + '\n', 0o644);
        else attempt(a.path, () => fs.rmSync(a.path, { force: true }));
        break;
      case 'run': {
        const r = await runCommand(a.argv[0]!, a.argv.slice(1), { allowFailure: true, timeoutMs: 120_000 }).catch((error: Error) => ({ exitCode: -1, stderr: error.message, stdout: '' }));
        if (r.exitCode !== 0) {
          say(`failed: ${a.argv.join(' ')} exited with ${r.exitCode}${r.stderr.trim() ? `: ${r.stderr.trim().split('\n').at(-1)}` : ''}`);
          failed++;
          continue;
        }
        break;
      }
      case 'keep':
      case 'leave':
        break;
    }
    say(describeAction(a, false));
  }
  return failed;
}

function attempt(p: string, fn: () => void): void {
  try {
    fn();
  } catch (error) {
    throw new FileError(p, `cannot change "${p}": ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
  }
}

// Copy to a temp file beside the target, then rename: a running hook keeps its old inode (no ETXTBSY).
function copyFileAtomic(from: string, to: string, mode: number): void {
  const tmp = path.join(path.dirname(to), `.${path.basename(to)}.${process.pid}.tmp`);
  try {
    fs.copyFileSync(from, tmp);
    fs.chmodSync(tmp, mode);
    const fd = fs.openSync(tmp, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, to);
  } catch (error) {
    fs.rmSync(tmp, { force: true });
    throw new FileError(to, `cannot write "${to}" from "${from}": ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
  }
}

function symlinkAtomic(target: string, at: string): void {
  const tmp = path.join(path.dirname(at), `.${path.basename(at)}.${process.pid}.tmp`);
  try {
    fs.rmSync(tmp, { force: true });
    fs.symlinkSync(target, tmp);
    fs.renameSync(tmp, at);
  } catch (error) {
    fs.rmSync(tmp, { force: true });
    throw new FileError(at, `cannot link "${at}": ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
  }
}
