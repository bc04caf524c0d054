// The legacy createRuntime/prestart stage (src/hook/legacy.ts) on this machine's cgroup v1: the hook
// itself creates the nodes, allows them in the container's devices cgroup (devices.allow), binds the
// driver files and refreshes the ld cache, from inside the container's mount namespace. From a
// hooks.d entry under Podman and from a bare bundle's hooks.createRuntime, with runc and crun. Also:
// it stands down when the config already has the devices (precreate ran first); the cgroup v2
// refusal (pure functions fed a v2 /proc/<pid>/cgroup); and the ldcache stage the CDI spec runs.
// Needs root and scripts/setup-host.sh.
import test, { type ExecutionContext } from 'ava';
import { copyFileSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { devicesCgroupPath, refuseUnlessAllowed } from '../../src/hook/legacy.js';
import {
  assertProbe,
  captureHook,
  configDevices,
  ENXIO,
  fixtureManifest,
  hookBinary,
  cliBinary,
  HOOK_BIN,
  HOOK_PATH_ENV,
  makeBundle,
  parseProbe,
  PROBE,
  RUNTIME_PATHS,
  show,
  tempDir,
  writeHooksDir,
  type ProbeResult,
} from '../helpers/hook-env.js';
import { podmanRun, podmanTests, podmanUnavailableReason, run, RUNTIMES, type Runtime } from '../helpers/podman.js';
import { validateOciConfig } from '../helpers/schema.js';
import { CGROUP_V1 } from '../helpers/needs.js';

// The stage allows devices through devices.allow: its container tests need a cgroup v1 host (on v2
// it refuses, see the tests of that below); the CDI post-mount step at the end runs anywhere.
const pod = podmanTests();
const legacy = podmanTests(CGROUP_V1);

test.before('environment, binary, fixtures', async (t) => {
  if (pod.skipped) return;
  t.is(podmanUnavailableReason(), undefined);
  await hookBinary();
  await Promise.all([fixtureManifest('h200'), fixtureManifest('rhel-2gpu')]);
});

/** PROBE plus how many mounts the container has at nvidia-smi's path (2 = the driver files were bound twice). */
const PROBE_MOUNTS = `${PROBE}\necho "smi-mounts $(grep -c ' /usr/bin/nvidia-smi ' /proc/self/mountinfo)"`;

function smiMounts(stdout: string): number {
  return Number(/^smi-mounts (\d+)$/m.exec(stdout)?.[1] ?? NaN);
}


/** True when a list of OCI device rules lets 195:minor through (the runtime would have allowed it). */
function specAllows(config: Record<string, any> | undefined, major: number, minor: number): boolean {
  let allowed = false;
  for (const r of (config?.linux?.resources?.devices ?? []) as { allow: boolean; major?: number; minor?: number }[]) {
    if ((r.major ?? -1) !== -1 && r.major !== major) continue;
    if ((r.minor ?? -1) !== -1 && r.minor !== minor) continue;
    allowed = r.allow;
  }
  return allowed;
}

const podmanLegacy = test.macro({
  async exec(t, runtime: Runtime, stage: 'createRuntime' | 'prestart', readOnly: boolean) {
    const m = await fixtureManifest('rhel-2gpu');
    const capture = captureHook();
    const hooks = await writeHooksDir({ manifest: m.file, stage, wrap: true, extra: { 'zz-capture.json': capture.entry } });
    const r = await podmanRun({ runtime, hooksDir: hooks.dir, annotations: { 'oci-gpu/devices': '1' }, readOnly, args: ['sh', '-c', PROBE_MOUNTS] });
    const ctx = `${show(r)}\nhook stderr: ${hooks.stderr()}`;
    t.is(r.exitCode, 0, ctx);
    t.is(hooks.runs().length, 1, ctx);
    t.true(hooks.runs()[0]!.startsWith(`${stage} `), hooks.runs()[0]);
    assertProbe(t, parseProbe(r.stdout), ctx, { gpus: [3], libDir: '/usr/lib64', driver: m.data.driver!.version });
    t.is(smiMounts(r.stdout), 1, ctx);
    // The runtime's config has none of it: the hook did the nodes, the cgroup rules and the mounts itself.
    const config = capture.config();
    t.deepEqual(validateOciConfig(config), []);
    t.deepEqual(configDevices(config), [], 'the spec already had the devices: this would not test the legacy path');
    t.false(specAllows(config, 195, 3), 'the spec already allowed 195:3: ENXIO would not prove devices.allow');
  },
  title: (_ = '', runtime: Runtime, stage: string, readOnly: boolean) =>
    `${runtime}: podman + hooks.d ${stage} stage${readOnly ? ' --read-only' : ''}: nodes allowed via devices.allow (ENXIO), mounts, ld cache${legacy.why}`,
});

const afterPrecreate = test.macro({
  async exec(t, runtime: Runtime) {
    const m = await fixtureManifest('h200');
    const pre = await writeHooksDir({ manifest: m.file });
    const legacy = await writeHooksDir({ manifest: m.file, stage: 'createRuntime', wrap: true });
    for (const f of readdirSync(legacy.dir)) copyFileSync(path.join(legacy.dir, f), path.join(pre.dir, `legacy-${f}`));
    const r = await podmanRun({ runtime, hooksDir: pre.dir, annotations: { 'oci-gpu/devices': 'all' }, args: ['sh', '-c', PROBE_MOUNTS] });
    const ctx = `${show(r)}\nlegacy hook stderr: ${legacy.stderr()}`;
    t.is(r.exitCode, 0, ctx);
    t.is(legacy.runs().length, 1, `the legacy hook did not run\n${ctx}`);
    t.is(legacy.stderr(), '');
    assertProbe(t, parseProbe(r.stdout), ctx, { gpus: [0], libDir: '/usr/local/nvidia/lib64', driver: m.data.driver!.version });
    // Had it acted, every driver file would be bound a second time over the runtime's mount.
    t.is(smiMounts(r.stdout), 1, `the legacy hook mounted again over precreate's work\n${ctx}`);
  },
  title: (_ = '', runtime: Runtime) => `${runtime}: the createRuntime stage does nothing when precreate already put the devices in the config (any cgroup version)${pod.why}`,
});

const bareLegacy = test.macro({
  async exec(t, runtime: Runtime) {
    const m = await fixtureManifest('h200');
    const hook = { path: HOOK_BIN, args: ['oci-gpu-hook', 'createRuntime', '--manifest', m.file], env: [HOOK_PATH_ENV], timeout: 20 };
    const b = await makeBundle(runtime, { args: ['sh', '-c', PROBE_MOUNTS], annotations: { 'oci-gpu/devices': '0' }, hooks: { createRuntime: [hook] } });
    const before = readFileSync(b.config);
    const r = await run(RUNTIME_PATHS[runtime], ['--root', b.stateRoot, 'run', `legacy-${runtime}-${process.pid}`], { cwd: b.dir });
    t.is(r.exitCode, 0, show(r));
    assertProbe(t, parseProbe(r.stdout), show(r), { gpus: [0], libDir: '/usr/local/nvidia/lib64', driver: m.data.driver!.version });
    t.is(smiMounts(r.stdout), 1);
    t.true(readFileSync(b.config).equals(before), 'the legacy stage must not edit config.json');
    t.false(specAllows(JSON.parse(before.toString()), 195, 0), "runc spec's deny-all rule must be in place");
  },
  title: (_ = '', runtime: Runtime) => `${runtime}: bare bundle with hooks.createRuntime = oci-gpu-hook createRuntime (read-only rootfs)${legacy.why}`,
});

for (const runtime of RUNTIMES) {
  legacy.test(podmanLegacy, runtime, 'createRuntime', false);
  legacy.test(podmanLegacy, runtime, 'createRuntime', true);
  legacy.test(podmanLegacy, runtime, 'prestart', false);
  pod.test(afterPrecreate, runtime);
  legacy.test(bareLegacy, runtime);
}

// cgroup v2: only the runtime can allow a device, so the hook must refuse and say what works.

const V2 = '0::/user.slice/user-1000.slice/session-3.scope\n';
const HYBRID = '12:devices:/machine.slice/libpod-abc.scope\n11:memory:/machine.slice/libpod-abc.scope\n1:name=systemd:/x\n0::/x\n';
const NODES = [
  { path: '/dev/nvidia0', type: 'c' as const, major: 195, minor: 0 },
  { path: '/dev/nvidiactl', type: 'c' as const, major: 195, minor: 255 },
];

test('cgroup detection: v2 has no devices controller, v1/hybrid gives the devices path', (t) => {
  t.is(devicesCgroupPath(V2), null);
  t.is(devicesCgroupPath(HYBRID), '/machine.slice/libpod-abc.scope');
  t.is(devicesCgroupPath('5:cpu,devices:/a:b\n'), '/a:b', 'co-mounted controllers and colons in the path');
});

legacy.test(`this machine's own /proc/self/cgroup has a devices controller path${legacy.why}`, (t) => {
  t.not(devicesCgroupPath(readFileSync('/proc/self/cgroup', 'utf8')), null);
});

test('cgroup v2 refusal names the nodes and says to use precreate, oci-gpu-runtime or CDI', (t) => {
  for (const stage of ['createRuntime', 'prestart'] as const) {
    const error = t.throws(() => refuseUnlessAllowed([{ allow: false, access: 'rwm' }], NODES, stage));
    const msg = error?.message ?? '';
    t.is(msg.split('\n').length, 1);
    t.true(msg.startsWith(`cgroup v2: a ${stage} hook cannot allow /dev/nvidia0, /dev/nvidiactl`), msg);
    t.regex(msg, /precreate hook/);
    t.regex(msg, /oci-gpu-runtime/);
    t.regex(msg, /CDI/);
  }
  // A config whose rules already allow the nodes (a CDI-aware engine got there first) is fine on v2.
  t.notThrows(() => refuseUnlessAllowed([{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 195, access: 'rwm' }], NODES, 'createRuntime'));
  // ...but a later deny wins, as in runc and crun.
  t.throws(() =>
    refuseUnlessAllowed([{ allow: true, type: 'c', major: 195, access: 'rwm' }, { allow: false, type: 'c', major: 195, minor: 0, access: 'rwm' }], NODES, 'createRuntime'),
  );
});

// The CDI spec's post-mount step (sh + awk + nsenter + ldconfig, no oci-gpu binary): a bare bundle
// edited as a CDI-aware engine would from `oci-gpu cdi generate`, with and without the spec's hook.

interface CdiEdits {
  deviceNodes?: { path: string; type?: string; major: number; minor: number; fileMode?: number }[];
  mounts?: { hostPath: string; containerPath: string; options?: string[] }[];
  hooks?: { hookName: string; path: string; args?: string[]; env?: string[] }[];
}

function applyCdi(config: Record<string, any>, edits: CdiEdits[], withHooks: boolean): void {
  config.linux.devices ??= [];
  for (const e of edits) {
    for (const d of e.deviceNodes ?? []) {
      config.linux.devices.push({ path: d.path, type: d.type ?? 'c', major: d.major, minor: d.minor, ...(d.fileMode ? { fileMode: d.fileMode } : {}) });
      config.linux.resources.devices.push({ allow: true, type: d.type ?? 'c', major: d.major, minor: d.minor, access: 'rwm' });
    }
    for (const mnt of e.mounts ?? []) config.mounts.push({ destination: mnt.containerPath, type: 'bind', source: mnt.hostPath, options: mnt.options ?? ['ro', 'bind'] });
    if (withHooks) {
      for (const h of e.hooks ?? []) ((config.hooks ??= {})[h.hookName] ??= []).push({ path: h.path, args: h.args, env: h.env });
    }
  }
}

const cdiLdcache = test.macro({
  async exec(t, runtime: Runtime) {
    const m = await fixtureManifest('h200');
    const specFile = path.join(tempDir('cdi'), 'oci-gpu.json');
    const gen = await run(await cliBinary(), ['cdi', 'generate', '--root', m.root, '--output', specFile]);
    t.is(gen.exitCode, 0, show(gen));
    const spec = JSON.parse(readFileSync(specFile, 'utf8')) as { containerEdits: CdiEdits; devices: { name: string; containerEdits: CdiEdits }[] };
    const hooks = spec.containerEdits.hooks ?? [];
    t.is(hooks.length, 1);
    t.deepEqual([hooks[0]!.path, ...hooks[0]!.args!.slice(0, 2)], [m.data.tools.sh, 'sh', '-c'], 'the step is the host\'s sh');
    const dev0 = spec.devices.find((d) => d.name === '0')!;

    const results: Record<string, ProbeResult & { out: string }> = {};
    for (const withHooks of [true, false]) {
      const b = await makeBundle(runtime, { args: ['sh', '-c', PROBE], edit: (c) => applyCdi(c, [spec.containerEdits, dev0.containerEdits], withHooks) });
      const r = await run(RUNTIME_PATHS[runtime], ['--root', b.stateRoot, 'run', `cdi-${runtime}-${withHooks}-${process.pid}`], { cwd: b.dir });
      t.is(r.exitCode, 0, show(r));
      results[String(withHooks)] = { ...parseProbe(r.stdout), out: show(r) };
    }
    const ok = results['true']!;
    assertProbe(t, ok, ok.out, { gpus: [0], libDir: '/usr/local/nvidia/lib64', driver: m.data.driver!.version });
    // Control: the same files without the ld cache step: nvidia-smi cannot load libnvidia-ml.so.1.
    const bare = results['false']!;
    t.false(bare.ldcache.has('libnvidia-ml.so.1'), bare.out);
    t.not(bare.smiExit, 0, bare.out);
    t.regex(bare.out, /libnvidia-ml\.so\.1/, bare.out);
  },
  title: (_ = '', runtime: Runtime) => `${runtime}: the CDI spec's post-mount step (bare bundle, rootfs relative to it) fills the ld cache; without it nvidia-smi cannot load libnvidia-ml${pod.why}`,
});

for (const runtime of RUNTIMES) pod.test(cdiLdcache, runtime);
