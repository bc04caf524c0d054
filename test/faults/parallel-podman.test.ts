// Load: 50 GPU containers started at once with Podman, through the precreate hook (hooks.d entry
// oci-gpu.json, build/oci-gpu-hook) on the rhel-2gpu fixture host, alternating oci-gpu/devices=0 and
// =1 (GPU 1 is /dev/nvidia3), crun and runc mixed. Each container prints its /dev/nvidia* nodes with
// what opening them gives (ENXIO = allowed by the device cgroup), its mount points and its ld cache.
// Every container must get exactly its own GPU, every planned driver file mounted exactly once and
// nothing else of the driver, and the ld cache step must have worked; the hook's own run time
// (a sh wrapper logs start and end) is logged with its p50/p95/max, and so is the binary run 50 at
// once outside Podman. Nothing asserts how fast: on a 2-core VM it is fine to take a minute.
// Needs root and scripts/setup-host.sh.
import test from 'ava';
import { spawn } from 'node:child_process';
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ENXIO, fixtureManifest, hookBinary, HOOK_PATH_ENV, parseProbe, PROBE, repoHooksD, tempDir } from '../helpers/hook-env.js';
import { podmanRun, podmanTests, podmanUnavailableReason, type RunResult, type Runtime } from '../helpers/podman.js';

const { serial: rootTest, why, skipped } = podmanTests();

const CONTAINERS = 50;

// What each container must see on rhel-2gpu (test/fixtures/hosts/rhel-2gpu/README.md) with the
// default capabilities utility,compute — written out, not planned by the code under test.
const NODES = {
  '0': ['/dev/nvidia-uvm', '/dev/nvidia-uvm-tools', '/dev/nvidia0', '/dev/nvidiactl'],
  '1': ['/dev/nvidia-uvm', '/dev/nvidia-uvm-tools', '/dev/nvidia3', '/dev/nvidiactl'],
};
const MOUNTS = [
  '/etc/OpenCL/vendors/nvidia.icd',
  '/run/nvidia-fabricmanager/socket',
  '/run/nvidia-persistenced/socket',
  '/tmp/nvidia-mps',
  '/usr/bin/nvidia-cuda-mps-control',
  '/usr/bin/nvidia-cuda-mps-server',
  '/usr/bin/nvidia-debugdump',
  '/usr/bin/nvidia-persistenced',
  '/usr/bin/nvidia-smi',
  '/usr/lib/firmware/nvidia/550.54.15/gsp_ga10x.bin',
  '/usr/lib/firmware/nvidia/550.54.15/gsp_tu10x.bin',
  // The dev link for -lcuda (NVIDIA's create-symlinks), bound read-only from the real file.
  '/usr/lib64/libcuda.so',
  ...['cuda', 'cudadebugger', 'nvidia-allocator', 'nvidia-cfg', 'nvidia-gpucomp', 'nvidia-ml', 'nvidia-nvvm', 'nvidia-opencl', 'nvidia-pkcs11-openssl3', 'nvidia-pkcs11', 'nvidia-ptxjitcompiler'].map((l) => `/usr/lib64/lib${l}.so.550.54.15`),
];
/** A mount point that would be the driver's (none but MOUNTS may be mounted): Podman's own are elsewhere. */
const driverish = (p: string) => p.startsWith('/usr/') || p.startsWith('/lib') || /nvidia|cuda/.test(p);

// Mount points first (one "mnt <path>" line each, shell builtins only), then the usual probe.
const MOUNT_PROBE = `while read -r _ _ _ _ m _; do echo "mnt $m"; done </proc/self/mountinfo\n${PROBE}`;

/** p-th percentile (nearest rank) of numbers. */
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function summary(ms: number[]): string {
  return `n=${ms.length} p50 ${percentile(ms, 50).toFixed(1)} ms, p95 ${percentile(ms, 95).toFixed(1)} ms, max ${Math.max(...ms).toFixed(1)} ms`;
}

