// The precreate hook (build/oci-gpu-hook, the single-file binary) from a hooks.d folder made of the
// repository's hooks.d/*.json, with real Podman and both crun and runc, on fixture hosts (fake GPU
// nodes 195:N, gcc-built driver libraries, a fake nvidia-smi). Each container runs PROBE: which
// /dev/nvidia* it sees and what opening them gives (ENXIO = allowed by the device cgroup, EPERM =
// denied), its ld cache, and nvidia-smi loading libnvidia-ml.so.1 through that cache. A createRuntime
// hooks.d entry copies the config.json the runtime actually got, which must pass the OCI schema.
// Needs root and scripts/setup-host.sh.
import test, { type ExecutionContext } from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  captureHook,
  configDevices,
  configMounts,
  editedManifest,
  ENXIO,
  fixtureManifest,
  hookBinary,
  parseProbe,
  PROBE,
  runBinary,
  RUNTIME_PATHS,
  show,
  tempDir,
  writeHooksDir,
  type HooksDir,
  type ProbeResult,
} from '../helpers/hook-env.js';
import { podmanRun, podmanTests, podmanUnavailableReason, run, RUNTIMES, type RunResult, type Runtime } from '../helpers/podman.js';
import { validateOciConfig } from '../helpers/schema.js';
import { IS_ROOT, rootTest, NEEDS_ROOT as why } from '../helpers/root.js';

// Container starts need podman; the direct runs of the binary below only root (the fixture hosts).
const pod = podmanTests();

test.before('environment and binary', async (t) => {
  if (!IS_ROOT) return;
  if (!pod.skipped) t.is(podmanUnavailableReason(), undefined);
  let t0 = Date.now();
  await hookBinary();
  t.log(`hook binary ready in ${Date.now() - t0} ms`);
  t0 = Date.now();
  await Promise.all([fixtureManifest('h200'), fixtureManifest('rhel-2gpu')]);
  t.log(`fixture hosts and manifests ready in ${Date.now() - t0} ms`);
});

type Config = Record<string, any>;

/** Runs PROBE in an annotated container with our hooks dir + a config capture; returns everything. */
async function gpuContainer(
  runtime: Runtime,
  o: { host: 'h200' | 'rhel-2gpu'; annotations?: Record<string, string>; env?: Record<string, string>; readOnly?: boolean; files?: string[] },
): Promise<{ r: RunResult; probe: ProbeResult; config: Config | undefined; hooks: HooksDir }> {
  const m = await fixtureManifest(o.host);
  const capture = captureHook();
  const hooks = await writeHooksDir({ manifest: m.file, wrap: true, extra: { 'zz-capture.json': capture.entry }, ...(o.files ? { files: o.files } : {}) });
  const r = await podmanRun({
    runtime,
    hooksDir: hooks.dir,
    args: ['sh', '-c', PROBE],
    ...(o.annotations ? { annotations: o.annotations } : {}),
    ...(o.env ? { env: o.env } : {}),
    ...(o.readOnly ? { readOnly: true } : {}),
  });
  return { r, probe: parseProbe(r.stdout), config: capture.config(), hooks };
}

function context(r: RunResult, hooks: HooksDir): string {
  return `${show(r)}\nhook stderr: ${hooks.stderr()}`;
}

/**
 * The container sees exactly `gpus` (/dev/nvidia<minor>) plus nvidiactl and the uvm nodes, all
 * opening with ENXIO; the ld cache lists libcuda.so.1 and libnvidia-ml.so.1 from `libDir`;
 * nvidia-smi runs on the fixture's driver; the runtime's config is schema-valid and has the nodes.
 */
