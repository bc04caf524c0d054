// Docker, the real client: Debian's dockerd 20.10 (a daemon of this test's own, on a temp folder,
// no bridge, no iptables) with the oci-gpu runtime registered by the daemon.json that the shipped
// binary's `oci-gpu install --docker --prefix` writes, byte for byte what dockerd reads. The image
// is the test rootfs through `docker import` (no registry). On the rhel-2gpu fixture host:
// `docker run --runtime oci-gpu -e NVIDIA_VISIBLE_DEVICES=N` gets exactly GPU N's nodes (GPU 1 is
// /dev/nvidia3), opens them through the device cgroup (ENXIO), and the fake nvidia-smi loads
// libnvidia-ml through the container's ld cache; without a request nothing changes; a GPU that
// does not exist fails `docker run`. dockerd is stopped afterwards, whatever happened.
// Needs root, docker.io and the test rootfs (scripts/setup-host.sh): skipped with the reason
// without them, failed under test:all.
import test from 'ava';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { assertProbe, cliBinary, ENXIO, fixtureManifest, parseProbe, PROBE, show, tempDir, type FixtureManifest } from '../helpers/hook-env.js';
import { docker, DOCKER_NEED, dockerRunHasAnnotation, startDockerd, type Daemon } from '../helpers/engines.js';
import { needs } from '../helpers/needs.js';
import { run, TEST_ROOTFS } from '../helpers/podman.js';

const gate = needs(DOCKER_NEED);
const serial = gate.serial;
const IMAGE = 'oci-gpu-test:docker';
// rhel-2gpu (test/fixtures/hosts/rhel-2gpu/README.md): index → minor, and the nodes every GPU container gets.
const MINOR = { '0': 0, '1': 3 } as const;
const SHARED_NODES = ['/dev/nvidia-uvm', '/dev/nvidia-uvm-tools', '/dev/nvidiactl'];

let daemon: Daemon | undefined;
let manifest: FixtureManifest;
let prefix = '';

test.before('oci-gpu install --docker into a prefix, dockerd on its daemon.json, the test image', async (t) => {
  if (gate.skipped) return;
  t.is(gate.missing(), undefined);
  const cli = await cliBinary();
  manifest = await fixtureManifest('rhel-2gpu');
  const dir = tempDir('docker');
  prefix = path.join(dir, 'prefix');
  mkdirSync(prefix);
  const install = await run(cli, ['install', '--docker', '--prefix', prefix, '--manifest', manifest.file]);
  t.is(install.exitCode, 0, show(install));
  daemon = await startDockerd(dir, path.join(prefix, 'etc/docker/daemon.json'));
  const imported = await run('/bin/sh', ['-c', 'tar -C "$1" --exclude ./.oci-gpu-test-rootfs -cf - . | docker -H "unix://$2" import - "$3"', 'sh', TEST_ROOTFS, daemon.socket, IMAGE], { timeout: 120_000 });
  t.is(imported.exitCode, 0, show(imported));
});

test.after.always('stop dockerd and what it left', async () => {
  await daemon?.stop();
});

/** `docker run --rm --network none [--runtime oci-gpu] ...ARGS IMAGE /bin/sh -c SCRIPT`. */
function dockerRun(args: string[], script: string) {
  return docker(daemon!.socket, ['run', '--rm', '--network', 'none', ...args, IMAGE, '/bin/sh', '-c', script]);
}

serial(`dockerd lists the runtime "oci-gpu" exactly as install wrote it into daemon.json${gate.why}`, async (t) => {
  const written = JSON.parse(readFileSync(path.join(prefix, 'etc/docker/daemon.json'), 'utf8')) as { runtimes: Record<string, { path: string; runtimeArgs: string[] }> };
  t.deepEqual(written.runtimes['oci-gpu'], {
    path: path.join(prefix, 'usr/bin/oci-gpu-runtime'),
    runtimeArgs: ['--config', path.join(prefix, 'etc/oci-gpu/config.json5'), '--manifest', manifest.file],
  });
  const info = await docker(daemon!.socket, ['info', '--format', '{{json .Runtimes}}']);
  t.is(info.exitCode, 0, show(info));
  const runtimes = JSON.parse(info.stdout) as Record<string, { path: string; runtimeArgs?: string[] }>;
  t.deepEqual({ path: runtimes['oci-gpu']?.path, runtimeArgs: runtimes['oci-gpu']?.runtimeArgs }, written.runtimes['oci-gpu']);
});