/** A hooks dir holding oci-gpu.json whose hook is a sh wrapper logging "start end status" (ns) per run around the binary. */
async function timedHooksDir(manifest: string): Promise<{ dir: string; runs(): { ms: number; status: number }[] }> {
  const bin = await hookBinary();
  const dir = tempDir('hooks-timed');
  const hooksDir = path.join(dir, 'hooks.d');
  mkdirSync(hooksDir);
  const log = path.join(dir, 'times.log');
  const wrapper = path.join(dir, 'timed-hook.sh');
  // One line per run, written with a single append (< PIPE_BUF): 50 writers never interleave within a line.
  writeFileSync(wrapper, `#!/bin/sh\ns=$(date +%s%N)\n'${bin}' "$@"\nrc=$?\necho "$s $(date +%s%N) $rc" >>'${log}'\nexit $rc\n`);
  chmodSync(wrapper, 0o755);
  const entry = structuredClone(repoHooksD().get('oci-gpu.json')!);
  entry.hook.path = wrapper;
  entry.hook.args = [...(entry.hook.args ?? ['oci-gpu-hook', 'precreate']), '--manifest', manifest];
  writeFileSync(path.join(hooksDir, 'oci-gpu.json'), JSON.stringify(entry, null, 2));
  return {
    dir: hooksDir,
    runs: () =>
      readFileSync(log, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => {
          const [s, e, rc] = l.split(' ');
          return { ms: Number(BigInt(e!) - BigInt(s!)) / 1e6, status: Number(rc) };
        }),
  };
}

test.before('environment, binary, fixture', async (t) => {
  if (skipped) return;
  t.is(podmanUnavailableReason(), undefined);
  await hookBinary();
  await fixtureManifest('rhel-2gpu');
});