function assertGpuContainer(
  t: ExecutionContext,
  res: { r: RunResult; probe: ProbeResult; config: Config | undefined; hooks: HooksDir },
  want: { gpus: number[]; libDir: string; driver: string; uvmMajor: number },
): void {
  const { r, probe, config, hooks } = res;
  const ctx = context(r, hooks);
  t.is(r.exitCode, 0, ctx);
  const gpuNodes = [...probe.nodes.keys()].filter((p) => /^\/dev\/nvidia\d+$/.test(p)).sort();
  t.deepEqual(gpuNodes, want.gpus.map((n) => `/dev/nvidia${n}`).sort(), ctx);
  for (const n of want.gpus) t.is(probe.nodes.get(`/dev/nvidia${n}`)?.dev, `195:${n}`, ctx);
  t.is(probe.nodes.get('/dev/nvidiactl')?.dev, '195:255', ctx);
  t.is(probe.nodes.get('/dev/nvidia-uvm')?.dev, `${want.uvmMajor}:0`, ctx);
  for (const [p, n] of probe.nodes) t.is(n.open, ENXIO, `open ${p} (ENXIO = allowed by the device cgroup)\n${ctx}`);

  for (const soname of ['libcuda.so.1', 'libnvidia-ml.so.1']) {
    t.true(probe.ldcache.has(soname), `ldconfig -p lacks ${soname}\n${ctx}`);
    t.true(probe.ldcacheLines.some((l) => l.startsWith(`${soname} (libc6,x86-64) => ${want.libDir}/${soname}`)), `${soname} not from ${want.libDir}\n${ctx}`);
  }
  t.is(probe.smiExit, 0, ctx);
  t.regex(probe.smi, new RegExp(`^Driver Version: ${want.driver.replace(/\./g, '\\.')}$`, 'm'), ctx);
  t.regex(probe.smi, new RegExp(`^NVML library: ${want.libDir}/libnvidia-ml\\.so\\.1$`, 'm'), ctx);
  for (const n of want.gpus) t.regex(probe.smi, new RegExp(`^GPU ${n}: /dev/nvidia${n} open: ${ENXIO}$`, 'm'), ctx);

  t.truthy(config, 'the capture hook did not record the config');
  t.deepEqual(validateOciConfig(config), [], 'the config the runtime got is not a valid OCI config');
  t.deepEqual(configDevices(config), [...probe.nodes.keys()].sort(), 'linux.devices differs from what the container sees');
  const rules = (config?.linux?.resources?.devices ?? []) as { allow: boolean; major?: number; minor?: number; access?: string }[];
  for (const n of want.gpus) t.true(rules.some((x) => x.allow && x.major === 195 && x.minor === n && x.access === 'rwm'), `no allow rule for 195:${n}`);
  const driverMounts = (config?.mounts ?? []).filter((m: { destination: string }) => m.destination.startsWith(want.libDir));
  t.true(driverMounts.length > 0, 'no driver library mounts');
  for (const m of driverMounts) t.true(m.options.includes('ro'), `${m.destination} is not read-only`);
}

const h200All = test.macro({
  async exec(t, runtime: Runtime, readOnly: boolean) {
    const m = await fixtureManifest('h200');
    const res = await gpuContainer(runtime, { host: 'h200', annotations: { 'oci-gpu/devices': 'all' }, readOnly });
    assertGpuContainer(t, res, { gpus: [0], libDir: '/usr/local/nvidia/lib64', driver: m.data.driver!.version, uvmMajor: 238 });
    t.is(res.hooks.runs().length, 1, 'the hook did not run exactly once');
  },
  title: (_ = '', runtime: Runtime, readOnly: boolean) => `${runtime}: h200 oci-gpu/devices=all${readOnly ? ' --read-only' : ''}: nodes, ENXIO, ld cache, nvidia-smi${pod.why}`,
});

