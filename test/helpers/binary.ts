// The shipped executable, build/oci-gpu (Bun-compiled by scripts/build.sh), for tests and benchmarks
// that must run what users run: built when missing or older than its sources, once at a time across
// ava workers (a lock folder). No ava import here, so bench/ can use it too.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { releaseDirLock, tryDirLock } from './dir-lock.js';
import { REPO_ROOT } from './paths.js';

/** The shipped executable, as scripts/build.sh makes it: the CLI under its own name... */
export const CLI_BIN = path.join(REPO_ROOT, 'build/oci-gpu');
/** ...the hook and the runtime wrapper through links named for them. */
export const HOOK_BIN = path.join(REPO_ROOT, 'build/oci-gpu-hook');
export const RUNTIME_BIN = path.join(REPO_ROOT, 'build/oci-gpu-runtime');
const execFileP = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Newest mtime (ms) of the files the binary is built from: src/**, what it embeds, scripts/build.sh, the package files. */
function newestSource(): { mtime: number; file: string } {
  let best = { mtime: 0, file: '' };
  const visit = (p: string) => {
    const st = statSync(p);
    if (st.isDirectory()) {
      for (const e of readdirSync(p)) visit(path.join(p, e));
    } else if (st.mtimeMs > best.mtime) best = { mtime: st.mtimeMs, file: p };
  };
  for (const f of ['src', 'hooks.d', 'packaging', 'scripts/build.sh', 'package.json', 'package-lock.json']) {
    const p = path.join(REPO_ROOT, f);
    if (existsSync(p)) visit(p);
  }
  return best;
}

function binaryIsCurrent(): boolean {
  if (!existsSync(CLI_BIN) || !existsSync(HOOK_BIN) || !existsSync(RUNTIME_BIN)) return false;
  return statSync(CLI_BIN).mtimeMs >= newestSource().mtime;
}

const LOCK = path.join(REPO_ROOT, 'build/.oci-gpu.build-lock');
const LOCK_STALE_MS = 5 * 60_000;


let binaryReady: Promise<string> | undefined;

/** Returns build/oci-gpu-hook (a link to build/oci-gpu), built as cliBinary builds it. */
export async function hookBinary(): Promise<string> {
  await cliBinary();
  return HOOK_BIN;
}

/** Returns build/oci-gpu-runtime (a link to build/oci-gpu), built as cliBinary builds it. */
export async function runtimeBinary(): Promise<string> {
  await cliBinary();
  return RUNTIME_BIN;
}

/**
 * Returns build/oci-gpu, building it (scripts/build.sh) when it is missing or older than its
 * sources. One build at a time across processes; the others wait for it and reuse it.
 */
export function cliBinary(): Promise<string> {
  binaryReady ??= (async () => {
    const deadline = Date.now() + 4 * 60_000;
    while (!binaryIsCurrent()) {
      if (tryDirLock(LOCK, LOCK_STALE_MS).taken) {
        try {
          if (!binaryIsCurrent()) {
            try {
              await execFileP('sh', [path.join(REPO_ROOT, 'scripts/build.sh')], { cwd: REPO_ROOT, timeout: 180_000, maxBuffer: 16 << 20 });
            } catch (error) {
              const e = error as { stderr?: string; message: string };
              throw new Error(`scripts/build.sh failed: ${(e.stderr || e.message).trim().split('\n').slice(-5).join(' | ')}`);
            }
          }
        } finally {
          releaseDirLock(LOCK);
        }
        if (!binaryIsCurrent()) {
          // Sources changed during the build (someone is editing): the binary is still new enough for this run.
          if (existsSync(CLI_BIN)) break;
          throw new Error('scripts/build.sh ran but build/oci-gpu is missing');
        }
        break;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for another process building build/oci-gpu (lock ${LOCK})`);
      await sleep(200);
    }
    return CLI_BIN;
  })();
  return binaryReady;
}

