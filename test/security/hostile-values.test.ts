// Hostile request values, as a container config can carry them (Podman cannot pass a NUL, so the
// hook binary is run directly with JSON holding \u0000): path traversal, NUL and other control or
// invisible characters, 10k-entry lists, 1 MB values, duplicate devices, negative or absurd indexes.
// Each must be one refusal: exit status non-zero, exactly one stderr line that names what was asked
// (the annotation or variable), no crash, and no partial effect: precreate prints nothing; the
// legacy stage leaves the bundle alone and starts nothing; oci-gpu-runtime leaves config.json as it
// was (bytes, inode, mtime) and never runs the real runtime (a recorder stands in for it). Values
// that ask for nothing of ours (a NUL inside an annotation's name) leave the config unchanged.
// Also: 10k unrelated env entries and annotations do not stop a valid request. Needs root for the
// binary's fixture host; runs no container.
import test from 'ava';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fixtureManifest, hookBinary, RUNTIME_BIN, runBinary, show, tempDir } from '../helpers/hook-env.js';
import { run } from '../helpers/podman.js';
import { IS_ROOT, rootTest, NEEDS_ROOT as why } from '../helpers/root.js';

test.before('binary and fixtures', async () => {
  if (!IS_ROOT) return;
  await hookBinary();
  await fixtureManifest('rhel-2gpu');
});

interface ValueCase {
  title: string;
  annotations?: Record<string, string>;
  env?: string[];
  /** What the one line must say (after "oci-gpu-hook: " / "oci-gpu-runtime: "). */
  says: RegExp;
}

const D = 'oci-gpu/devices';
const GPU0 = 'GPU-2f6b0c1e-7a3d-4e59-9b18-5c0d4a7e3b21';
const MB = 'x'.repeat(1 << 20);
const TENK = Array.from({ length: 10_000 }, (_, i) => String(i)).join(',');
const unknown = (source: string, value: string) => new RegExp(`^${source} asks for GPU "${value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}", which does not exist; this host has 2 GPUs: 0 \\(`);