const rhelOne = test.macro({
  async exec(t, runtime: Runtime, selector: 'index' | 'uuid' | 'pci' | 'cdi') {
    const m = await fixtureManifest('rhel-2gpu');
    const gpu1 = m.data.gpus.find((g) => g.index === 1)!;
    t.is(gpu1.minor, 3, 'fixture: GPU index 1 should be minor 3');
    const value = { index: '1', uuid: gpu1.uuid, pci: '0000:86:00.0', cdi: '' }[selector];
    const annotations: Record<string, string> = selector === 'cdi' ? { 'cdi.k8s.io/test': 'nvidia.com/gpu=1' } : { 'oci-gpu/devices': value };
    const res = await gpuContainer(runtime, { host: 'rhel-2gpu', annotations });
    // GPU index 1 is /dev/nvidia3: minors are not contiguous, and GPU 0's /dev/nvidia0 must not be there.
    assertGpuContainer(t, res, { gpus: [3], libDir: '/usr/lib64', driver: m.data.driver!.version, uvmMajor: 511 });
    t.false(res.probe.nodes.has('/dev/nvidia0'), context(res.r, res.hooks));
    t.notRegex(res.probe.smi, /GPU 0:/);
  },
  title: (_ = '', runtime: Runtime, selector: string) =>
    `${runtime}: rhel-2gpu GPU 1 by ${selector === 'cdi' ? 'CDI name in a cdi.k8s.io annotation' : selector} gets /dev/nvidia3 only${pod.why}`,
});

const GRAPHICS_SONAMES = ['libGLX_nvidia.so.0', 'libEGL_nvidia.so.0', 'libGLESv2_nvidia.so.2', 'libnvidia-glcore.so.550.54.15'];

const computeOnly = test.macro({
  async exec(t, runtime: Runtime) {
    const res = await gpuContainer(runtime, { host: 'rhel-2gpu', annotations: { 'oci-gpu/devices': '0', 'oci-gpu/capabilities': 'compute' } });
    const ctx = context(res.r, res.hooks);
    t.is(res.r.exitCode, 0, ctx);
    t.true(res.probe.ldcache.has('libcuda.so.1'), ctx);
    for (const s of GRAPHICS_SONAMES) t.false(res.probe.ldcache.has(s), `compute-only container has ${s}\n${ctx}`);
    // utility is not asked for: no nvidia-smi, no libnvidia-ml
    t.false(res.probe.ldcache.has('libnvidia-ml.so.1'), ctx);
    t.is(res.probe.smiExit, 127, `nvidia-smi should be absent\n${ctx}`);
    t.deepEqual(validateOciConfig(res.config), []);
    const mounts = configMounts(res.config);
    t.false(mounts.some((d) => /GL|EGL|glcore|vulkan|glvnd/.test(d)), `graphics files mounted: ${mounts.join(' ')}`);
    t.deepEqual(configDevices(res.config), ['/dev/nvidia-uvm', '/dev/nvidia-uvm-tools', '/dev/nvidia0', '/dev/nvidiactl']);

    // Control: the same host gives the graphics libraries when they are asked for.
    const gfx = await gpuContainer(runtime, { host: 'rhel-2gpu', annotations: { 'oci-gpu/devices': '0', 'oci-gpu/capabilities': 'graphics' } });
    t.is(gfx.r.exitCode, 0, context(gfx.r, gfx.hooks));
    for (const s of GRAPHICS_SONAMES) t.true(gfx.probe.ldcache.has(s), `graphics container lacks ${s}\n${context(gfx.r, gfx.hooks)}`);
  },
  title: (_ = '', runtime: Runtime) => `${runtime}: oci-gpu/capabilities=compute gets libcuda but no graphics libraries (graphics does)${pod.why}`,
});

const unannotated = test.macro({
  async exec(t, runtime: Runtime) {
    const res = await gpuContainer(runtime, { host: 'h200' });
    const ctx = context(res.r, res.hooks);
    // PROBE's nvidia-smi is missing: exit 0 of sh is not expected; the nodes and cache are what matter.
    t.deepEqual(res.hooks.runs(), [], 'the hook ran for a container without the annotation');
    t.is(res.probe.nodes.size, 0, ctx);
    t.false(res.probe.ldcache.has('libcuda.so.1'), ctx);
    t.is(res.probe.smiExit, 127, ctx);
    t.truthy(res.config);
    t.deepEqual(validateOciConfig(res.config), []);
    t.deepEqual(configDevices(res.config), []);
    t.false(configMounts(res.config).some((d) => d.includes('nvidia')), 'driver files mounted');
    const createRuntime = (res.config?.hooks?.createRuntime ?? []) as { path: string }[];
    t.deepEqual(createRuntime.map((h) => path.basename(h.path)), ['capture.sh'], 'hooks other than the capture hook were added');
  },
  title: (_ = '', runtime: Runtime) => `${runtime}: a container without the annotation is unchanged and the hook is not triggered${pod.why}`,
});

