// containerd, the real client: Debian's containerd 1.6 (a daemon of this test's own, on a temp
// folder, without its CRI plugin) and `ctr run --runc-binary <oci-gpu-runtime>`, the runtime as
// `oci-gpu install --prefix` (the shipped binary) placed it, with the NVIDIA env contract, on a
// private copy of the test rootfs (`--rootfs`: no image, no registry). On the rhel-2gpu fixture
// host: NVIDIA_VISIBLE_DEVICES=N gets exactly GPU N's nodes (GPU 1 is /dev/nvidia3), opened through
// the device cgroup (ENXIO), and the fake nvidia-smi loads libnvidia-ml through the container's ld
// cache; without a request nothing changes; a GPU that does not exist fails `ctr run`. containerd
// is stopped afterwards, whatever happened. Needs root, containerd and the test rootfs
// (scripts/setup-host.sh): skipped with the reason without them, failed under test:all.
import test from 'ava';
import { chmodSync, cpSync, mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { assertProbe, cliBinary, fixtureManifest, parseProbe, PROBE, show, tempDir } from '../helpers/hook-env.js';
import { CONTAINERD_NEED, ctr, startContainerd, type Daemon } from '../helpers/engines.js';
import { needs } from '../helpers/needs.js';
import { run, TEST_ROOTFS } from '../helpers/podman.js';

const gate = needs(CONTAINERD_NEED);
const serial = gate.serial;
const NAMESPACE = `oci-gpu-test-${process.pid}`;
const MINOR = { '0': 0, '1': 3 } as const;
const SHARED_NODES = ['/dev/nvidia-uvm', '/dev/nvidia-uvm-tools', '/dev/nvidiactl'];

let daemon: Daemon | undefined;
let runtime = '';
let seq = 0;

test.before('oci-gpu install into a prefix, containerd on a temp folder', async (t) => {
  if (gate.skipped) return;
  t.is(gate.missing(), undefined);
  const cli = await cliBinary();
  const m = await fixtureManifest('rhel-2gpu');
  const dir = tempDir('containerd');
  const prefix = path.join(dir, 'prefix');
  mkdirSync(prefix);
  const install = await run(cli, ['install', '--prefix', prefix, '--manifest', m.file]);
  t.is(install.exitCode, 0, show(install));
  // ctr passes runc's arguments only: the installed wrapper gets the prefix's config and the fixture's
  // manifest from a two-line script (on a real host it reads /etc/oci-gpu/config.json5).
  runtime = path.join(dir, 'oci-gpu-runtime');
  writeFileSync(runtime, `#!/bin/sh\nexec '${path.join(prefix, 'usr/bin/oci-gpu-runtime')}' --config '${path.join(prefix, 'etc/oci-gpu/config.json5')}' --manifest '${m.file}' "$@"\n`);
  chmodSync(runtime, 0o755);
  const state = path.join(dir, 'daemon');
  mkdirSync(state);
  daemon = await startContainerd(state);
});

test.after.always('stop containerd and what it left', async () => {
  await daemon?.stop();
  // The runc shim of containerd 1.6 keeps runc's state under /run/containerd/runc/<namespace> whatever
  // the daemon's state folder: ours goes when it is empty (rmdir never takes anyone's files).
  try {
    rmdirSync(`/run/containerd/runc/${NAMESPACE}`);
  } catch {
    // not there, or not empty
  }
});

/** `ctr run --rm --runc-binary <wrapper> --env ... --rootfs <private copy> <id> /bin/sh -c SCRIPT`. */
function ctrRun(env: string[], script: string) {
  const rootfs = path.join(tempDir('ctr-rootfs'), 'rootfs');
  cpSync(TEST_ROOTFS, rootfs, { recursive: true, verbatimSymlinks: true });
  const envArgs = ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', ...env].flatMap((e) => ['--env', e]);
  return ctr(daemon!.socket, NAMESPACE, ['run', '--rm', '--runc-binary', runtime, ...envArgs, '--rootfs', rootfs, `oci-gpu-ctr-${++seq}`, '/bin/sh', '-c', script]);
}

const gpu = test.macro({
  async exec(t, index: '0' | '1') {
    const r = await ctrRun([`NVIDIA_VISIBLE_DEVICES=${index}`], PROBE);
    t.is(r.exitCode, 0, show(r));
    const probe = parseProbe(r.stdout);
    t.deepEqual([...probe.nodes.keys()].sort(), [`/dev/nvidia${MINOR[index]}`, ...SHARED_NODES].sort(), show(r));
    assertProbe(t, probe, show(r), { gpus: [MINOR[index]], libDir: '/usr/lib64', driver: '550.54.15' });
  },
  title: (_ = '', index: string) => `ctr run --runc-binary oci-gpu-runtime --env NVIDIA_VISIBLE_DEVICES=${index}: exactly GPU ${index}'s nodes (ENXIO), nvidia-smi through the ld cache${gate.why}`,
});
serial(gpu, '0');
serial(gpu, '1');

serial(`ctr run --runc-binary oci-gpu-runtime without a request: no GPU, the container runs${gate.why}`, async (t) => {
  const r = await ctrRun([], 'ls /dev; echo RAN');
  t.is(r.exitCode, 0, show(r));
  t.regex(r.stdout, /^RAN$/m);
  t.notRegex(r.stdout, /nvidia/, show(r));
});

serial(`ctr run with NVIDIA_VISIBLE_DEVICES=7 (no such GPU) fails, and no container or task is left${gate.why}`, async (t) => {
  const r = await ctrRun(['NVIDIA_VISIBLE_DEVICES=7'], 'echo RAN');
  t.not(r.exitCode, 0, show(r));
  t.notRegex(r.stdout, /RAN/);
  t.regex(r.stderr, /OCI runtime create failed/, show(r));
  t.is((await ctr(daemon!.socket, NAMESPACE, ['containers', 'list', '--quiet'])).stdout.trim(), '', 'a container was left');
  t.is((await ctr(daemon!.socket, NAMESPACE, ['tasks', 'list', '--quiet'])).stdout.trim(), '', 'a task was left');
});

// oci-gpu-runtime writes its one line to runc's --log file, where containerd reads a runtime's error.
gate.serial(`ctr's error for NVIDIA_VISIBLE_DEVICES=7 is our one line${gate.why}`, async (t) => {
  const r = await ctrRun(['NVIDIA_VISIBLE_DEVICES=7'], 'echo RAN');
  t.regex(r.stderr, /OCI runtime create failed: oci-gpu-runtime: NVIDIA_VISIBLE_DEVICES asks for GPU "7", which does not exist; this host has 2 GPUs/, show(r));
});
