// `oci-gpu doctor` (run in-process through the CLI's main) on broken copies of the fixture hosts,
// and with --container on real Podman containers (crun, runc) built broken on purpose: no request,
// nodes bind-mounted without a cgroup rule, libraries mounted without an ld cache entry, a library
// of an old driver, and a healthy container made by the real precreate hook. Needs root (mknod,
// podman) and scripts/setup-host.sh for the container tests.
import test, { type ExecutionContext } from 'ava';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { checkContainerCgroup } from '../../src/core/diagnose/diagnose-container.js';
import { buildCdiSpec } from '../../src/core/plan/cdi-spec.js';
import { main } from '../../src/cli/main.js';
import { bundleConfigOf, probeContainer, resolveContainer } from '../../src/doctor/container-probe.js';
import type { ContainerFacts, Finding } from '../../src/model/diagnosis.js';
import type { Manifest } from '../../src/model/manifest.js';
import { copyFixtureHost, type FixtureHostName } from '../../scripts/fixture-host.js';
import { CLI_BIN, cliBinary, fixtureManifest, hookBinary, show, tempDir, writeHooksDir } from '../helpers/hook-env.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { CGROUP_V1 } from '../helpers/needs.js';
import { mknodFake, PODMAN, podmanRunArgs, podmanTests, podmanUnavailableReason, run, type PodmanRunOptions, type Runtime } from '../helpers/podman.js';
import { IS_ROOT, rootTest, NEEDS_ROOT as why } from '../helpers/root.js';

interface Report {
  ok: boolean;
  worst: string;
  firstBroken: Finding | null;
  findings: Finding[];
  container: { pid: number; id: string | null; runtime: string | null; config: string | null } | null;
}

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(['doctor', ...args], { out: (s) => void (out += s), err: (s) => void (err += s), isTTY: false });
  return { code, out, err };
}

async function doctorJson(args: string[]): Promise<{ code: number; report: Report; text: string }> {
  const r = await cli([...args, '--json']);
  if (!r.out) throw new Error(`doctor printed nothing (exit ${r.code}): ${r.err}`);
  return { code: r.code, report: JSON.parse(r.out) as Report, text: r.out };
}

const of = (r: Report, check: string, level?: string) => r.findings.filter((f) => f.check === check && (level === undefined || f.level === level));

// ------------------------------------------------------------------------------------ fixture hosts

test.before('the shipped binary', async () => {
  if (IS_ROOT) await cliBinary();
});

// What the healthy hosts' manifest and CDI spec must hold, from the fixture READMEs (not from the
// code under test): every device node with its numbers, the GPUs, the spec's device names.
const HEALTHY: Partial<Record<FixtureHostName, { driver: string | null; gpus: [string, number][]; nodes: string[]; cdi: string[] }>> = {
  h200: {
    driver: '580.159.04',
    gpus: [['GPU-8b472ccd-7f02-9c7a-ca0f-35527f14b320', 0]],
    nodes: ['/dev/nvidia-caps/nvidia-cap1 241:1', '/dev/nvidia-caps/nvidia-cap2 241:2', '/dev/nvidia-uvm 238:0', '/dev/nvidia-uvm-tools 238:1', '/dev/nvidia0 195:0', '/dev/nvidiactl 195:255'],
    cdi: ['0', 'GPU-8b472ccd-7f02-9c7a-ca0f-35527f14b320', 'all'],
  },
  'rhel-2gpu': {
    driver: '550.54.15',
    gpus: [['GPU-2f6b0c1e-7a3d-4e59-9b18-5c0d4a7e3b21', 0], ['GPU-9d41e8a2-36c7-4f0b-8e25-b7a1c6d05f94', 3]],
    nodes: [
      '/dev/dri/card1 226:1', '/dev/dri/card2 226:2', '/dev/dri/renderD128 226:128', '/dev/dri/renderD129 226:129',
      '/dev/nvidia-modeset 195:254', '/dev/nvidia-uvm 511:0', '/dev/nvidia-uvm-tools 511:1', '/dev/nvidia0 195:0', '/dev/nvidia3 195:3', '/dev/nvidiactl 195:255',
    ],
    cdi: ['0', '1', 'GPU-2f6b0c1e-7a3d-4e59-9b18-5c0d4a7e3b21', 'GPU-9d41e8a2-36c7-4f0b-8e25-b7a1c6d05f94', 'all'],
  },
  'no-driver': { driver: null, gpus: [], nodes: [], cdi: [] },
};

