// The watcher, as a subprocess on a copy of the h200 fixture host with the default configuration
// (watch.debounceMs 200, watch.stableScans 2, safety rescan every 60 s): the time from a device-node
// change (a GPU's /proc information file and its /dev/nvidia1 node added, or both removed) to the
// new manifest on disk; the daemon's CPU use while idle over 60 s (utime+stime from /proc/<pid>/stat,
// the safety rescan included); its resident memory. Needs root (mknod).
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createHostFs } from '../src/adapters/host-fs.js';
import { scanHost } from '../src/discover/scan.js';
import { addGpu, makeWatchPaths, readJson, removeGpu, sleep, startWatch } from '../test/helpers/watch.js';
import { cliBinary } from '../test/helpers/binary.js';

const CHANGES = Number(process.env.BENCH_WATCH_CHANGES ?? 50);
const IDLE_SECONDS = Number(process.env.BENCH_WATCH_IDLE_SECONDS ?? 60);

/** Median, p95 and max of samples (nearest rank). */
function stats(samples: number[]): { median: number; p95: number; min: number; max: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
  return { median: at(0.5), p95: at(0.95), min: s[0]!, max: s.at(-1)! };
}

// utime + stime of a process, in seconds.
function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from 3 (state) on
  const ticks = Number(fields[11]) + Number(fields[12]); // utime (14) and stime (15)
  return ticks / clockTicks();
}

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  return (ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100);
}

function memoryKb(pid: number): { rss: number; hwm: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

// Waits until the manifest on disk lists `gpus` GPUs; returns when it was seen (ms, performance.now()).
async function manifestWith(file: string, gpus: number, timeoutMs = 10_000): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  let lastIno = -1;
  for (;;) {
    const st = fs.statSync(file, { throwIfNoEntry: false });
    if (st && st.ino !== lastIno) {
      lastIno = st.ino; // atomic writes rename a new inode into place: parse only when it changed
      const seen = performance.now();
      if (readJson(file)?.gpus.length === gpus) return seen;
    }
    if (performance.now() > deadline) throw new Error(`no manifest with ${gpus} GPUs within ${timeoutMs} ms`);
    await sleep(1);
  }
}

/** Runs the benchmark and returns a Markdown section. */
export async function run(): Promise<string> {
  await cliBinary();
  const paths = makeWatchPaths('h200', {}); // every default
  const daemon = startWatch(paths, { notify: true, logLevel: 'info' });
  try {
    await daemon.ready();
    const afterStart = memoryKb(daemon.pid);

    const scanMs: number[] = [];
    const fsView = createHostFs(paths.root);
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      scanHost(fsView);
      scanMs.push(performance.now() - t0);
    }

    const latency: number[] = [];
    for (let i = 0; i < CHANGES; i++) {
      const adding = i % 2 === 0;
      if (adding) addGpu(paths.root);
      else removeGpu(paths.root);
      const t0 = performance.now();
      latency.push((await manifestWith(paths.manifest, adding ? 2 : 1)) - t0);
      await sleep(100 + Math.floor(Math.random() * 200)); // do not fall in step with the daemon's timers
    }
    const afterChanges = memoryKb(daemon.pid);

    await sleep(2000); // let the last change's follow-up scans end
    const scans0 = readJson(paths.status).scans as number;
    const cpu0 = cpuSeconds(daemon.pid);
    const wall0 = performance.now();
    await sleep(IDLE_SECONDS * 1000);
    const cpu = cpuSeconds(daemon.pid) - cpu0;
    const wall = (performance.now() - wall0) / 1000;
    const idleScans = (readJson(paths.status).scans as number) - scans0;
    const idle = memoryKb(daemon.pid);

    const stop = await daemon.stop('SIGTERM');
    if (stop.code !== 0) throw new Error(`the daemon exited with ${JSON.stringify(stop)} on SIGTERM`);

    const l = stats(latency);
    const s = stats(scanMs);
    const mb = (kb: number) => (kb / 1024).toFixed(1);
    return [
      `### Watcher (h200 fixture host, default config: debounce 200 ms, stableScans 2, safety rescan 60 s)`,
      '',
      `| measure | value |`,
      `|---|---|`,
      `| device-node change → new manifest on disk, ${CHANGES} changes (add/remove /dev/nvidia1 + its information file) | median ${l.median.toFixed(0)} ms, p95 ${l.p95.toFixed(0)} ms (min ${l.min.toFixed(0)}, max ${l.max.toFixed(0)}) |`,
      `| one full scan of the host, in-process (20 runs) | median ${s.median.toFixed(1)} ms, p95 ${s.p95.toFixed(1)} ms |`,
      `| idle CPU over ${wall.toFixed(0)} s (utime+stime; ${idleScans} safety rescan${idleScans === 1 ? '' : 's'} in it) | ${((cpu / wall) * 100).toFixed(3)} % of one core (${(cpu * 1000).toFixed(0)} ms) |`,
      `| RSS after start / after the changes / after idle (peak) | ${mb(afterStart.rss)} / ${mb(afterChanges.rss)} / ${mb(idle.rss)} MiB (${mb(idle.hwm)} MiB) |`,
      '',
      `The latency floor is debounce + one confirmation scan after another debounce (2 × 200 ms); p95 target < 1 s.`,
      '',
    ].join('\n');
  } finally {
    await daemon.stop('SIGKILL').catch(() => {});
    paths.cleanup();
  }
}
