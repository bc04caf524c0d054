// Shared setup of the install tests: the shipped binary as the CLI (it installs itself and the files
// it carries), file-tree snapshots, and the lock that serialises tests touching the real /usr, /etc, /run.
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { releaseDirLock, tryDirLock } from './dir-lock.js';
import { cliBinary } from './hook-env.js';
import { run, type RunResult } from './podman.js';

/** Runs the shipped binary (build/oci-gpu) as the CLI with a minimal environment, as root or as `asUser`. */
export async function cli(args: string[], opts: { asUser?: number } = {}): Promise<RunResult> {
  const argv = [await cliBinary(), ...args];
  if (opts.asUser !== undefined) {
    return run('/usr/bin/setpriv', [`--reuid=${opts.asUser}`, `--regid=${opts.asUser}`, '--clear-groups', ...argv], { timeout: 120_000 });
  }
  return run(argv[0]!, argv.slice(1), { timeout: 120_000 });
}

/** Every path under `dir` with its type, mode, and content digest or link target: equal snapshots = equal trees. */
export function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (p: string) => {
    let st;
    try {
      st = lstatSync(p);
    } catch {
      return;
    }
    const rel = path.relative(dir, p) || '.';
    if (st.isSymbolicLink()) out.set(rel, `link -> ${readlinkSync(p)}`);
    else if (st.isDirectory()) {
      out.set(rel, `dir ${(st.mode & 0o7777).toString(8)}`);
      for (const e of readdirSync(p).sort()) visit(path.join(p, e));
    } else if (st.isFile()) out.set(rel, `file ${(st.mode & 0o7777).toString(8)} ${st.size} ${st.size < 1 << 20 ? readFileSync(p).toString('base64').slice(0, 64) : ''}`);
    else out.set(rel, 'other');
  };
  visit(dir);
  return out;
}

/** The paths only in `a` and only in `b`, and those that differ. */
export function diffSnapshots(a: Map<string, string>, b: Map<string, string>): { gone: string[]; added: string[]; changed: string[] } {
  return {
    gone: [...a.keys()].filter((k) => !b.has(k)),
    added: [...b.keys()].filter((k) => !a.has(k)),
    changed: [...a.keys()].filter((k) => b.has(k) && a.get(k) !== b.get(k)),
  };
}

const LOCK = '/var/lib/oci-gpu-test/system-install.lock';

/**
 * Runs `fn` holding the lock of tests that change the real /usr, /etc and /run (a folder: mkdir is
 * atomic; a lock whose owner died is taken over), so two such tests never overlap.
 */
export async function withSystemLock<T>(fn: () => Promise<T>, timeoutMs = 10 * 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { taken, owner } = tryDirLock(LOCK);
    if (taken) break;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${LOCK} (held by pid ${owner})`);
    await new Promise((r) => setTimeout(r, 250));
  }
  try {
    return await fn();
  } finally {
    releaseDirLock(LOCK);
  }
}

/** True when a path exists (a dangling link counts). */
export function present(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return existsSync(p);
  }
}