const CASES: ValueCase[] = [
  // path traversal
  { title: 'devices annotation "../../etc"', annotations: { [D]: '../../etc' }, says: unknown(`annotation "${D}"`, '../../etc') },
  { title: 'devices annotation "/dev/../etc/shadow"', annotations: { [D]: '/dev/../etc/shadow' }, says: unknown(`annotation "${D}"`, '/dev/../etc/shadow') },
  { title: 'NVIDIA_VISIBLE_DEVICES=../../etc', env: ['NVIDIA_VISIBLE_DEVICES=../../etc'], says: unknown('NVIDIA_VISIBLE_DEVICES', '../../etc') },
  { title: 'NVIDIA_VISIBLE_DEVICES=/dev/../etc/shadow', env: ['NVIDIA_VISIBLE_DEVICES=/dev/../etc/shadow'], says: unknown('NVIDIA_VISIBLE_DEVICES', '/dev/../etc/shadow') },
  { title: 'capabilities annotation "../../etc"', annotations: { [D]: '0', 'oci-gpu/capabilities': '../../etc' }, says: /^annotation "oci-gpu\/capabilities": unknown capability "\.\.\/\.\.\/etc"/ },
  { title: 'NVIDIA_DRIVER_CAPABILITIES=/dev/../etc/shadow', env: ['NVIDIA_VISIBLE_DEVICES=all', 'NVIDIA_DRIVER_CAPABILITIES=/dev/../etc/shadow'], says: /^NVIDIA_DRIVER_CAPABILITIES: unknown capability "\/dev\/\.\.\/etc\/shadow"/ },
  { title: 'NVIDIA_REQUIRE_CUDA=../../etc', env: ['NVIDIA_VISIBLE_DEVICES=all', 'NVIDIA_REQUIRE_CUDA=../../etc'], says: /^NVIDIA_REQUIRE_CUDA: cannot parse constraint "\.\.\/\.\.\/etc"/ },
  { title: 'CDI annotation nvidia.com/gpu=../../etc', annotations: { 'cdi.k8s.io/x': 'nvidia.com/gpu=../../etc' }, says: unknown('annotation "cdi.k8s.io/x"', '../../etc') },
  // NUL and other control or invisible characters
  { title: 'devices annotation "0\\u0000"', annotations: { [D]: '0\u0000' }, says: /^annotation "oci-gpu\/devices" contains control characters$/ },
  { title: 'devices annotation "0\\u00001"', annotations: { [D]: '0\u00001' }, says: /^annotation "oci-gpu\/devices" contains control characters$/ },
  { title: 'NVIDIA_VISIBLE_DEVICES=0\\u00001', env: ['NVIDIA_VISIBLE_DEVICES=0\u00001'], says: /^NVIDIA_VISIBLE_DEVICES contains control characters$/ },
  { title: 'NVIDIA_DRIVER_CAPABILITIES=compute\\u0000', env: ['NVIDIA_VISIBLE_DEVICES=0', 'NVIDIA_DRIVER_CAPABILITIES=compute\u0000'], says: /^NVIDIA_DRIVER_CAPABILITIES contains control characters$/ },
  { title: 'CDI annotation with a NUL', annotations: { 'cdi.k8s.io/x': 'nvidia.com/gpu=0\u0000' }, says: /^annotation "cdi\.k8s\.io\/x" contains control characters$/ },
  { title: 'devices annotation with an escape sequence', annotations: { [D]: '0\u001b[31m' }, says: /^annotation "oci-gpu\/devices" contains control characters$/ },
  { title: 'devices annotation with a right-to-left override (U+202E)', annotations: { [D]: '\u202e1' }, says: /^annotation "oci-gpu\/devices" contains control characters$/ },
  { title: 'devices annotation with a C1 control (U+0085)', annotations: { [D]: '0\u0085' }, says: /^annotation "oci-gpu\/devices" contains control characters$/ },
  // huge lists and values
  { title: 'devices annotation listing 10k GPUs', annotations: { [D]: TENK }, says: /^annotation "oci-gpu\/devices" is 48889 bytes long; at most 4096 are accepted$/ },
  { title: 'devices annotation listing GPU 0 300 times', annotations: { [D]: Array(300).fill('0').join(',') }, says: /^annotation "oci-gpu\/devices" lists 300 devices; at most 256 are accepted$/ },
  { title: 'NVIDIA_VISIBLE_DEVICES listing 10k GPUs', env: [`NVIDIA_VISIBLE_DEVICES=${TENK}`], says: /^NVIDIA_VISIBLE_DEVICES is 48889 bytes long/ },
  {
    title: '10k CDI annotations naming nvidia.com/gpu=0',
    annotations: Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`cdi.k8s.io/x${i}`, 'nvidia.com/gpu=0'])),
    says: /^annotation "cdi\.k8s\.io\/x0" lists 10000 devices; at most 256 are accepted$/,
  },
  { title: '1 MB devices annotation', annotations: { [D]: MB }, says: /^annotation "oci-gpu\/devices" is 1048576 bytes long; at most 4096 are accepted$/ },
  { title: '1 MB NVIDIA_VISIBLE_DEVICES', env: [`NVIDIA_VISIBLE_DEVICES=${MB}`], says: /^NVIDIA_VISIBLE_DEVICES is 1048576 bytes long/ },
  { title: '1 MB capabilities annotation', annotations: { [D]: '0', 'oci-gpu/capabilities': MB }, says: /^annotation "oci-gpu\/capabilities" is 1048576 bytes long/ },
  { title: '1 MB NVIDIA_REQUIRE_CUDA', env: ['NVIDIA_VISIBLE_DEVICES=all', `NVIDIA_REQUIRE_CUDA=${MB}`], says: /^NVIDIA_REQUIRE_CUDA is 1048576 bytes long/ },
  { title: '1 MB CDI annotation', annotations: { 'cdi.k8s.io/x': `nvidia.com/gpu=${MB}` }, says: /^annotation "cdi\.k8s\.io\/x" is 1048\d+ bytes long/ },
  // duplicates
  { title: 'devices "0,0"', annotations: { [D]: '0,0' }, says: /^annotation "oci-gpu\/devices" lists GPU "0" twice$/ },
  { title: 'GPU 0 by index and by UUID', annotations: { [D]: `0,${GPU0}` }, says: new RegExp(`^annotation "oci-gpu/devices" asks for GPU 0 twice \\("${GPU0}"\\)$`) },
  { title: 'GPU 0 by two spellings of its PCI bus id', annotations: { [D]: '0000:3b:00.0,0000:3B:00.0' }, says: /^annotation "oci-gpu\/devices" asks for GPU 0 twice/ },
  { title: 'CDI names nvidia.com/gpu=0 twice', annotations: { 'cdi.k8s.io/x': 'nvidia.com/gpu=0,nvidia.com/gpu=0' }, says: /^annotation "cdi\.k8s\.io\/x" lists GPU "0" twice$/ },
  // absurd indexes
  { title: 'devices "0:0" (a MIG device of a GPU not in MIG mode)', annotations: { [D]: '0:0' }, says: /^annotation "oci-gpu\/devices" asks for MIG device "0:0" but GPU 0 is not in MIG mode: ask for it as 0$/ },
  ...['-1', '99999999999', '1e3', '0x1', '+1', '1.0', 'NaN', 'Infinity', '999999'].map((v) => ({
    title: `devices "${v}"`,
    annotations: { [D]: v },
    says: unknown(`annotation "${D}"`, v),
  })),
  { title: 'NVIDIA_VISIBLE_DEVICES=-1', env: ['NVIDIA_VISIBLE_DEVICES=-1'], says: unknown('NVIDIA_VISIBLE_DEVICES', '-1') },
];