const nvidiaEnv = test.macro({
  async exec(t, runtime: Runtime) {
    const m = await fixtureManifest('rhel-2gpu');
    const files = ['oci-gpu-nvidia-env.json'];
    const res = await gpuContainer(runtime, { host: 'rhel-2gpu', env: { NVIDIA_VISIBLE_DEVICES: '1' }, files });
    assertGpuContainer(t, res, { gpus: [3], libDir: '/usr/lib64', driver: m.data.driver!.version, uvmMajor: 511 });

    // The entry is `always`: a container without the variable runs the hook and is left alone.
    const plain = await gpuContainer(runtime, { host: 'rhel-2gpu', files });
    t.is(plain.hooks.runs().length, 1, 'the always entry did not run');
    t.is(plain.probe.nodes.size, 0, context(plain.r, plain.hooks));
    t.deepEqual(configDevices(plain.config), []);
    t.is(plain.hooks.stderr(), '');
  },
  title: (_ = '', runtime: Runtime) => `${runtime}: NVIDIA_VISIBLE_DEVICES=1 with the opt-in env entry gets GPU 1 only; no variable, no change${pod.why}`,
});

/** Starts a container that must not start; returns podman's result and what the hook said. */
async function failingStart(runtime: Runtime, manifest: string, annotations: Record<string, string>): Promise<{ r: RunResult; hookErr: string; hooks: HooksDir }> {
  const hooks = await writeHooksDir({ manifest, wrap: true });
  const out = tempDir('ran');
  const r = await podmanRun({ runtime, hooksDir: hooks.dir, annotations, volumes: [`${out}:/out`], args: ['sh', '-c', 'echo RAN; touch /out/ran'] });
  let ran = false;
  try {
    readFileSync(path.join(out, 'ran'));
    ran = true;
  } catch {
    /* expected */
  }
  if (ran) throw new Error(`the container ran: ${show(r)}`);
  return { r, hookErr: hooks.stderr(), hooks };
}

function assertFailedStart(t: ExecutionContext, f: { r: RunResult; hookErr: string }): string {
  const ctx = `${show(f.r)}\nhook stderr: ${f.hookErr}`;
  t.not(f.r.exitCode, 0, ctx);
  t.notRegex(f.r.stdout, /RAN/, ctx);
  t.regex(f.r.stderr, /precreate hook|OCI Hooks/, ctx);
  const lines = f.hookErr.split('\n').filter(Boolean);
  t.is(lines.length, 1, `the hook's error is not one line:\n${f.hookErr}`);
  t.regex(lines[0] ?? '', /^oci-gpu-hook: /, ctx);
  return lines[0] ?? '';
}

const unknownDevice = test.macro({
  async exec(t, runtime: Runtime) {
    const m = await fixtureManifest('rhel-2gpu');
    const f = await failingStart(runtime, m.file, { 'oci-gpu/devices': '7' });
    const line = assertFailedStart(t, f);
    t.regex(line, /GPU "7", which does not exist/);
    // ...and names what exists: both GPUs with their UUIDs and PCI bus ids
    for (const g of m.data.gpus) {
      t.true(line.includes(`${g.index} (${g.uuid}, ${g.pciBusId})`), `${line} does not name GPU ${g.index}`);
    }
  },
  title: (_ = '', runtime: Runtime) => `${runtime}: oci-gpu/devices=7 fails the start with one line naming the GPUs that exist${pod.why}`,
});

const missingManifest = test.macro({
  async exec(t, runtime: Runtime) {
    const file = path.join(tempDir('no-manifest'), 'manifest.json');
    const line = assertFailedStart(t, await failingStart(runtime, file, { 'oci-gpu/devices': 'all' }));
    t.true(line.includes(`manifest "${file}" does not exist`), line);
    t.regex(line, /oci-gpu scan|oci-gpu status/);
  },
  title: (_ = '', runtime: Runtime) => `${runtime}: a missing manifest fails the start with one line saying so and what to run${pod.why}`,
});

