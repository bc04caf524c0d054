// Shared setup of the install tests: a release-shaped source tree (hooks.d/, packaging/, docs/,
// package.json and a build/ of its own, so other processes rebuilding build/ never change it under a
// test), file-tree snapshots, and the lock that serialises tests touching the real /usr, /etc, /run.
import { copyFileSync, cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { releaseDirLock, tryDirLock } from './dir-lock.js';
import { hookBinary, show, tempDir } from './hook-env.js';
import { REPO_ROOT } from './paths.js';
import { run, type RunResult } from './podman.js';

let tree: Promise<string> | undefined;

/**
 * A source tree to install from: hooks.d/, packaging/ and docs/ copied, package.json, and build/
 * with a copy of this build's hook binary and a CLI bundle made by scripts/build-cli.sh run inside
 * the tree (bin/, dist/ and node_modules/ linked to the repository's). Once per process.
 */
export function installSourceTree(): Promise<string> {
  tree ??= (async () => {
    const dir = tempDir('install-src');
    for (const d of ['hooks.d', 'packaging', 'docs']) cpSync(path.join(REPO_ROOT, d), path.join(dir, d), { recursive: true });
    copyFileSync(path.join(REPO_ROOT, 'package.json'), path.join(dir, 'package.json'));
    for (const d of ['bin', 'dist', 'node_modules']) symlinkSync(path.join(REPO_ROOT, d), path.join(dir, d));
    mkdirSync(path.join(dir, 'scripts'));
    copyFileSync(path.join(REPO_ROOT, 'scripts/build-cli.sh'), path.join(dir, 'scripts/build-cli.sh'));
    mkdirSync(path.join(dir, 'build'));
    copyFileSync(await hookBinary(), path.join(dir, 'build/oci-gpu-hook'));
    const r = await run('/bin/sh', [path.join(dir, 'scripts/build-cli.sh')], { cwd: dir, timeout: 120_000 });
    if (r.exitCode !== 0) throw new Error(`scripts/build-cli.sh failed: ${show(r)}`);
    return dir;
  })();
  return tree;
}

/** Runs the development CLI (bin/oci-gpu → dist) with a minimal environment. */
export function cli(args: string[], opts: { asUser?: number; input?: string } = {}): Promise<RunResult> {
  const argv = [process.execPath, path.join(REPO_ROOT, 'bin/oci-gpu'), ...args];
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
