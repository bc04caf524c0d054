// The shipped executable, build/oci-gpu (Bun-compiled from src/main.ts), for tests that must run
// what users run. Built when missing or older than its sources, one build at a time across ava
// workers (a lock folder). One function, so it can be merged with the other build helpers.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { releaseDirLock, tryDirLock } from './dir-lock.js';
import { REPO_ROOT } from './paths.js';

export const OCI_GPU_BIN = path.join(REPO_ROOT, 'build/oci-gpu');
const BUN = path.join(REPO_ROOT, `node_modules/@oven/bun-linux-${process.arch === 'arm64' ? 'aarch64' : 'x64'}/bin/bun`);
const LOCK = path.join(REPO_ROOT, 'build/.oci-gpu.build-lock');
const execFileP = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function newestSourceMs(): number {
  let newest = 0;
  const visit = (p: string) => {
    const st = statSync(p);
    if (st.isDirectory()) for (const e of readdirSync(p)) visit(path.join(p, e));
    else newest = Math.max(newest, st.mtimeMs);
  };
  visit(path.join(REPO_ROOT, 'src'));
  visit(path.join(REPO_ROOT, 'package-lock.json'));
  return newest;
}

const current = () => existsSync(OCI_GPU_BIN) && statSync(OCI_GPU_BIN).mtimeMs >= newestSourceMs();

let ready: Promise<string> | undefined;

/** Returns build/oci-gpu, building it with `bun build --compile --bytecode src/main.ts` when stale. */
export function ociGpuBinary(): Promise<string> {
  ready ??= (async () => {
    const deadline = Date.now() + 4 * 60_000;
    while (!current()) {
      if (tryDirLock(LOCK, 5 * 60_000).taken) {
        try {
          if (!current()) {
            if (!existsSync(BUN)) throw new Error(`${BUN} is missing: run npm ci (Bun is an optional dependency)`);
            await execFileP(BUN, ['build', '--compile', '--bytecode', 'src/main.ts', '--outfile', OCI_GPU_BIN], { cwd: REPO_ROOT, timeout: 180_000, maxBuffer: 16 << 20 }).catch((error) => {
              throw new Error(`bun build failed: ${String((error as { stderr?: string }).stderr || (error as Error).message).trim().split('\n').slice(-5).join(' | ')}`);
            });
          }
        } finally {
          releaseDirLock(LOCK);
        }
        break;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for another process building ${OCI_GPU_BIN}`);
      await sleep(200);
    }
    return OCI_GPU_BIN;
  })();
  return ready;
}