const driverMismatch = test.macro({
  async exec(t, runtime: Runtime) {
    const m = await fixtureManifest('h200');
    const loaded = readFileSync(path.join(m.root, 'sys/module/nvidia/version'), 'utf8').trim();
    const file = editedManifest(m, (d) => {
      d.driver!.version = '570.86.10';
    });
    const line = assertFailedStart(t, await failingStart(runtime, file, { 'oci-gpu/devices': 'all' }));
    t.regex(line, /written for driver 570\.86\.10/);
    t.true(line.includes(`driver ${loaded} is loaded now`), line);
  },
  title: (_ = '', runtime: Runtime) => `${runtime}: a manifest of another driver version than /sys/module/nvidia/version fails the start clearly${pod.why}`,
});

for (const runtime of RUNTIMES) {
  pod.test(h200All, runtime, false);
  pod.test(h200All, runtime, true);
  pod.test(rhelOne, runtime, 'index');
  pod.test(rhelOne, runtime, 'uuid');
  pod.test(rhelOne, runtime, 'pci');
  pod.test(rhelOne, runtime, 'cdi');
  pod.test(computeOnly, runtime);
  pod.test(unannotated, runtime);
  pod.test(nvidiaEnv, runtime);
  pod.test(unknownDevice, runtime);
  pod.test(missingManifest, runtime);
  pod.test(driverMismatch, runtime);
}

// Direct runs of the binary: what Podman would get back from precreate.

rootTest(`precreate returns a config that asks for nothing byte for byte (without reading the manifest)${why}`, async (t) => {
  const bin = await hookBinary();
  const dir = tempDir('identity');
  const spec = await run(RUNTIME_PATHS.runc, ['spec'], { cwd: dir });
  t.is(spec.exitCode, 0, show(spec));
  const parsed = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8')) as Config;
  parsed.annotations = { 'org.example/other': 'x', 'oci-gpu/devicesX': 'all' };
  parsed.process.env.push('NVIDIA_VISIBLE_DEVICES=void');
  // Odd formatting (tabs, CRLF-free but unusual spacing, trailing newline): any re-serialisation would show.
  const inputs = [readFileSync(path.join(dir, 'config.json'), 'utf8'), JSON.stringify(parsed, null, '\t') + '\n', `  ${JSON.stringify(parsed)}  \n\n`];
  const missing = path.join(dir, 'no-such-manifest.json');
  for (const input of inputs) {
    const r = await runBinary(bin, ['precreate', '--manifest', missing], input);
    t.is(r.exitCode, 0, show(r));
    t.is(r.stderr, '');
    t.true(Buffer.from(r.stdout).equals(Buffer.from(input)), `output differs from input:\n${r.stdout}`);
  }
  // Control: the same config asking for a GPU does read the manifest (and fails: it is missing).
  parsed.annotations['oci-gpu/devices'] = 'all';
  parsed.root.path = path.join(dir, 'rootfs');
  const asks = await runBinary(bin, ['precreate', '--manifest', missing], JSON.stringify(parsed));
  t.not(asks.exitCode, 0);
  t.regex(asks.stderr, /does not exist/);
});

