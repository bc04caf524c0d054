import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHostFs } from '../../src/adapters/host-fs.js';
import { buildCdiSpec } from '../../src/core/plan/cdi-spec.js';
import { parseManifest } from '../../src/core/manifest/manifest-codec.js';
import { scanHost } from '../../src/discover/scan.js';
import type { Manifest } from '../../src/model/manifest.js';
import { buildFixtureHost, copyFixtureHost, type FixtureHostName } from '../../scripts/fixture-host.js';
import { CLI_BIN, cliBinary } from '../helpers/hook-env.js';
import { IS_ROOT, NEEDS_ROOT, rootTest } from '../helpers/root.js';
import { validateCdiSpec } from '../helpers/schema.js';

// Discovery on the simulated hosts, in-process and through the CLI (the shipped binary): what it must
// find, the traps it must not fall into, and how it reports a broken host.

test.before(async () => {
  if (IS_ROOT) await cliBinary();
});

function scan(name: FixtureHostName): Manifest {
  return scanHost(createHostFs(buildFixtureHost(name)));
}

function cli(args: string[]) {
  const r = spawnSync(CLI_BIN, args, { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const names = (m: Manifest, kind?: string) => m.files.filter((f) => !kind || f.kind === kind).map((f) => f.containerPath);

rootTest(`h200 (the real host, file for file): the H200, its nodes, every 580.159.04 library, GSP firmware, no toolkit library${NEEDS_ROOT}`, (t) => {
  const m = scan('h200');
  t.is(m.driver?.version, '580.159.04');
  t.is(m.driver?.cudaVersion, '13.0');
  t.true(m.driver!.source.endsWith('/sys/module/nvidia/version'));
  t.deepEqual(
    m.gpus.map(({ index, uuid, pciBusId, model, minor, architecture }) => ({ index, uuid, pciBusId, model, minor, architecture })),
    [{ index: 0, uuid: 'GPU-8b472ccd-7f02-9c7a-ca0f-35527f14b320', pciBusId: '0000:00:06.0', model: 'NVIDIA H200', minor: 0, architecture: '9.0' }],
  );
  t.deepEqual(m.gpus[0]!.edits.deviceNodes!.map((n) => [n.path, n.major, n.minor]), [['/dev/nvidia0', 195, 0]]);
  t.deepEqual(m.controlNodes.map((n) => [n.path, n.major, n.minor, n.fileMode]), [['/dev/nvidiactl', 195, 255, 0o666]]);
  t.deepEqual(m.capabilities.compute!.deviceNodes!.map((n) => [n.path, n.major, n.minor]), [['/dev/nvidia-uvm', 238, 0], ['/dev/nvidia-uvm-tools', 238, 1]]);
  t.deepEqual(m.capNodes.map((n) => [n.path, n.major, n.minor, n.fileMode]), [['/dev/nvidia-caps/nvidia-cap1', 241, 1, 0o400], ['/dev/nvidia-caps/nvidia-cap2', 241, 2, 0o444]]);
  const libs = names(m, 'library');
  for (const lib of ['libcuda', 'libnvidia-ml', 'libnvidia-ptxjitcompiler', 'libnvidia-nvvm', 'libGLX_nvidia', 'libnvcuvid', 'libnvoptix']) {
    t.true(libs.includes(`/usr/local/nvidia/lib64/${lib}.so.580.159.04`), lib);
  }
  t.true(libs.every((l) => l.endsWith('.so.580.159.04')), 'only files of the running version');
  t.false(JSON.stringify(m).includes('570.86.15'), 'the leftover libcuda.so.570.86.15 is never picked');
  t.false(/libcudart|libcublas|libcufft|libnvrtc|\/stubs\//.test(JSON.stringify(m.files)), 'no CUDA toolkit library');
  t.deepEqual(names(m, 'firmware'), ['/usr/local/nvidia/firmware/nvidia/580.159.04/gsp_ga10x.bin', '/usr/local/nvidia/firmware/nvidia/580.159.04/gsp_tu10x.bin']);
  t.deepEqual(names(m, 'binary').sort(), ['nvidia-cuda-mps-control', 'nvidia-cuda-mps-server', 'nvidia-debugdump', 'nvidia-persistenced', 'nvidia-smi'].map((b) => `/usr/bin/${b}`));
  t.true(m.files.filter((f) => f.kind === 'binary').every((f) => f.hostPath.endsWith(`/usr/local/nvidia/bin/${path.basename(f.containerPath)}`)), 'binaries come from the driver folder');
  t.deepEqual(names(m, 'icd').sort(), ['/usr/share/glvnd/egl_vendor.d/10_nvidia.json', '/usr/share/vulkan/icd.d/nvidia_icd.json', '/usr/share/vulkan/implicit_layer.d/nvidia_layers.json']);
  t.deepEqual(m.libraryDirs, ['/usr/local/nvidia/lib64']);
  t.true(m.tools.ldconfig.endsWith('/sbin/ldconfig.real'), `the ELF ldconfig, not Ubuntu's shell wrapper: ${m.tools.ldconfig}`);
});

rootTest(`h200: a library of the running version on no list is reported as unclassified, not dropped${NEEDS_ROOT}`, (t) => {
  const m = scan('h200');
  const future = m.files.find((f) => f.containerPath.endsWith('libnvidia-future.so.580.159.04'));
  t.is(future?.capability, 'unclassified');
  t.deepEqual(m.capabilities.unclassified?.mounts?.map((x) => x.containerPath), ['/usr/local/nvidia/lib64/libnvidia-future.so.580.159.04']);
});

rootTest(`with --root, host paths are real paths under the root and container paths are the host paths of a real host${NEEDS_ROOT}`, (t) => {
  const dir = buildFixtureHost('h200');
  const m = scanHost(createHostFs(dir));
  t.is(m.root, dir);
  const nodes = [...m.controlNodes, ...m.gpus.flatMap((g) => g.edits.deviceNodes!)];
  t.true(nodes.every((n) => n.hostPath === path.join(dir, n.path) && n.path.startsWith('/dev/')));
  t.true(m.files.every((f) => f.hostPath.startsWith(dir + '/') && !f.containerPath.startsWith(dir) && fs.existsSync(f.hostPath)));
});

rootTest(`rhel-2gpu: minors 0 and 3 in bus order, DRI and modeset nodes, /usr/lib64 and 32-bit libraries, sockets, /proc version fallback${NEEDS_ROOT}`, (t) => {
  const m = scan('rhel-2gpu');
  t.is(m.driver?.version, '550.54.15');
  t.true(m.driver!.source.endsWith('/proc/driver/nvidia/version'), 'no /sys/module/nvidia/version there');
  t.deepEqual(m.gpus.map((g) => [g.index, g.pciBusId, g.minor]), [[0, '0000:3b:00.0', 0], [1, '0000:86:00.0', 3]]);
  t.deepEqual(m.gpus.map((g) => g.edits.deviceNodes!.map((n) => n.path)), [['/dev/nvidia0'], ['/dev/nvidia3']]);
  t.deepEqual(m.gpus.map((g) => g.driNodes.map((n) => n.path)), [['/dev/dri/card1', '/dev/dri/renderD128'], ['/dev/dri/card2', '/dev/dri/renderD129']]);
  t.false(JSON.stringify(m).includes('card0'), "the BMC's card0 is not an NVIDIA GPU's");
  t.deepEqual(m.capabilities.display?.deviceNodes?.map((n) => n.path), ['/dev/nvidia-modeset']);
  t.deepEqual(m.capabilities.compute?.deviceNodes?.map((n) => [n.path, n.major]), [['/dev/nvidia-uvm', 511], ['/dev/nvidia-uvm-tools', 511]]);
  t.true(names(m, 'library').includes('/usr/lib64/libcuda.so.550.54.15'));
  t.is(m.files.find((f) => f.containerPath === '/usr/lib/libcuda.so.550.54.15')?.capability, 'compat32');
  t.deepEqual(names(m, 'socket').sort(), ['/run/nvidia-fabricmanager/socket', '/run/nvidia-persistenced/socket']);
  t.deepEqual(names(m, 'ipc-dir'), ['/tmp/nvidia-mps']);
  t.true(names(m, 'icd').includes('/usr/share/vulkan/icd.d/nvidia_icd.x86_64.json'), 'RPM-style ICD names');
  t.true(names(m, 'firmware').every((f) => f.startsWith('/usr/lib/firmware/nvidia/550.54.15/')));
  t.deepEqual(m.libraryDirs, ['/usr/lib', '/usr/lib64']);
});

rootTest(`no-driver: an empty manifest, no warnings about missing NVIDIA files${NEEDS_ROOT}`, (t) => {
  const m = scan('no-driver');
  t.is(m.driver, null);
  t.deepEqual([m.gpus, m.files, m.controlNodes, m.libraryDirs], [[], [], [], []]);
});

rootTest(`CDI specs of every fixture host are valid, by index and UUID plus "all", at the lowest version${NEEDS_ROOT}`, (t) => {
  for (const name of ['h200', 'rhel-2gpu', 'no-driver'] as const) {
    const spec = buildCdiSpec(scan(name));
    t.deepEqual(validateCdiSpec(spec), [], name);
    if (name === 'no-driver') t.deepEqual([spec.devices, spec.cdiVersion], [[], '0.3.0']);
    else t.is(spec.cdiVersion, '0.5.0', 'device names start with a digit and nodes carry hostPath');
  }
});

rootTest(`oci-gpu scan: a readable summary on a terminal, JSON otherwise, --output written atomically and parseable${NEEDS_ROOT}`, (t) => {
  const dir = buildFixtureHost('h200');
  const json = cli(['scan', '--root', dir]);
  t.is(json.code, 0, json.err);
  t.is(parseManifest(json.out, 'stdout').gpus.length, 1);
  const out = path.join(fs.mkdtempSync('/tmp/oci-gpu-scan-'), 'm.json');
  const written = cli(['scan', '--root', dir, '--output', out]);
  t.is(written.code, 0, written.err);
  t.regex(written.err, /^driver 580\.159\.04 \(CUDA 13\.0\)/m);
  t.regex(written.err, /^GPU 0 {2}NVIDIA H200 {2}GPU-8b472ccd/m);
  const m = parseManifest(fs.readFileSync(out, 'utf8'), out);
  t.is(m.driver?.version, '580.159.04');
  t.deepEqual(fs.readdirSync(path.dirname(out)).sort(), ['m.json', 'nvidia-params'], 'the manifest and the masked params beside it; no temp file left');
  t.is(m.paramsMask, path.join(path.dirname(out), 'nvidia-params'));
  t.is(fs.readFileSync(m.paramsMask!, 'utf8'), m.driver!.maskedParams);
  t.regex(m.driver!.maskedParams, /^ModifyDeviceFiles: 0$/m);
  t.is(fs.statSync(m.paramsMask!).mode & 0o777, 0o444, 'nobody writes it through the container\'s bind');
  t.is(parseManifest(json.out, 'stdout').paramsMask, null, 'printed, not written: no file is named');
});

rootTest(`oci-gpu scan on a host without a driver: empty manifest, one clear line, exit 0${NEEDS_ROOT}`, (t) => {
  const r = cli(['scan', '--root', buildFixtureHost('no-driver'), '--json']);
  t.is(r.code, 0);
  t.is(parseManifest(r.out, 'stdout').driver, null);
  t.regex(r.err, /^oci-gpu: no NVIDIA driver is loaded under .*: the manifest is empty\n$/);
});

rootTest(`a missing or unreadable file is a one-line warning naming it, and discovery goes on${NEEDS_ROOT}`, (t) => {
  const dir = copyFixtureHost('h200');
  try {
    // The uvm module is loaded (/proc/devices lists it) but its nodes are gone.
    fs.rmSync(path.join(dir, 'dev/nvidia-uvm'));
    fs.rmSync(path.join(dir, 'dev/nvidia-uvm-tools'));
    fs.mkdirSync(path.join(dir, 'proc/driver/nvidia/gpus/0000:00:09.0'));
    fs.writeFileSync(path.join(dir, 'proc/driver/nvidia/gpus/0000:00:09.0/information'), 'Model: broken\n');
    let m = scanHost(createHostFs(dir));
    t.is(m.gpus.length, 1, 'the good GPU is still there');
    t.true(m.files.length > 30, 'files are still found');
    t.true(m.warnings.some((w) => w === `missing device node "${path.join(dir, 'dev/nvidia-uvm')}"`), m.warnings.join('\n'));
    t.true(m.warnings.some((w) => w.includes('0000:00:09.0/information') && w.includes('GPU UUID: missing')), m.warnings.join('\n'));
    const r = cli(['scan', '--root', dir, '--output', path.join(dir, 'm.json')]);
    t.is(r.code, 0);
    t.regex(r.err, /^warning: missing device node ".*\/dev\/nvidia-uvm"$/m);

    // /proc/devices unreadable: majors are not cross-checked, the rest goes on.
    fs.rmSync(path.join(dir, 'proc/devices'));
    fs.mkdirSync(path.join(dir, 'proc/devices'));
    m = scanHost(createHostFs(dir));
    t.is(m.gpus.length, 1);
    t.deepEqual(m.controlNodes.map((n) => n.path), ['/dev/nvidiactl']);
    t.true(m.warnings.some((w) => w === `cannot read "${path.join(dir, 'proc/devices')}": EISDIR; majors not cross-checked`), m.warnings.join('\n'));
    t.true(m.warnings.every((w) => !w.includes('\n')), 'one line each');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

rootTest(`a corrupt ld.so.cache is a clear error naming it, exit 1, no stack trace${NEEDS_ROOT}`, (t) => {
  const dir = copyFixtureHost('h200');
  try {
    const cache = path.join(dir, 'etc/ld.so.cache');
    fs.writeFileSync(cache, fs.readFileSync(cache).subarray(0, 100));
    const r = cli(['scan', '--root', dir, '--json']);
    t.is(r.code, 1);
    t.is(r.out, '');
    t.is(r.err.trim().split('\n').length, 1, r.err);
    t.true(r.err.startsWith(`oci-gpu: ld.so cache "${cache}":`), r.err);
    t.false(r.err.includes('    at '), 'no stack trace');
    const debug = cli(['scan', '--root', dir, '--json', '--debug']);
    t.true(debug.err.includes('    at '), 'the stack with --debug');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

rootTest(`a reader that closes the pipe early (\`oci-gpu scan | head\`) gets no error and exit 0${NEEDS_ROOT}`, (t) => {
  const dir = buildFixtureHost('h200');
  const r = spawnSync('/bin/sh', ['-c', `"${CLI_BIN}" scan --root "${dir}" --json | head -c 1 >/dev/null`], { encoding: 'utf8' });
  t.is(r.stderr, '', 'no EPIPE stack');
  const direct = spawnSync('/bin/bash', ['-c', `set -o pipefail; "${CLI_BIN}" cdi generate --root "${dir}" | (exec 0<&-; sleep 0.2)`], { encoding: 'utf8' });
  t.is(direct.status, 0, direct.stderr);
  t.is(direct.stderr, '');
});

// --- MIG devices (NVML through FFI in the shipped binary; plain data in-process) and IMEX channels ---

const MIG_HOST_DEVICES = [
  { uuid: 'MIG-0a1b2c3d-1111-5222-8333-444455556661', gpuInstance: 1, computeInstance: 0, name: 'NVIDIA A100-SXM4-80GB MIG 3g.40gb' },
  { uuid: 'MIG-0a1b2c3d-1111-5222-8333-444455556662', gpuInstance: 2, computeInstance: 0, name: 'NVIDIA A100-SXM4-80GB MIG 1c.3g.40gb' },
  { uuid: 'MIG-0a1b2c3d-1111-5222-8333-444455556663', gpuInstance: 2, computeInstance: 1, name: 'NVIDIA A100-SXM4-80GB MIG 2c.3g.40gb' },
];
const capNode = (minor: number) => `/dev/nvidia-caps/nvidia-cap${minor}`;
/** What the a100-mig fixture's README says GPU 0's MIG devices are: index, UUID, GI, CI, profile, cap nodes. */
const A100_MIG = [
  [0, 'MIG-0a1b2c3d-1111-5222-8333-444455556661', 1, 0, '3g.40gb', [capNode(12), capNode(13)]],
  [1, 'MIG-0a1b2c3d-1111-5222-8333-444455556662', 2, 0, '1c.3g.40gb', [capNode(21), capNode(22)]],
  [2, 'MIG-0a1b2c3d-1111-5222-8333-444455556663', 2, 1, '2c.3g.40gb', [capNode(21), capNode(23)]],
];
const migView = (m: Manifest) => m.gpus.map((g) => g.mig?.map((d) => [d.index, d.uuid, d.gpuInstance, d.computeInstance, d.profile, (d.edits.deviceNodes ?? []).map((n) => n.path)]) ?? null);

rootTest(`a100-mig in-process (MIG data handed in as NVML would give it): GPU 0 split into three MIG devices with their caps, GPU 1 whole${NEEDS_ROOT}`, (t) => {
  const asked: string[][] = [];
  const m = scanHost(createHostFs(buildFixtureHost('a100-mig')), new Date(), {
    mig: (lib) => {
      t.regex(lib ?? '', /\/usr\/lib\/x86_64-linux-gnu\/libnvidia-ml\.so\.550\.90\.07$/, 'the driver\'s own NVML');
      return { list: (buses) => (asked.push(buses), new Map([['0000:07:00.0', MIG_HOST_DEVICES]])) };
    },
  });
  t.deepEqual(asked, [['0000:07:00.0']], 'NVML is asked about the split GPU only');
  t.deepEqual(migView(m), [A100_MIG, null]);
  const gi2ci1 = m.gpus[0]!.mig![2]!.edits.deviceNodes![1]!;
  t.like(gi2ci1, { major: 237, minor: 23, fileMode: 0o444, uid: 0, gid: 0 }, 'a cap node missing on the host: numbers and mode from its access file');
  t.false('hostPath' in gi2ci1);
  t.like(m.gpus[0]!.mig![0]!.edits.deviceNodes![0]!, { major: 237, minor: 12, hostPath: `${m.root}/dev/nvidia-caps/nvidia-cap12` });
  t.deepEqual(m.warnings, []);
  t.regex(m.driver!.maskedParams, /^ModifyDeviceFiles: 0$/m);
});

rootTest(`a100-mig: MIG instances that cannot be enumerated leave GPU 0 offered neither whole nor in parts, with a warning${NEEDS_ROOT}`, (t) => {
  const m = scanHost(createHostFs(buildFixtureHost('a100-mig')), new Date(), { mig: () => ({ list: () => { throw new Error('NVML nvmlInit failed: Driver Not Loaded'); } }) });
  t.deepEqual(migView(m), [[], null]);
  t.deepEqual(m.warnings, ['GPU 0000:07:00.0 has MIG instances but they cannot be enumerated: NVML nvmlInit failed: Driver Not Loaded; its MIG devices are not offered']);
});

rootTest(`a100-mig through the shipped binary: NVML is reached through FFI (the fixture's fake libnvidia-ml), MIG devices and dev links in the manifest${NEEDS_ROOT}`, (t) => {
  const r = cli(['scan', '--root', buildFixtureHost('a100-mig'), '--json']);
  t.is(r.code, 0, r.err);
  const m = JSON.parse(r.out) as Manifest;
  t.deepEqual(migView(m), [A100_MIG, null]);
  t.deepEqual(m.warnings, []);
});

rootTest(`gb200-imex: IMEX channels 0 and 1 by number; h200 (the real host) has the major but no channel${NEEDS_ROOT}`, (t) => {
  const m = scan('gb200-imex');
  t.deepEqual(m.imexChannels.map((n) => [n.path, n.major, n.minor]), [
    ['/dev/nvidia-caps-imex-channels/channel0', 236, 0],
    ['/dev/nvidia-caps-imex-channels/channel1', 236, 1],
  ]);
  t.deepEqual(scan('h200').imexChannels, []);
});

rootTest(`cdi generate --output writes the IMEX channels' spec beside the GPUs' one, and removes it for a host with none${NEEDS_ROOT}`, (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oci-gpu-cdi-imex-'));
  const out = path.join(dir, 'oci-gpu.json');
  const imexFile = path.join(dir, 'oci-gpu-imex-channel.json');
  let r = cli(['cdi', 'generate', '--root', buildFixtureHost('gb200-imex'), '--output', out]);
  t.is(r.code, 0, r.err);
  t.regex(r.err, new RegExp(`^wrote ${imexFile} \\(nvidia\\.com/imex-channel, 2 IMEX channels, cdiVersion 0\\.5\\.0\\)$`, 'm'));
  const spec = JSON.parse(fs.readFileSync(imexFile, 'utf8'));
  t.deepEqual(validateCdiSpec(spec), []);
  t.is(spec.kind, 'nvidia.com/imex-channel');
  t.deepEqual(spec.devices.map((d: { name: string }) => d.name), ['0', '1', 'all']);
  t.deepEqual(spec.devices[1].containerEdits.deviceNodes.map((n: { path: string }) => n.path), ['/dev/nvidia-caps-imex-channels/channel1']);
  t.is(JSON.parse(fs.readFileSync(out, 'utf8')).kind, 'nvidia.com/gpu');
  // To stdout only the GPUs' spec (one JSON document), and a line saying where the other one goes.
  r = cli(['cdi', 'generate', '--root', buildFixtureHost('gb200-imex')]);
  t.is(JSON.parse(r.out).kind, 'nvidia.com/gpu');
  t.regex(r.err, /2 IMEX channels: their spec \(nvidia\.com\/imex-channel\) is written only with --output/);
  // The same output for a host without channels: no stale IMEX spec is left behind.
  r = cli(['cdi', 'generate', '--root', buildFixtureHost('h200'), '--output', out]);
  t.is(r.code, 0, r.err);
  t.false(fs.existsSync(imexFile));
  t.regex(r.err, /removed .*oci-gpu-imex-channel\.json: this host has no IMEX channels/);
  fs.rmSync(dir, { recursive: true, force: true });
});
