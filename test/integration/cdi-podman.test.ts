import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { cliBinary, ENXIO, fixtureManifest, parseProbe, PROBE, show } from '../helpers/hook-env.js';
import { podmanRun, podmanTests, podmanUnavailableReason, run, RUNTIMES, type Runtime } from '../helpers/podman.js';
import { validateCdiSpec } from '../helpers/schema.js';

// The CDI path end to end: `oci-gpu cdi generate` (the shipped binary) writes a spec into
// /var/run/cdi (the folder the engines read), and Podman's own CDI support (`--device KIND=NAME`)
// applies it, its post-mount step being the host's sh + awk + nsenter + ldconfig (no oci-gpu
// binary runs at start). A kind of our own per run keeps it away from any real spec.
const KIND = `oci-gpu-test-${randomBytes(3).toString('hex')}.local/gpu`;
const SPEC = `/var/run/cdi/${KIND.replace(/[./]/g, '-')}.json`;
const { test, serial, why } = podmanTests();

test.before(async (t) => {
  if (why) return;
  t.is(podmanUnavailableReason(), undefined);
  const { root } = await fixtureManifest('rhel-2gpu');
  const r = await run(await cliBinary(), ['cdi', 'generate', '--root', root, '--kind', KIND, '--output', SPEC]);
  t.is(r.exitCode, 0, show(r));
});

test.after.always(() => fs.rmSync(SPEC, { force: true }));

const cdi = test.macro({
  async exec(t, runtime: Runtime, device: string, want: string[]) {
    const r = await podmanRun({ runtime, devices: [`${KIND}=${device}`], args: ['sh', '-c', PROBE] });
    t.is(r.exitCode, 0, show(r));
    const probe = parseProbe(r.stdout);
    t.deepEqual([...probe.nodes.keys()].filter((n) => /^\/dev\/nvidia\d+$/.test(n)).sort(), want);
    for (const [node, { open }] of probe.nodes) t.is(open, ENXIO, `${node} is allowed by the device cgroup`);
    t.true(probe.ldcache.has('libcuda.so.1') && probe.ldcache.has('libnvidia-ml.so.1'), 'the post-mount step ran: ' + probe.ldcacheLines.join(' | '));
    t.is(probe.smiExit, 0, probe.smi);
  },
  title: (_, runtime: Runtime, device: string) => `${runtime}: podman --device <kind>=${device} applies the CDI spec, its post-mount step included${why}`,
});

for (const runtime of RUNTIMES) {
  serial(cdi, runtime, '1', ['/dev/nvidia3']);
  serial(cdi, runtime, 'all', ['/dev/nvidia0', '/dev/nvidia3']);
}

serial(`the spec on disk is valid CDI, names devices by index and UUID, says NVIDIA_VISIBLE_DEVICES=void, and its hook runs no oci-gpu binary${why}`, async (t) => {
  const spec = JSON.parse(fs.readFileSync(SPEC, 'utf8'));
  t.deepEqual(validateCdiSpec(spec), []);
  t.is(spec.kind, KIND);
  const { data } = await fixtureManifest('rhel-2gpu');
  t.deepEqual(spec.devices.map((d: { name: string }) => d.name).sort(), ['0', '1', 'all', ...data.gpus.map((g) => g.uuid)].sort());
  t.true(spec.containerEdits.env.includes('NVIDIA_VISIBLE_DEVICES=void'));
  const hooks = spec.containerEdits.hooks as { path: string; args: string[] }[];
  t.deepEqual(hooks.map((h) => [h.path, h.args.slice(0, 2)]), [[data.tools.sh, ['sh', '-c']]]);
  t.false(JSON.stringify(hooks).includes('oci-gpu-hook'));
  t.is(hooks[0]!.args[11], '/run/oci-gpu/nvidia-params', 'it names the masked params the watcher keeps beside the configured manifest');
});

serial(`crun: a UUID name gets that GPU only${why}`, async (t) => {
  const { data } = await fixtureManifest('rhel-2gpu');
  const r = await podmanRun({ runtime: 'crun', devices: [`${KIND}=${data.gpus[1]!.uuid}`], args: ['sh', '-c', 'ls /dev | grep -x "nvidia[0-9]*"'] });
  t.is(r.exitCode, 0, show(r));
  t.is(r.stdout.trim(), 'nvidia3');
});