/** A minimal OCI config asking with these annotations/env; root.path is a temp folder. */
function configFor(c: { annotations?: Record<string, string>; env?: string[] }, rootfs: string): Record<string, unknown> {
  return {
    ociVersion: '1.0.2',
    process: { args: ['true'], cwd: '/', env: ['PATH=/usr/bin:/bin', ...(c.env ?? [])] },
    root: { path: rootfs },
    ...(c.annotations ? { annotations: c.annotations } : {}),
    linux: { resources: { devices: [{ allow: false, access: 'rwm' }] } },
  };
}

function oneLine(t: import('ava').ExecutionContext, stderr: string, program: string, says: RegExp, ctx: string): void {
  const lines = stderr.split('\n');
  t.is(lines.at(-1), '', `${program}: stderr does not end with a newline\n${ctx}`);
  t.is(lines.length, 2, `${program}: not exactly one stderr line\n${ctx}`);
  const line = lines[0] ?? '';
  t.true(line.startsWith(`${program}: `), ctx);
  t.regex(line.slice(program.length + 2), says, ctx);
  t.notRegex(line, /internal error|at .*\.js:\d+/, ctx);
  t.true(line.length < 600, `${program}: the line is ${line.length} characters long`);
}

const precreateRefuses = test.macro({
  async exec(t, c: ValueCase) {
    const bin = await hookBinary();
    const m = await fixtureManifest('rhel-2gpu');
    const dir = tempDir('values');
    mkdirSync(path.join(dir, 'rootfs'));
    const r = await runBinary(bin, ['precreate', '--manifest', m.file], JSON.stringify(configFor(c, path.join(dir, 'rootfs'))));
    const ctx = show({ ...r, stdout: r.stdout.slice(0, 300) });
    t.not(r.exitCode, 0, ctx);
    t.is(r.exitCode, 1, `a refused request exits 1\n${ctx}`);
    t.is(r.stdout, '', 'precreate printed a config although it refused');
    oneLine(t, r.stderr, 'oci-gpu-hook', c.says, ctx);
  },
  title: (_ = '', c: ValueCase) => `precreate: ${c.title} is one refusal line, nothing on stdout${why}`,
});

const legacyRefuses = test.macro({
  async exec(t, c: ValueCase) {
    const bin = await hookBinary();
    const m = await fixtureManifest('rhel-2gpu');
    const bundle = tempDir('values-bundle');
    mkdirSync(path.join(bundle, 'rootfs'));
    const config = path.join(bundle, 'config.json');
    writeFileSync(config, JSON.stringify(configFor(c, 'rootfs')));
    const before = { bytes: readFileSync(config), mtime: statSync(config).mtimeMs };
    // pid: this test process; the request is refused before anything looks at it.
    const state = { ociVersion: '1.0.2', id: 'values', status: 'creating', pid: process.pid, bundle };
    const r = await runBinary(bin, ['createRuntime', '--manifest', m.file], JSON.stringify(state));
    const ctx = show(r);
    t.is(r.exitCode, 1, ctx);
    t.is(r.stdout, '');
    oneLine(t, r.stderr, 'oci-gpu-hook', c.says, ctx);
    t.true(readFileSync(config).equals(before.bytes), 'the bundle config changed');
    t.is(statSync(config).mtimeMs, before.mtime);
    t.false(existsSync(path.join(bundle, 'rootfs', 'dev')), 'the legacy stage made something in the rootfs');
  },
  title: (_ = '', c: ValueCase) => `legacy createRuntime: ${c.title} is one refusal line, the bundle untouched${why}`,
});