const gpu = test.macro({
  async exec(t, index: '0' | '1') {
    const r = await dockerRun(['--runtime', 'oci-gpu', '-e', `NVIDIA_VISIBLE_DEVICES=${index}`], PROBE);
    t.is(r.exitCode, 0, show(r));
    const probe = parseProbe(r.stdout);
    t.deepEqual([...probe.nodes.keys()].sort(), [`/dev/nvidia${MINOR[index]}`, ...SHARED_NODES].sort(), show(r));
    assertProbe(t, probe, show(r), { gpus: [MINOR[index]], libDir: '/usr/lib64', driver: '550.54.15' });
  },
  title: (_ = '', index: string) => `docker run --runtime oci-gpu -e NVIDIA_VISIBLE_DEVICES=${index}: exactly GPU ${index}'s nodes (ENXIO), nvidia-smi through the ld cache${gate.why}`,
});
serial(gpu, '0');
serial(gpu, '1');

serial(`docker run --runtime oci-gpu without a request: no GPU, the container runs as it would with runc${gate.why}`, async (t) => {
  const r = await dockerRun(['--runtime', 'oci-gpu'], 'ls /dev; echo RAN');
  t.is(r.exitCode, 0, show(r));
  t.regex(r.stdout, /^RAN$/m);
  t.notRegex(r.stdout, /nvidia/, show(r));
});

serial(`docker run --runtime oci-gpu -e NVIDIA_VISIBLE_DEVICES=7 (no such GPU) fails, and no container is left${gate.why}`, async (t) => {
  const r = await dockerRun(['--runtime', 'oci-gpu', '-e', 'NVIDIA_VISIBLE_DEVICES=7'], 'echo RAN');
  t.not(r.exitCode, 0, show(r));
  t.notRegex(r.stdout, /RAN/);
  t.regex(r.stderr, /OCI runtime create failed/, show(r));
  const left = await docker(daemon!.socket, ['ps', '--all', '--quiet']);
  t.is(left.stdout.trim(), '', 'a container was left');
});

// containerd (under Docker and ctr) shows a failed runtime's error from the runtime's --log file
// (json), not from its stderr: oci-gpu-runtime writes its one line there too.
gate.serial(`Docker's error for NVIDIA_VISIBLE_DEVICES=7 is our one line${gate.why}`, async (t) => {
  const r = await dockerRun(['--runtime', 'oci-gpu', '-e', 'NVIDIA_VISIBLE_DEVICES=7'], 'echo RAN');
  t.regex(r.stderr, /OCI runtime create failed: oci-gpu-runtime: NVIDIA_VISIBLE_DEVICES asks for GPU "7", which does not exist; this host has 2 GPUs: 0 \(GPU-2f6b0c1e-[^)]*\), 1 \(GPU-9d41e8a2-[^)]*\)/, show(r));
});

// Docker 24 added `docker run --annotation`; Debian 12's 20.10 has none, so that form is only
// possible (and tested) where the CLI has it.
const annotated = needs(DOCKER_NEED, { installable: false, label: 'Docker with docker run --annotation (24+)', missing: () => (dockerRunHasAnnotation() ? undefined : 'this docker run has no --annotation (Docker < 24)') });
annotated.serial(`docker run --runtime oci-gpu --annotation oci-gpu/devices=1: GPU 1 only${annotated.why}`, async (t) => {
  const r = await dockerRun(['--runtime', 'oci-gpu', '--annotation', 'oci-gpu/devices=1'], PROBE);
  t.is(r.exitCode, 0, show(r));
  const probe = parseProbe(r.stdout);
  t.deepEqual([...probe.nodes.keys()].sort(), ['/dev/nvidia3', ...SHARED_NODES].sort(), show(r));
  for (const [node, { open }] of probe.nodes) t.is(open, ENXIO, node);
});