rootTest(`precreate output for an annotated config is valid, keeps everything else, and is idempotent${why}`, async (t) => {
  const bin = await hookBinary();
  const m = await fixtureManifest('h200');
  const dir = tempDir('precreate-direct');
  await run(RUNTIME_PATHS.crun, ['spec'], { cwd: dir });
  const config = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8')) as Config;
  config.root.path = path.join(dir, 'rootfs');
  config.annotations = { 'oci-gpu/devices': 'all', keep: 'me' };
  const once = await runBinary(bin, ['precreate', '--manifest', m.file], JSON.stringify(config));
  t.is(once.exitCode, 0, show(once));
  const edited = JSON.parse(once.stdout) as Config;
  t.deepEqual(validateOciConfig(edited), []);
  t.deepEqual(configDevices(edited), ['/dev/nvidia-uvm', '/dev/nvidia-uvm-tools', '/dev/nvidia0', '/dev/nvidiactl']);
  t.is(edited.annotations.keep, 'me');
  t.deepEqual(edited.process, config.process);
  for (const mnt of config.mounts) t.true(edited.mounts.some((x: { destination: string }) => x.destination === mnt.destination));
  // `crun spec` makes a read-only rootfs: the step runs from the runtime's namespace, as CDI's does.
  t.true(config.root.readonly);
  const ld = (edited.hooks?.createRuntime ?? []) as { path: string; args: string[]; env: string[] }[];
  t.is(ld.length, 1, 'one createRuntime ld cache step');
  t.is(edited.hooks?.createContainer, undefined);
  t.false(ld[0]!.args.includes(config.root.path), 'the ld cache step reads the rootfs at start (config.json in the bundle), the same step as CDI\'s');
  t.deepEqual(ld[0]!.args.slice(0, 2), ['sh', '-c']);
  t.deepEqual(ld[0]!.env, ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], 'the ld cache step must get a minimal env');
  // A writable rootfs: the step runs inside the container's namespaces, given the rootfs.
  const writable = await runBinary(bin, ['precreate', '--manifest', m.file], JSON.stringify({ ...config, root: { path: config.root.path } }));
  t.is(writable.exitCode, 0, show(writable));
  const rw = JSON.parse(writable.stdout) as Config;
  t.is(rw.hooks?.createRuntime, undefined);
  const cc = (rw.hooks?.createContainer ?? []) as { path: string; args: string[]; env: string[] }[];
  t.is(cc.length, 1, 'one createContainer ld cache step');
  t.is(cc[0]!.args[cc[0]!.args.indexOf('oci-gpu-post-mount') + 5], config.root.path, 'the step is given root.path');
  t.deepEqual(cc[0]!.env, ['PATH=/usr/sbin:/usr/bin:/sbin:/bin']);
  // A second precreate (both hooks.d entries installed) changes nothing more.
  const twice = await runBinary(bin, ['precreate', '--manifest', m.file], once.stdout);
  t.is(twice.exitCode, 0, show(twice));
  t.deepEqual(JSON.parse(twice.stdout), edited);
  writeFileSync(path.join(dir, 'edited.json'), once.stdout);
});

// Runtimes write the state (or config) into the hook's stdin pipe after starting it. Once Node has
// made process.stdin (execa's import does), fd 0 is non-blocking: a read before the runtime has
// written must wait, not fail with EAGAIN. A writer 300 ms late makes that case certain, per stage.
rootTest(`every stage reads stdin that arrives late on a pipe (no EAGAIN)${why}`, async (t) => {
  const bin = await hookBinary();
  const dir = tempDir('late-stdin');
  const config = JSON.stringify({ ociVersion: '1.0.2', process: { args: ['true'], cwd: '/' }, root: { path: '/tmp' } });
  const state = JSON.stringify({ ociVersion: '1.0.2', id: 'x', status: 'creating', pid: 1, bundle: path.join(dir, 'no-bundle') });
  const late = (input: string, args: string[]) => {
    const f = path.join(dir, `in-${args[0]}`);
    writeFileSync(f, input);
    return run('/bin/sh', ['-c', '(sleep 0.3; cat "$0") | "$@"', f, bin, ...args]);
  };
  const cases: [string[], string, RegExp][] = [
    [['precreate', '--manifest', '/nonexistent/m.json'], config, /^$/],
    [['createRuntime', '--manifest', '/nonexistent/m.json'], state, /cannot read bundle config/],
    [['prestart', '--manifest', '/nonexistent/m.json'], state, /cannot read bundle config/],
  ];
  for (const [args, input, expected] of cases) {
    const r = await late(input, args);
    t.notRegex(r.stderr, /EAGAIN/, `${args[0]}: ${show(r)}`);
    t.regex(r.stderr, expected, `${args[0]}: ${show(r)}`);
  }
});
