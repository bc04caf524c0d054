// What a GPU container sees beyond the GPU's own node (issue: dev links, params masking, CUDA forward
// compatibility, MIG and IMEX), through oci-gpu-runtime (the shipped binary) wrapping bare runc and
// crun on the fixture hosts, and Podman's CDI support for MIG device names. Every device node is
// opened in the container: ENXIO means the device cgroup allowed it (a fake node has no driver).
// Needs root, runc, crun and the test rootfs (scripts/setup-host.sh).
import { chmodSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { cliBinary, ENXIO, fixtureManifest, makeBundle, parseProbe, PROBE, RUNTIME_BIN, RUNTIME_PATHS, show, tempDir, type Bundle } from '../helpers/hook-env.js';
import { podmanRun, podmanTests, podmanUnavailableReason, run, RUNTIMES, type Runtime } from '../helpers/podman.js';
import test from 'ava';

// Bare bundles need runc, crun and the test rootfs: podman's prerequisites (skipped with the reason
// without them, failed under test:all).
const { test: bundleTest, why, skipped } = podmanTests();

test.before('binary and fixture manifests', async (t) => {
  if (skipped) return;
  t.is(podmanUnavailableReason(), undefined);
  await cliBinary();
  await Promise.all(['h200', 'a100-mig', 'gb200-imex'].map((h) => fixtureManifest(h as 'h200')));
});

let seq = 0;
async function wrapped(runtime: Runtime, host: 'h200' | 'a100-mig' | 'gb200-imex', b: Bundle) {
  const m = await fixtureManifest(host);
  const r = await run(RUNTIME_BIN, ['--runtime', RUNTIME_PATHS[runtime], '--manifest', m.file, '--root', b.stateRoot, 'run', `oci-gpu-view-${runtime}-${process.pid}-${++seq}`], { cwd: b.dir });
  return { r, m, probe: parseProbe(r.stdout) };
}
const cap = (n: number) => `/dev/nvidia-caps/nvidia-cap${n}`;
const BASE_NODES = ['/dev/nvidia-uvm', '/dev/nvidia-uvm-tools', '/dev/nvidiactl'];

// --- MIG ---

const migDevice = test.macro({
  async exec(t, runtime: Runtime) {
    const b = await makeBundle(runtime, { args: ['sh', '-c', PROBE], env: ['NVIDIA_VISIBLE_DEVICES=0:2'] });
    const { r, probe } = await wrapped(runtime, 'a100-mig', b);
    t.is(r.exitCode, 0, show(r));
    // MIG device 0:2 is GPU instance 2 / compute instance 1 of GPU 0: caps 21 and 23 (see the fixture's README).
    t.deepEqual([...probe.nodes.keys()].sort(), ['/dev/nvidia0', cap(21), cap(23), ...BASE_NODES].sort(), show(r));
    for (const [node, { open }] of probe.nodes) t.is(open, ENXIO, `${node} is allowed by the device cgroup`);
    t.is(probe.nodes.get(cap(23))?.dev, '237:23', 'a cap node the host lacks is made from its numbers');
    t.is(probe.smiExit, 0, probe.smi);
  },
  title: (_ = '', runtime: Runtime) => `${runtime}: MIG device 0:2 (NVIDIA_VISIBLE_DEVICES) gets the parent GPU node and its GPU and compute instance caps, no other instance's, no config/monitor caps${why}`,
});
for (const runtime of RUNTIMES) bundleTest(migDevice, runtime);

bundleTest(`crun: a MIG device by UUID in the annotation, beside the whole GPU 1${why}`, async (t) => {
  const b = await makeBundle('crun', { args: ['sh', '-c', PROBE], annotations: { 'oci-gpu/devices': 'MIG-0a1b2c3d-1111-5222-8333-444455556661,1' } });
  const { r, probe } = await wrapped('crun', 'a100-mig', b);
  t.is(r.exitCode, 0, show(r));
  t.deepEqual([...probe.nodes.keys()].sort(), ['/dev/nvidia0', '/dev/nvidia1', cap(12), cap(13), ...BASE_NODES].sort());
});

const refusedMig = test.macro({
  async exec(t, env: string, says: RegExp) {
    const imex = env.startsWith('NVIDIA_IMEX');
    const b = await makeBundle('runc', { args: ['true'], env: imex ? ['NVIDIA_VISIBLE_DEVICES=0', env] : [env] });
    const before = readFileSync(b.config, 'utf8');
    const { r } = await wrapped('runc', imex ? 'gb200-imex' : 'a100-mig', b);
    t.not(r.exitCode, 0);
    const ours = r.stderr.split('\n').filter((l) => l.startsWith('oci-gpu-runtime:'));
    t.is(ours.length, 1, show(r));
    t.regex(ours[0]!, says);
    t.is(readFileSync(b.config, 'utf8'), before, 'the config is untouched');
  },
  title: (_ = '', env: string) => `refused in one line naming what exists, config untouched: ${env}${why}`,
});
bundleTest(refusedMig, 'NVIDIA_VISIBLE_DEVICES=0', /asks for GPU 0 \("0"\) whole, but it is split into MIG devices: ask for one of them; GPU 0 has MIG devices 0:0 \(MIG-0a1b2c3d-1111-5222-8333-444455556661, 3g\.40gb\), 0:1 \(.*\), 0:2 \(/);
bundleTest(refusedMig, 'NVIDIA_VISIBLE_DEVICES=1:0', /asks for MIG device "1:0" but GPU 1 is not in MIG mode: ask for it as 1$/);
bundleTest(refusedMig, 'NVIDIA_VISIBLE_DEVICES=0:9', /asks for MIG device "0:9", which does not exist; GPU 0 has MIG devices 0:0/);
bundleTest(refusedMig, 'NVIDIA_VISIBLE_DEVICES=0:one', /"0:one" is not a MIG device: use <GPU index>:<MIG index>, like 0:1$/);
bundleTest(refusedMig, 'NVIDIA_VISIBLE_DEVICES=MIG-00000000-0000-0000-0000-000000000000', /asks for MIG device "MIG-00000000-0000-0000-0000-000000000000", which does not exist; this host has GPU 0: MIG devices 0:0/);

// --- IMEX channels ---

bundleTest(`runc: NVIDIA_IMEX_CHANNELS=1 gets channel 1 only; an unknown channel is refused naming those that exist${why}`, async (t) => {
  const b = await makeBundle('runc', { args: ['sh', '-c', PROBE], env: ['NVIDIA_VISIBLE_DEVICES=0', 'NVIDIA_IMEX_CHANNELS=1'] });
  const { r, probe } = await wrapped('runc', 'gb200-imex', b);
  t.is(r.exitCode, 0, show(r));
  t.deepEqual([...probe.nodes.keys()].sort(), ['/dev/nvidia-caps-imex-channels/channel1', '/dev/nvidia0', ...BASE_NODES].sort());
  t.is(probe.nodes.get('/dev/nvidia-caps-imex-channels/channel1')?.open, ENXIO);
});
bundleTest(refusedMig, 'NVIDIA_IMEX_CHANNELS=7', /asks for IMEX channel 7, which does not exist; this host has 2 IMEX channels: 0, 1$/);

// --- dev links ---

const devLinks = test.macro({
  async exec(t, runtime: Runtime) {
    const lib = '/usr/local/nvidia/lib64';
    const script = `cmp ${lib}/libcuda.so ${lib}/libcuda.so.1 && echo SAME-FILE; [ -L ${lib}/libcuda.so ] || echo NOT-A-LINK; ldconfig -p | grep 'libcuda.so.1 '; echo x > ${lib}/libcuda.so 2>/dev/null || echo READ-ONLY`;
    const b = await makeBundle(runtime, { args: ['sh', '-c', script], env: ['NVIDIA_VISIBLE_DEVICES=0'], readonly: false });
    const { r } = await wrapped(runtime, 'h200', b);
    t.is(r.exitCode, 0, show(r));
    t.regex(r.stdout, /^SAME-FILE$/m, 'libcuda.so is the driver\'s libcuda (a read-only bind of the real file)');
    t.regex(r.stdout, /^NOT-A-LINK$/m, 'nothing was written into the image');
    t.regex(r.stdout, /^READ-ONLY$/m);
    t.regex(r.stdout, /libcuda\.so\.1 \(libc6,x86-64\) => \/usr\/local\/nvidia\/lib64\/libcuda\.so\.1$/m, 'the ld cache still resolves the soname to the versioned file');
  },
  title: (_ = '', runtime: Runtime) => `${runtime}: libcuda.so is there for -lcuda (the driver's libcuda, read-only, no write into the image)${why}`,
});
for (const runtime of RUNTIMES) bundleTest(devLinks, runtime);

// --- params masking ---

// The container's own procfs cannot hold a fake NVIDIA params file here (no driver on this machine):
// the bundle leaves /proc unmounted and its image carries /proc/driver/nvidia/params, which the
// post-mount step masks inside the container's mount namespace as it masks the real one on a GPU host.
// crun only: runc cannot start a container without /proc (it closes fds through /proc/self/fd), and
// refuses spec mounts under /proc; scripts/gpu-lab.sh proves both runtimes on the real driver's params.
const params = test.macro({
  async exec(t, runtime: Runtime) {
    const script = 'cat /proc/driver/nvidia/params; echo ModifyDeviceFiles: 9 > /proc/driver/nvidia/params 2>/dev/null || echo READ-ONLY';
    const b = await makeBundle(runtime, {
      args: ['sh', '-c', script],
      env: ['NVIDIA_VISIBLE_DEVICES=0'],
      readonly: false,
      edit: (c) => (c.mounts = (c.mounts as { destination: string }[]).filter((m) => m.destination !== '/proc')),
    });
    mkdirSync(path.join(b.dir, 'rootfs/proc/driver/nvidia'), { recursive: true });
    writeFileSync(path.join(b.dir, 'rootfs/proc/driver/nvidia/params'), 'EnableMSI: 1\nModifyDeviceFiles: 1\n');
    const { r, m } = await wrapped(runtime, 'h200', b);
    t.is(r.exitCode, 0, show(r));
    t.regex(r.stdout, /^ModifyDeviceFiles: 0$/m, show(r));
    t.notRegex(r.stdout, /^ModifyDeviceFiles: 1$/m);
    t.regex(r.stdout, /^READ-ONLY$/m);
    const mask = JSON.parse(readFileSync(m.file, 'utf8')).paramsMask as string;
    t.regex(readFileSync(mask, 'utf8'), /^ModifyDeviceFiles: 0$/m, 'the host file is unchanged');
    t.is(readFileSync(path.join(b.dir, 'rootfs/proc/driver/nvidia/params'), 'utf8'), 'EnableMSI: 1\nModifyDeviceFiles: 1\n', 'the image file under the bind is unchanged');
  },
  title: (_ = '', runtime: Runtime) => `${runtime}: /proc/driver/nvidia/params reads ModifyDeviceFiles: 0 in the container, read-only${why}`,
});
bundleTest(params, 'crun');

bundleTest(`runc: with the container's real procfs (no NVIDIA params on this machine) the step skips masking and the container starts${why}`, async (t) => {
  const b = await makeBundle('runc', { args: ['sh', '-c', 'ls /proc/driver/nvidia 2>&1; echo STARTED'], env: ['NVIDIA_VISIBLE_DEVICES=0'] });
  const { r } = await wrapped('runc', 'h200', b);
  t.is(r.exitCode, 0, show(r));
  t.regex(r.stdout, /^STARTED$/m);
});

// --- CUDA forward compatibility ---

/** An image like nvidia/cuda's: /usr/local/cuda -> /etc/alternatives/cuda -> /usr/local/cuda-13.5, with compat/libcuda.so.<version>. */
function addCompat(rootfs: string, version: string): void {
  const compat = path.join(rootfs, 'usr/local/cuda-13.5/compat');
  mkdirSync(compat, { recursive: true });
  mkdirSync(path.join(rootfs, 'etc/alternatives'), { recursive: true });
  rmSync(path.join(rootfs, 'usr/local/cuda'), { force: true, recursive: true });
  symlinkSync('/etc/alternatives/cuda', path.join(rootfs, 'usr/local/cuda'));
  symlinkSync('/usr/local/cuda-13.5', path.join(rootfs, 'etc/alternatives/cuda'));
  const src = path.join(tempDir('compat-src'), 'compat.c');
  writeFileSync(src, 'int cuda_compat_library(void) { return 1; }\n');
  const r = spawnSync('gcc', ['-shared', '-fPIC', '-Wl,-soname,libcuda.so.1', '-o', path.join(compat, `libcuda.so.${version}`), src]);
  if (r.status !== 0) throw new Error(String(r.stderr));
  chmodSync(compat, 0o755);
}

const compat = test.macro({
  async exec(t, runtime: Runtime, version: string, first: 'compat' | 'driver') {
    const b = await makeBundle(runtime, { args: ['sh', '-c', "ldconfig -p | grep 'libcuda.so.1 '"], env: ['NVIDIA_VISIBLE_DEVICES=0'], readonly: runtime === 'crun' });
    addCompat(path.join(b.dir, 'rootfs'), version);
    const { r } = await wrapped(runtime, 'h200', b);
    t.is(r.exitCode, 0, show(r));
    const lines = r.stdout.trim().split('\n');
    t.regex(lines[0] ?? '', first === 'compat' ? /=> \/usr\/local\/cuda\/compat\/libcuda\.so\.1$/ : /=> \/usr\/local\/nvidia\/lib64\/libcuda\.so\.1$/, r.stdout);
    t.is(lines.some((l) => l.includes('/usr/local/cuda/compat/')), first === 'compat', 'an older compat folder is not in the cache at all');
  },
  title: (_ = '', runtime: Runtime, version: string, first: string) => `${runtime}: an image's compat libcuda ${version} on driver 580 → ${first === 'compat' ? 'first in the ld cache' : 'the driver\'s libcuda stays first'}${why}`,
});
bundleTest(compat, 'runc', '590.44.01', 'compat');
bundleTest(compat, 'crun', '590.44.01', 'compat'); // read-only rootfs
bundleTest(compat, 'runc', '575.51.03', 'driver');
bundleTest(compat, 'crun', '580.82.07', 'driver'); // same branch, newer patch: not forward compatibility

// --- MIG through Podman's own CDI support ---

const { serial: podmanSerial, why: noPodman } = podmanTests();
podmanSerial(`crun: podman --device <kind>=0:1 applies the MIG device from the CDI spec${noPodman}`, async (t) => {
  t.is(podmanUnavailableReason(), undefined);
  const { root } = await fixtureManifest('a100-mig');
  const kind = `oci-gpu-mig-${process.pid}.local/gpu`;
  const spec = `/var/run/cdi/${kind.replace(/[./]/g, '-')}.json`;
  try {
    const g = await run(await cliBinary(), ['cdi', 'generate', '--root', root, '--kind', kind, '--output', spec]);
    t.is(g.exitCode, 0, show(g));
    const names = (JSON.parse(readFileSync(spec, 'utf8')).devices as { name: string }[]).map((d) => d.name);
    t.deepEqual(names, ['0:0', '0:1', '0:2', '1', 'MIG-0a1b2c3d-1111-5222-8333-444455556661', 'MIG-0a1b2c3d-1111-5222-8333-444455556662', 'MIG-0a1b2c3d-1111-5222-8333-444455556663', 'GPU-7b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e', 'all']);
    const r = await podmanRun({ runtime: 'crun', devices: [`${kind}=0:1`], args: ['sh', '-c', PROBE] });
    t.is(r.exitCode, 0, show(r));
    const probe = parseProbe(r.stdout);
    t.deepEqual([...probe.nodes.keys()].sort(), ['/dev/nvidia0', cap(21), cap(22), ...BASE_NODES].sort());
    t.true(probe.ldcache.has('libnvidia-ml.so.1'), 'the post-mount step ran');
  } finally {
    rmSync(spec, { force: true });
  }
});