rootTest(`${CONTAINERS} GPU containers at once (crun and runc, devices=0 and =1): each gets exactly its GPU and each driver file once; hook p95 logged${why}`, async (t) => {
  t.timeout(10 * 60_000);
  const m = await fixtureManifest('rhel-2gpu');
  const hooks = await timedHooksDir(m.file);

  const jobs = Array.from({ length: CONTAINERS }, (_, i) => ({
    i,
    runtime: (i % 4 < 2 ? 'crun' : 'runc') as Runtime,
    devices: (i % 2 === 0 ? '0' : '1') as '0' | '1',
  }));
  const t0 = Date.now();
  const results = await Promise.all(
    jobs.map(async (j) => ({
      ...j,
      r: await podmanRun({
        runtime: j.runtime,
        hooksDir: hooks.dir,
        annotations: { 'oci-gpu/devices': j.devices, 'oci-gpu.test/job': String(j.i) },
        args: ['sh', '-c', MOUNT_PROBE],
        timeout: 8 * 60_000,
      }),
    })),
  );
  const wall = Date.now() - t0;

  const failures: string[] = [];
  const fail = (j: { i: number; runtime: Runtime; devices: string; r: RunResult }, what: string) =>
    failures.push(`#${j.i} ${j.runtime} devices=${j.devices}: ${what}${j.r.exitCode !== 0 ? `\n  stderr: ${j.r.stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`);
  for (const j of results) {
    if (j.r.exitCode !== 0) {
      fail(j, `exit ${j.r.exitCode}${j.r.timedOut ? ' (timed out)' : ''}`);
      continue;
    }
    const probe = parseProbe(j.r.stdout);
    const nodes = [...probe.nodes.keys()].sort();
    if (JSON.stringify(nodes) !== JSON.stringify(NODES[j.devices])) fail(j, `nodes ${nodes.join(' ')} instead of ${NODES[j.devices].join(' ')}`);
    const gpu = j.devices === '0' ? '/dev/nvidia0' : '/dev/nvidia3';
    const other = j.devices === '0' ? '/dev/nvidia3' : '/dev/nvidia0';
    if (probe.nodes.get(gpu)?.dev !== `195:${gpu === '/dev/nvidia0' ? 0 : 3}`) fail(j, `${gpu} is ${probe.nodes.get(gpu)?.dev ?? 'missing'}`);
    if (probe.nodes.has(other)) fail(j, `it also sees ${other}`);
    for (const [p, n] of probe.nodes) if (n.open !== ENXIO) fail(j, `open ${p}: ${n.open} (ENXIO = allowed)`);
    // Each planned driver file mounted exactly once; no other driver path mounted at all.
    const points = j.r.stdout.split('\n').filter((l) => l.startsWith('mnt ')).map((l) => l.slice(4));
    const count = new Map<string, number>();
    for (const p of points) count.set(p, (count.get(p) ?? 0) + 1);
    for (const p of MOUNTS) if (count.get(p) !== 1) fail(j, `${p} mounted ${count.get(p) ?? 0} times`);
    for (const p of points) if (driverish(p) && !MOUNTS.includes(p)) fail(j, `unplanned driver mount ${p}`);
    if (!probe.ldcache.has('libcuda.so.1') || !probe.ldcache.has('libnvidia-ml.so.1')) fail(j, 'ld cache lacks libcuda.so.1 or libnvidia-ml.so.1');
    if (probe.smiExit !== 0) fail(j, `nvidia-smi exit ${probe.smiExit}`);
  }
  const runs = hooks.runs();
  const ms = runs.map((r) => r.ms);
  t.log(`${CONTAINERS} containers (${results.filter((r) => r.runtime === 'crun').length} crun, ${results.filter((r) => r.runtime === 'runc').length} runc) started and done in ${(wall / 1000).toFixed(1)} s`);
  t.log(`per container: ${NODES['0'].length} nodes, ${MOUNTS.length} driver mounts checked (each exactly once), no other mount under /usr, /lib or named nvidia/cuda`);
  t.log(`hook under ${CONTAINERS}-way podman concurrency (sh wrapper, start to exit): ${summary(ms)}`);
  t.deepEqual(failures, [], failures.join('\n'));
  t.is(runs.length, CONTAINERS, 'the hook did not run once per container');
  t.true(runs.every((r) => r.status === 0), `hook exit statuses: ${runs.map((r) => r.status).join(',')}`);
});

rootTest(`the binary alone, ${CONTAINERS} precreate runs at once vs one at a time: run times logged${why}`, async (t) => {
  t.timeout(5 * 60_000);
  const m = await fixtureManifest('rhel-2gpu');
  const bin = await hookBinary();
  const dir = tempDir('direct');
  const config = JSON.parse(readFileSync(path.join(path.dirname(new URL(import.meta.url).pathname), '../../../test/fuzz/fixtures/podman-config.json'), 'utf8'));
  const input = (i: number) => {
    const c = structuredClone(config);
    c.annotations['oci-gpu/devices'] = String(i % 2);
    return JSON.stringify(c);
  };
  const once = async (i: number): Promise<number> => {
    const file = path.join(dir, `stdin-${i}`);
    writeFileSync(file, input(i));
    const fd = openSync(file, 'r');
    const t0 = process.hrtime.bigint();
    const { code, out } = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
      const child = spawn(bin, ['precreate', '--manifest', m.file], { stdio: [fd, 'pipe', 'inherit'], env: { PATH: HOOK_PATH_ENV.slice(5) } });
      closeSync(fd);
      let o = '';
      child.stdout!.on('data', (d: Buffer) => (o += d));
      child.on('error', reject);
      child.on('close', (c) => resolve({ code: c, out: o }));
    });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (code !== 0) throw new Error(`run ${i}: exit ${code}`);
    const devices = (JSON.parse(out).linux.devices as { path: string }[]).map((d) => d.path);
    if (!devices.includes(i % 2 ? '/dev/nvidia3' : '/dev/nvidia0') || devices.includes(i % 2 ? '/dev/nvidia0' : '/dev/nvidia3')) throw new Error(`run ${i}: devices ${devices.join(' ')}`);
    return ms;
  };
  const serial: number[] = [];
  for (let i = 0; i < 20; i++) serial.push(await once(i));
  const parallel = await Promise.all(Array.from({ length: CONTAINERS }, (_, i) => once(1000 + i)));
  t.log(`binary one at a time: ${summary(serial)}`);
  t.log(`binary ${CONTAINERS} at once: ${summary(parallel)}`);
  t.pass();
});