/** Every device node a manifest or spec names anywhere, as "path major:minor" (container paths). */
function nodesIn(value: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(value)) for (const v of value) nodesIn(v, out);
  else if (value && typeof value === 'object') {
    const v = value as Record<string, unknown>;
    if (typeof v.path === 'string' && v.path.startsWith('/dev/') && typeof v.major === 'number') out.add(`${v.path} ${v.major}:${v.minor}`);
    for (const x of Object.values(v)) nodesIn(x, out);
  }
  return out;
}

/**
 * A copied fixture host made healthy: the manifest written by the shipped binary (`oci-gpu scan
 * --output`, with the masked params beside it as the watcher writes them), the CDI spec made from
 * that manifest (as the watcher makes it), both checked against HEALTHY; a hooks.d entry with an
 * executable hook; cgroup v2.
 */
interface Host {
  root: string;
  manifest: string;
  cdi: string;
  etcCdi: string;
  runCdi: string;
  usrHooks: string;
  etcHooks: string;
  hookBin: string;
  args: string[];
}

function makeHost(t: ExecutionContext, name: FixtureHostName, o: { cgroup?: 'v2' | 'hybrid' } = {}): Host {
  const root = copyFixtureHost(name);
  const out = mkdtempSync(path.join(os.tmpdir(), 'oci-gpu-doctor-'));
  t.teardown(() => {
    rmSync(root, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  });
  const dir = (p: string) => (mkdirSync(path.join(out, p), { recursive: true }), path.join(out, p));
  const h = { root, manifest: path.join(out, 'manifest.json'), etcCdi: dir('etc/cdi'), runCdi: dir('run/cdi'), usrHooks: dir('usr/hooks.d'), etcHooks: dir('etc/hooks.d'), hookBin: path.join(dir('bin'), 'oci-gpu-hook') };
  if ((o.cgroup ?? 'v2') === 'v2') {
    mkdirSync(path.join(root, 'sys/fs/cgroup'), { recursive: true });
    writeFileSync(path.join(root, 'sys/fs/cgroup/cgroup.controllers'), 'cpuset cpu io memory pids\n');
  } else {
    mkdirSync(path.join(root, 'sys/fs/cgroup/devices'), { recursive: true });
    mkdirSync(path.join(root, 'sys/fs/cgroup/unified'), { recursive: true });
  }
  const cdi = path.join(h.runCdi, 'oci-gpu.json');
  execFileSync(CLI_BIN, ['scan', '--root', root, '--output', h.manifest], { stdio: 'ignore' });
  const want = HEALTHY[name];
  if (!want) throw new Error(`no literal expectations for the ${name} fixture host in HEALTHY`);
  const manifest = JSON.parse(readFileSync(h.manifest, 'utf8')) as Manifest;
  const spec = buildCdiSpec(manifest, { kind: 'nvidia.com/gpu' });
  writeFileSync(cdi, JSON.stringify(spec, null, 2) + '\n');
  const rootless = (set: Set<string>) => [...set].map((n) => n.replace(root, '')).sort();
  t.deepEqual(
    { driver: manifest.driver?.version ?? null, gpus: manifest.gpus.map((g) => [g.uuid, g.minor]), nodes: rootless(nodesIn(manifest)), kind: spec.kind, cdi: spec.devices.map((d) => d.name).sort() },
    { driver: want.driver, gpus: want.gpus, nodes: want.nodes, kind: 'nvidia.com/gpu', cdi: want.cdi },
    `the healthy ${name} host's manifest and CDI spec`,
  );
  writeFileSync(h.hookBin, '#!/bin/sh\nexit 0\n');
  chmodSync(h.hookBin, 0o755);
  writeHookEntry(path.join(h.usrHooks, 'oci-gpu.json'), h.hookBin);
  const config = path.join(out, 'config.json5');
  writeFileSync(config, '{}\n');
  return {
    ...h,
    cdi,
    args: ['--root', root, '--manifest', h.manifest, '--config', config, '--cdi', cdi, '--cdi-dirs', `${h.etcCdi},${h.runCdi}`, '--hooks-dirs', `${h.usrHooks},${h.etcHooks}`],
  };
}

/** The repository's hooks.d/oci-gpu.json with another hook.path. */
function writeHookEntry(file: string, hookPath: string, edit: (e: Record<string, any>) => void = () => {}): void {
  const e = JSON.parse(readFileSync(path.join(REPO_ROOT, 'hooks.d/oci-gpu.json'), 'utf8')) as Record<string, any>;
  e.hook.path = hookPath;
  edit(e);
  writeFileSync(file, JSON.stringify(e, null, 2));
}

rootTest(`healthy h200 copy: no failure, exit 0; only persistence warns (no nvidia-persistenced)${why}`, async (t) => {
  const h = makeHost(t, 'h200');
  const { code, report } = await doctorJson(h.args);
  t.is(code, 0, JSON.stringify(report, null, 1));
  t.is(report.firstBroken, null);
  t.deepEqual(report.findings.filter((f) => f.level !== 'ok').map((f) => f.check), ['host.persistence']);
  for (const check of ['host.driver', 'host.nodes', 'host.firmware', 'host.manifest', 'host.cdi', 'host.hooks', 'host.cgroup']) t.is(of(report, check, 'ok').length, 1, check);
  t.regex(of(report, 'host.driver')[0]!.message, /^driver 580\.159\.04 loaded .*NVIDIA H200 0000:00:06\.0 \/dev\/nvidia0$/);
  t.regex(of(report, 'host.nodes')[0]!.message, /\/dev\/nvidia-uvm 238:0, \/dev\/nvidia-uvm-tools 238:1$/);
  t.regex(of(report, 'host.cgroup')[0]!.message, /^cgroup v2 .*createRuntime\/prestart hooks cannot grant device access/);
});

rootTest(`an nvidia-persistenced process (its 15-character comm "nvidia-persiste") counts as persistence${why}`, async (t) => {
  const h = makeHost(t, 'h200');
  mkdirSync(path.join(h.root, 'proc/4242'), { recursive: true });
  writeFileSync(path.join(h.root, 'proc/4242/comm'), 'nvidia-persiste\n');
  const { report } = await doctorJson(h.args);
  t.is(of(report, 'host.persistence', 'ok').length, 1, JSON.stringify(of(report, 'host.persistence')));
  t.regex(of(report, 'host.persistence')[0]!.message, /4242/);
});

rootTest(`healthy rhel-2gpu copy (persistenced socket, uvm major 511, minors 0 and 3): all ok${why}`, async (t) => {
  const h = makeHost(t, 'rhel-2gpu', { cgroup: 'hybrid' });
  const { code, report } = await doctorJson(h.args);
  t.is(code, 0);
  t.is(report.worst, 'ok', JSON.stringify(report.findings.filter((f) => f.level !== 'ok'), null, 1));
  t.regex(of(report, 'host.persistence')[0]!.message, /nvidia-persistenced is running \(.*\/run\/nvidia-persistenced\/socket\)/);
  t.regex(of(report, 'host.nodes')[0]!.message, /\/dev\/nvidia3 195:3, .*\/dev\/nvidia-uvm 511:0/);
  t.regex(of(report, 'host.cgroup')[0]!.message, /^cgroup v1 devices controller \(hybrid/);
});

rootTest(`missing uvm node with nvidia-uvm loaded: FAIL naming nvidia-modprobe, manifest now behind${why}`, async (t) => {
  const h = makeHost(t, 'h200');
  unlinkSync(path.join(h.root, 'dev/nvidia-uvm'));
  const { code, report } = await doctorJson(h.args);
  t.is(code, 1);
  t.is(report.firstBroken?.check, 'host.nodes');
  t.regex(report.firstBroken!.message, /^\/dev\/nvidia-uvm is missing, but the nvidia-uvm module is loaded \(major 238 in \/proc\/devices\): uvm nodes are made by nvidia-modprobe, not by devtmpfs/);
  t.regex(report.firstBroken!.fix!, /nvidia-modprobe -u -c=0/);
  t.regex(of(report, 'host.manifest', 'warn')[0]!.message, /differs from a scan made now: device nodes: no longer \/dev\/nvidia-uvm 238:0/);
});

rootTest(`a node with the wrong major: FAIL with the mknod that fixes it${why}`, async (t) => {
  const h = makeHost(t, 'h200');
  unlinkSync(path.join(h.root, 'dev/nvidia0'));
  await mknodFake(path.join(h.root, 'dev/nvidia0'), 10, 0);
  const { code, report } = await doctorJson(h.args);
  t.is(code, 1);
  t.is(report.firstBroken?.message, '/dev/nvidia0 is 10:0, expected character device 195:0 (GPU 0 (0000:00:06.0))');
  t.regex(report.firstBroken!.fix!, /mknod -m 666 \/dev\/nvidia0 c 195 0/);
});

rootTest(`stale manifest (the driver changed under it): FAIL naming both versions${why}`, async (t) => {
  const h = makeHost(t, 'h200');
  writeFileSync(path.join(h.root, 'sys/module/nvidia/version'), '580.172.08\n');
  const { code, report } = await doctorJson(h.args);
  t.is(code, 1);
  const f = of(report, 'host.manifest', 'fail')[0]!;
  t.regex(f.message, /is stale: written for driver 580\.159\.04, but driver 580\.172\.08 is loaded/);
  t.regex(f.fix!, /oci-gpu scan --output /);
  t.is(report.firstBroken?.check, 'host.manifest');
  t.regex(of(report, 'host.firmware', 'warn')[0]!.message, /no GSP firmware for driver 580\.172\.08/);
  t.is(of(report, 'host.cdi', 'ok').length, 1, 'the spec still equals the (stale) manifest');
});

rootTest(`missing manifest: FAIL, the CDI spec is compared with a scan instead${why}`, async (t) => {
  const h = makeHost(t, 'h200');
  unlinkSync(h.manifest);
  const { code, report } = await doctorJson(h.args);
  t.is(code, 1);
  t.regex(report.firstBroken!.message, /^manifest ".*manifest\.json" does not exist: the hook and oci-gpu-runtime refuse every container/);
  t.regex(of(report, 'host.cdi', 'ok')[0]!.message, /matches a scan made now \(no usable manifest\)/);
});

rootTest(`duplicate CDI specs for nvidia.com/gpu: same folder FAIL, other folder warn, both files named${why}`, async (t) => {
  const h = makeHost(t, 'h200');
  const ctk = 'cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n- name: "0"\n  containerEdits:\n    deviceNodes:\n    - path: /dev/nvidia0\n';
  writeFileSync(path.join(h.etcCdi, 'nvidia.yaml'), ctk);
  writeFileSync(path.join(h.runCdi, 'nvidia.yaml'), ctk);
  writeFileSync(path.join(h.runCdi, 'other.json'), JSON.stringify({ cdiVersion: '0.5.0', kind: 'vendor.com/fpga', devices: [] }));
  const { code, report } = await doctorJson(h.args);
  t.is(code, 1);
  const [fail, warn] = [of(report, 'host.cdi', 'fail'), of(report, 'host.cdi', 'warn')];
  t.is(fail.length, 1);
  t.true(fail[0]!.message.startsWith(`two CDI specs declare nvidia.com/gpu in the same folder: "${h.cdi}" and "${path.join(h.runCdi, 'nvidia.yaml')}"`), fail[0]!.message);
  t.is(warn.length, 1);
  t.true(warn[0]!.message.includes(`"${h.cdi}" and "${path.join(h.etcCdi, 'nvidia.yaml')}"`), warn[0]!.message);
  t.regex(warn[0]!.fix!, /nvidia-ctk cdi generate/);
});

rootTest(`CDI spec stale against the manifest (a GPU gone from it): FAIL${why}`, async (t) => {
  const h = makeHost(t, 'h200');
  const spec = JSON.parse(readFileSync(h.cdi, 'utf8'));
  spec.devices = spec.devices.filter((d: { name: string }) => d.name !== 'all');
  writeFileSync(h.cdi, JSON.stringify(spec));
  const { report } = await doctorJson(h.args);
  t.regex(of(report, 'host.cdi', 'fail')[0]!.message, /does not match the manifest: devices differ \(missing all\)/);
});

rootTest(`hooks.d entry pointing at a missing binary: FAIL (Podman skips it silently)${why}`, async (t) => {
  const h = makeHost(t, 'h200');
  writeHookEntry(path.join(h.usrHooks, 'oci-gpu.json'), '/nonexistent/oci-gpu-hook');
  const { code, report } = await doctorJson(h.args);
  t.is(code, 1);
  t.is(report.firstBroken?.check, 'host.hooks');
  t.regex(report.firstBroken!.message, /runs "\/nonexistent\/oci-gpu-hook", which does not exist: Podman silently skips the entry/);
});

rootTest(`masked hooks.d file: FAIL naming both files; masked by another oci-gpu entry: warn${why}`, async (t) => {
  const h = makeHost(t, 'h200');
  writeHookEntry(path.join(h.etcHooks, 'oci-gpu.json'), '/bin/true', (e) => (e.hook.args = ['true']));
  let { code, report } = await doctorJson(h.args);
  t.is(code, 1);
  const masked = of(report, 'host.hooks', 'fail')[0]!;
  t.is(masked.message, `"${path.join(h.etcHooks, 'oci-gpu.json')}" masks "${path.join(h.usrHooks, 'oci-gpu.json')}" (same name, later folder): only "${path.join(h.etcHooks, 'oci-gpu.json')}" is used, and it does not run a working oci-gpu hook`);
  writeHookEntry(path.join(h.etcHooks, 'oci-gpu.json'), h.hookBin);
  ({ code, report } = await doctorJson(h.args));
  t.is(code, 0);
  t.deepEqual(of(report, 'host.hooks').map((f) => f.level), ['warn', 'ok']);
});

rootTest(`NVIDIA's legacy hook beside ours: warn (double injection)${why}`, async (t) => {
  const h = makeHost(t, 'h200');
  writeFileSync(
    path.join(h.usrHooks, 'oci-nvidia-hook.json'),
    JSON.stringify({ version: '1.0.0', hook: { path: '/usr/bin/nvidia-container-runtime-hook', args: ['nvidia-container-runtime-hook', 'prestart'] }, when: { always: true }, stages: ['prestart'] }),
  );
  const { code, report } = await doctorJson(h.args);
  t.is(code, 0);
  const w = of(report, 'host.hooks', 'warn')[0]!;
  t.regex(w.message, /^NVIDIA's legacy hook ".*oci-nvidia-hook\.json" \(\/usr\/bin\/nvidia-container-runtime-hook\) is installed beside oci-gpu: .*injected twice/);
});

rootTest(`no-driver host: FAIL host.driver first${why}`, async (t) => {
  const h = makeHost(t, 'no-driver');
  const { code, report } = await doctorJson(h.args);
  t.is(code, 1);
  t.is(report.firstBroken?.check, 'host.driver');
  t.is(of(report, 'host.manifest', 'ok').length, 1, 'a driverless manifest of a driverless host is fine');
});

rootTest(`human output: ok/warn/FAIL lines, fix lines, first broken link, counts${why}`, async (t) => {
  const h = makeHost(t, 'h200');
  unlinkSync(path.join(h.root, 'dev/nvidia-uvm'));
  const r = await cli(h.args);
  t.is(r.code, 1);
  const lines = r.out.split('\n');
  t.is(lines[0], `oci-gpu doctor: host ${h.root}`);
  const at = lines.findIndex((l) => l.startsWith('FAIL  host.nodes: /dev/nvidia-uvm is missing'));
  t.true(at > 0, r.out);
  t.regex(lines[at + 1]!, /^ {6}fix: run `nvidia-modprobe -u -c=0`/);
  t.true(lines.some((l) => l.startsWith('ok    host.driver: driver 580.159.04')));
  t.true(lines.includes(`first broken link: ${lines[at]!.slice('FAIL  '.length)}`), r.out);
  t.regex(r.out, /\n\d+ ok, \d+ warnings?, 1 failure\n$/);
});

test('--help documents the exit statuses; a bad flag is a usage error (exit 2)', async (t) => {
  const help = await cli(['--help']);
  t.is(help.code, 0);
  t.regex(help.out, /Exit status: 0 when nothing failed \(warnings allowed\), 1 when a check failed/);
  const bad = await cli(['--nope']);
  t.is(bad.code, 2);
  t.regex(bad.err, /oci-gpu doctor: unknown option '--nope'/);
});

// -------------------------------------------------------------------------------------- containers

const { test: podmanTest, why: pwhy, skipped: podmanSkipped } = podmanTests();
// The broken-cgroup diagnosis reads a v1 devices.list here (on v2 it reads the config: cgroupFromConfig).
const v1 = podmanTests(CGROUP_V1);

test.before('hook binary and h200 manifest', async (t) => {
  if (podmanSkipped) return;
  t.is(podmanUnavailableReason(), undefined);
  await Promise.all([hookBinary(), fixtureManifest('h200')]);
});

/** Starts `sleep` detached (removed at teardown) and returns the container id. */
async function startContainer(t: ExecutionContext, o: Partial<PodmanRunOptions> & { runtime?: Runtime } = {}): Promise<string> {
  const r = await run(PODMAN, podmanRunArgs({ runtime: 'crun', args: ['sleep', '600'], ...o, extraArgs: ['--detach', ...(o.extraArgs ?? [])] }));
  if (r.exitCode !== 0) throw new Error(`podman run failed: ${show(r)}`);
  const id = r.stdout.trim().split('\n').at(-1)!;
  t.teardown(() => run(PODMAN, ['rm', '--force', '--time', '0', id]).then(() => undefined));
  return id;
}

/** Doctor on a container, against the h200 fixture host and its manifest. */
async function diagnoseContainer(target: string): Promise<{ code: number; report: Report; text: string }> {
  const m = await fixtureManifest('h200');
  const config = path.join(tempDir('doctor-config'), 'config.json5');
  writeFileSync(config, '{}\n');
  return doctorJson(['--root', m.root, '--manifest', m.file, '--config', config, '--container', target]);
}

/** The cgroup check as on a cgroup v2 host: from linux.resources.devices of the config the runtime got. */
async function cgroupFromConfig(id: string) {
  const facts: ContainerFacts = probeContainer(await resolveContainer(id));
  return checkContainerCgroup({ ...facts, cgroup: { version: 'v2', path: facts.cgroup.path, devicesList: null, devicesListFile: null } });
}

podmanTest(`container that asked for nothing: no /dev/nvidia*, "asked for nothing"${pwhy}`, async (t) => {
  const id = await startContainer(t);
  const { code, report } = await diagnoseContainer(id);
  t.is(code, 1);
  t.is(report.firstBroken?.check, 'container.nodes');
  t.regex(report.firstBroken!.message, /^no \/dev\/nvidia\* in the container: it asked for nothing/);
  t.regex(report.firstBroken!.fix!, /--annotation oci-gpu\/devices=all/);
  t.like(report.container, { id, runtime: 'crun' });
});

podmanTest(`container with NVIDIA_VISIBLE_DEVICES but no hook: "the hook was not triggered"${pwhy}`, async (t) => {
  const id = await startContainer(t, { env: { NVIDIA_VISIBLE_DEVICES: 'all' } });
  const { report } = await diagnoseContainer(id);
  t.regex(report.firstBroken!.message, /^no \/dev\/nvidia\* in the container although it asked for all GPUs with utility,compute via NVIDIA_VISIBLE_DEVICES: the hook was not triggered/);
});

v1.test(`nodes bind-mounted (-v) without a cgroup rule: cgroup link broken, EPERM, NVML Unknown Error${v1.why}`, async (t) => {
  const dir = tempDir('fake-dev');
  await mknodFake(path.join(dir, 'nvidia0'), 195, 0);
  await mknodFake(path.join(dir, 'nvidiactl'), 195, 255);
  const id = await startContainer(t, { volumes: [`${dir}/nvidia0:/dev/nvidia0`, `${dir}/nvidiactl:/dev/nvidiactl`] });
  const open = await run(PODMAN, ['exec', id, 'sh', '-c', ': <>/dev/nvidia0']);
  t.regex(open.stderr, /Operation not permitted/, 'the diagnosis must match what the container sees');
  const { code, report } = await diagnoseContainer(id);
  t.is(code, 1);
  t.is(report.firstBroken?.check, 'container.cgroup');
  t.regex(report.firstBroken!.message, /^the device cgroup denies \/dev\/nvidia0 \(195:0\), \/dev\/nvidiactl \(195:255\) \(devices\.list of its v1 cgroup .*\): every open fails with EPERM, so nvidia-smi says "Failed to initialize NVML: Unknown Error"/);
  t.regex(report.firstBroken!.message, /\/dev\/nvidia0, \/dev\/nvidiactl are bind-mounted/);
  t.regex(report.firstBroken!.fix!, /precreate hook .* CDI/);
  const v2 = await cgroupFromConfig(id);
  t.like(v2[0], { check: 'container.cgroup', level: 'fail' });
  t.regex(v2[0]!.message, /linux\.resources\.devices in \/var\/lib\/containers\/.*config\.json \(cgroup v2/);
});

podmanTest(`nodes allowed (--device) and libraries mounted (-v) but no ld cache entry: ld cache link broken${pwhy}`, async (t) => {
  const m = await fixtureManifest('h200');
  const lib = '/usr/local/nvidia/lib64/libnvidia-ml.so.580.159.04';
  const id = await startContainer(t, {
    devices: ['nvidia0', 'nvidiactl', 'nvidia-uvm'].map((n) => `${m.root}/dev/${n}:/dev/${n}`),
    volumes: [`${m.root}${lib}:${lib}:ro`, `${m.root}/usr/local/nvidia/bin/nvidia-smi:/usr/bin/nvidia-smi:ro`],
  });
  const smi = await run(PODMAN, ['exec', id, 'nvidia-smi']);
  t.regex(smi.stderr, /libnvidia-ml\.so\.1: cannot open shared object file/, 'the diagnosis must match what the container sees');
  const { code, report } = await diagnoseContainer(id);
  t.is(code, 1);
  t.deepEqual(report.findings.filter((f) => f.level === 'fail').map((f) => f.check), ['container.ldcache']);
  t.regex(report.firstBroken!.message, new RegExp(`^the container's ld cache does not list libnvidia-ml\\.so\\.1 although ${lib.replace(/\./g, '\\.')} is mounted: nvidia-smi says "NVIDIA-SMI couldn't find libnvidia-ml\\.so library in your system"`));
  t.regex(report.firstBroken!.fix!, /bind mounts \(-v\) never update the cache/);
  t.regex(of(report, 'container.cgroup', 'ok')[0]!.message, /allows \/dev\/nvidia-uvm, \/dev\/nvidia0, \/dev\/nvidiactl/);
});

podmanTest(`a library of an old driver mounted: libraries link broken (version mismatch)${pwhy}`, async (t) => {
  const m = await fixtureManifest('h200');
  const old = '/usr/lib/x86_64-linux-gnu/libcuda.so.570.86.15';
  const id = await startContainer(t, { devices: [`${m.root}/dev/nvidia0:/dev/nvidia0`, `${m.root}/dev/nvidiactl:/dev/nvidiactl`], volumes: [`${m.root}${old}:${old}:ro`] });
  const { report } = await diagnoseContainer(id);
  t.is(report.firstBroken?.check, 'container.libraries');
  t.regex(report.firstBroken!.message, /libcuda\.so\.570\.86\.15 \(570\.86\.15\), but driver 580\.159\.04 is loaded: .*Driver\/library version mismatch/);
});

const healthy = test.macro({
  async exec(t, runtime: Runtime) {
    const m = await fixtureManifest('h200');
    const hooks = await writeHooksDir({ manifest: m.file });
    const id = await startContainer(t, { runtime, hooksDir: hooks.dir, annotations: { 'oci-gpu/devices': 'all' } });
    const smi = await run(PODMAN, ['exec', id, 'nvidia-smi']);
    t.is(smi.exitCode, 0, show(smi));
    const byId = await diagnoseContainer(id);
    t.is(byId.code, 0, byId.text);
    t.is(byId.report.worst, 'ok', byId.text);
    t.deepEqual([...new Set(byId.report.findings.map((f) => f.check))], ['host.driver', 'container.process', 'container.nodes', 'container.cgroup', 'container.libraries', 'container.ldcache', 'container.nvidia-smi']);
    t.regex(of(byId.report, 'container.ldcache')[0]!.message, /libnvidia-ml\.so\.1 → \/usr\/local\/nvidia\/lib64\/libnvidia-ml\.so\.580\.159\.04, libcuda\.so\.1 → \/usr\/local\/nvidia\/lib64\/libcuda\.so\.580\.159\.04$/);
    // The same by host pid (id from the cgroup path), and the config found through the runtime's own state.
    const byPid = await diagnoseContainer(String(byId.report.container!.pid));
    t.deepEqual(byPid.report.findings, byId.report.findings);
    t.deepEqual(await bundleConfigOf(id), { configPath: byId.report.container!.config, runtime });
    t.deepEqual((await cgroupFromConfig(id)).map((f) => f.level), ['ok']);
  },
  title: (_ = '', runtime: Runtime) => `${runtime}: healthy container made by the real precreate hook: every link ok, by id and by pid${pwhy}`,
});

podmanTest(healthy, 'crun');
podmanTest(healthy, 'runc');

podmanTest(`a container that is not running: exit 1, one line${pwhy}`, async (t) => {
  const r = await run(PODMAN, ['create', '--network', 'none', '--pull', 'never', 'localhost/oci-gpu-test:latest', 'true']);
  const id = r.stdout.trim();
  t.teardown(() => run(PODMAN, ['rm', '--force', id]).then(() => undefined));
  const out = await cli(['--container', id]);
  t.is(out.code, 1);
  t.is(out.err, `oci-gpu: container "${id}" is not running: doctor looks inside running containers (\`podman start ${id}\`)\n`);
  const missing = await cli(['--container', 'no-such-container-here']);
  t.is(missing.code, 1);
  t.regex(missing.err, /^oci-gpu: container "no-such-container-here": podman inspect failed: .*no such/i);
});
