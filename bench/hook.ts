// Start-path costs of the shipped binary (build/oci-gpu, Bun-compiled), each against `node -e 0`
// with a clean environment, interleaved in one loop: `oci-gpu-hook precreate` with manifests of 1, 8
// and 64 GPUs (its cost must not grow with the GPU count), the post-mount step's own part in both
// forms (sh + awk reading the state and config.json, a stand-in for nsenter; sh alone, a stand-in for
// ldconfig), the runtime wrapper
// passing a command through against the bare runtime, and `oci-gpu scan` as a process; then the
// hook's peak RSS. Needs root (it scans the h200 fixture host) and runc.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { serializeManifest } from '../src/core/manifest/manifest-codec.js';
import { postMountHook } from '../src/core/plan/post-mount.js';
import type { Manifest } from '../src/model/manifest.js';
import { cliBinary, HOOK_BIN, RUNTIME_BIN } from '../test/helpers/binary.js';
import { gpuPciBusId, gpuUuid, scanFixture } from '../test/helpers/manifests.js';
import { buildFixtureHost } from '../scripts/fixture-host.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 40);
const CLEAN_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };

/** Returns the median and p95 (ms) of a list of samples. */
export function stats(samples: number[]): { median: number; p95: number; min: number; max: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * (s.length - 1) + 0.5))]!;
  return { median: at(0.5), p95: at(0.95), min: s[0]!, max: s[s.length - 1]! };
}

function timeOnce(cmd: string, args: string[], input?: Buffer): number {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env: CLEAN_ENV, input, stdio: [input ? 'pipe' : 'ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

function widen(base: Manifest, count: number): Manifest {
  const gpu = base.gpus[0]!;
  return {
    ...base,
    gpus: Array.from({ length: count }, (_, i) => ({
      ...gpu,
      index: i,
      uuid: gpuUuid(i),
      pciBusId: gpuPciBusId(i),
      minor: i,
      edits: { deviceNodes: [{ ...gpu.edits.deviceNodes![0]!, path: `/dev/nvidia${i}`, minor: i }] },
    })),
  };
}

/** Runs the benchmark and returns a Markdown section. */
export async function run(): Promise<string> {
  const cli = await cliBinary();
  const hook = HOOK_BIN;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oci-gpu-bench-hook-'));
  const base = scanFixture('h200');
  const manifests = new Map<number, string>();
  for (const n of [1, 8, 64]) {
    const file = path.join(dir, `manifest-${n}.json`);
    fs.writeFileSync(file, serializeManifest(widen(base, n)));
    manifests.set(n, file);
  }
  const config = (annotations: Record<string, string>) =>
    Buffer.from(JSON.stringify({ ociVersion: '1.0.2', process: { env: ['PATH=/usr/bin:/bin'], args: ['/bin/true'] }, root: { path: path.join(dir, 'rootfs') }, annotations }));
  const asking = config({ 'oci-gpu/devices': '0' });
  const nothing = config({});
  // The post-mount step in both forms (masking and compat on): as a CDI spec or a read-only rootfs
  // gives it (sh + awk, /bin/true for nsenter), and as precreate gives a writable rootfs (sh in the
  // container's namespaces, /bin/true for ldconfig); the container's procfs is not there, so no mount.
  fs.writeFileSync(path.join(dir, 'config.json'), asking);
  const options = { paramsMask: '/run/oci-gpu/nvidia-params', compatDriverVersion: base.driver!.version };
  const step = postMountHook({ ...base.tools, nsenter: '/bin/true' }, base.libraryDirs, options)!;
  const inside = postMountHook({ ...base.tools, ldconfig: '/bin/true' }, base.libraryDirs, options, path.join(dir, 'rootfs'))!;
  const state = Buffer.from(JSON.stringify({ ociVersion: '1.0.2', id: 'bench', status: 'creating', pid: process.pid, bundle: dir, annotations: {} }));
  const fixture = buildFixtureHost('h200');
  const samples: Record<string, number[]> = {};
  const add = (k: string, v: number) => (samples[k] ??= []).push(v);
  for (let i = 0; i < 3; i++) timeOnce(hook, ['precreate', '--manifest', manifests.get(1)!], asking); // warm the page cache
  for (let i = 0; i < RUNS; i++) {
    add('node -e 0', timeOnce(process.execPath, ['-e', '0']));
    add('hook --help', timeOnce(hook, ['--help']));
    add('precreate, nothing asked', timeOnce(hook, ['precreate', '--manifest', manifests.get(1)!], nothing));
    for (const [n, file] of manifests) add(`precreate, GPU 0 of ${n}`, timeOnce(hook, ['precreate', '--manifest', file], asking));
    add('post-mount step, createRuntime: sh + awk (no nsenter, no ldconfig)', timeOnce(step.path, step.args!.slice(1), state));
    add('post-mount step, createContainer: sh (no ldconfig)', timeOnce(inside.path, inside.args!.slice(1), Buffer.alloc(0)));
    add('runc --version', timeOnce('/usr/sbin/runc', ['--version']));
    add('oci-gpu-runtime --runtime runc --version (passthrough)', timeOnce(RUNTIME_BIN, ['--runtime', '/usr/sbin/runc', '--version']));
    add('oci-gpu scan --root h200 (process)', timeOnce(cli, ['scan', '--root', fixture, '--json']));
  }
  const rss = spawnSync('/usr/bin/time', ['-f', '%M', hook, 'precreate', '--manifest', manifests.get(1)!], { input: asking, env: CLEAN_ENV, encoding: 'utf8' });
  const peakKb = Number(rss.stderr.trim().split('\n').at(-1));
  fs.rmSync(dir, { recursive: true, force: true });
  const node = stats(samples['node -e 0']!).median;
  const rows = Object.entries(samples).map(([k, v]) => {
    const s = stats(v);
    return `| ${k} | ${s.median.toFixed(1)} | ${s.p95.toFixed(1)} | ${s.min.toFixed(1)} | ${s.max.toFixed(1)} | ${(s.median / node).toFixed(2)}× |`;
  });
  return [
    `### Start path (the Bun-compiled binary, clean environment, ${RUNS} interleaved runs each)`,
    '',
    '| command | median ms | p95 ms | min ms | max ms | vs node -e 0 |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
    `Peak RSS of \`oci-gpu-hook precreate\` (GPU 0 of 1): ${Number.isFinite(peakKb) ? `${(peakKb / 1024).toFixed(1)} MB` : 'not measured (/usr/bin/time missing)'}.`,
    '',
  ].join('\n');
}