let runtimeRecorder: { path: string; ran: () => boolean } | undefined;
function recorder(): { path: string; ran: () => boolean } {
  if (runtimeRecorder) return runtimeRecorder;
  const dir = tempDir('fake-runtime');
  const file = path.join(dir, 'runc');
  writeFileSync(file, `#!/bin/sh\necho "$*" >>'${dir}/ran'\n`);
  chmodSync(file, 0o755);
  runtimeRecorder = { path: file, ran: () => existsSync(path.join(dir, 'ran')) };
  return runtimeRecorder;
}

const wrapperRefuses = test.macro({
  async exec(t, c: ValueCase) {
    await hookBinary();
    const m = await fixtureManifest('rhel-2gpu');
    const bundle = tempDir('values-wrapper');
    mkdirSync(path.join(bundle, 'rootfs'));
    const config = path.join(bundle, 'config.json');
    writeFileSync(config, JSON.stringify(configFor(c, 'rootfs')));
    const before = { bytes: readFileSync(config), mtime: statSync(config).mtimeMs, ino: statSync(config).ino };
    const fake = recorder();
    const r = await run(RUNTIME_BIN, ['--runtime', fake.path, '--manifest', m.file, 'run', '--bundle', bundle, 'values']);
    const ctx = show(r);
    t.is(r.exitCode, 1, ctx);
    t.is(r.stdout, '');
    oneLine(t, r.stderr, 'oci-gpu-runtime', c.says, ctx);
    t.false(fake.ran(), 'the real runtime was invoked');
    const after = statSync(config);
    t.true(readFileSync(config).equals(before.bytes), 'config.json changed');
    t.is(after.mtimeMs, before.mtime, 'config.json was rewritten');
    t.is(after.ino, before.ino, 'config.json was replaced');
  },
  title: (_ = '', c: ValueCase) => `oci-gpu-runtime: ${c.title} is one refusal line, runtime never run, config.json untouched${why}`,
});

for (const c of CASES) {
  rootTest(precreateRefuses, c);
  rootTest(legacyRefuses, c);
  rootTest(wrapperRefuses, c);
}

// Not ours, or big but harmless: the config comes back unchanged, or the request still works.

rootTest(`a NUL inside an annotation's or variable's name is not our request: the config comes back byte for byte${why}`, async (t) => {
  const bin = await hookBinary();
  const m = await fixtureManifest('rhel-2gpu');
  const cases: { annotations?: Record<string, string>; env?: string[] }[] = [
    { annotations: { 'oci-gpu/devices\u0000': 'all' } },
    { env: ['NVIDIA_VISIBLE_DEVICES\u0000=all'] },
    { annotations: { '\u0000oci-gpu/devices': '0' } },
  ];
  for (const c of cases) {
    const input = JSON.stringify(configFor(c, '/tmp/none'));
    const r = await runBinary(bin, ['precreate', '--manifest', m.file], input);
    t.is(r.exitCode, 0, show(r));
    t.is(r.stderr, '');
    t.is(r.stdout, input);
  }
});

rootTest(`10k unrelated env entries and annotations, and 1 MB unrelated values, do not stop a valid request${why}`, async (t) => {
  const bin = await hookBinary();
  const m = await fixtureManifest('rhel-2gpu');
  const dir = tempDir('values-big');
  mkdirSync(path.join(dir, 'rootfs'));
  const annotations: Record<string, string> = { [D]: '1' };
  for (let i = 0; i < 10_000; i++) annotations[`org.example/a${i}`] = `v${i}`;
  annotations['org.example/big'] = MB;
  const env = Array.from({ length: 10_000 }, (_, i) => `VAR${i}=${i}`);
  env.push(`BIG=${MB}`);
  const r = await runBinary(bin, ['precreate', '--manifest', m.file], JSON.stringify(configFor({ annotations, env }, path.join(dir, 'rootfs'))));
  t.is(r.exitCode, 0, show({ ...r, stdout: '' }));
  const edited = JSON.parse(r.stdout) as { linux: { devices: { path: string }[] }; process: { env: string[] } };
  t.true(edited.linux.devices.some((d) => d.path === '/dev/nvidia3'));
  t.is(edited.process.env.length, env.length + 1);
});
