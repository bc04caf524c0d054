import test from 'ava';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ENXIO, fixtureManifest, hookBinary, parseProbe, PROBE, show } from '../helpers/hook-env.js';
import { podmanAvailable, podmanRun, run, RUNTIMES, type Runtime } from '../helpers/podman.js';
import { validateCdiSpec } from '../helpers/schema.js';
import { REPO_ROOT } from '../helpers/paths.js';

// The CDI path end to end: `oci-gpu cdi generate` writes a spec into /var/run/cdi (the folder the
// engines read), and Podman's own CDI support (`--device KIND=NAME`) applies it, its ld cache step
// being `oci-gpu-hook ldcache`. A kind of our own per run keeps it away from any real spec.
const KIND = `oci-gpu-test-${randomBytes(3).toString('hex')}.local/gpu`;
const SPEC = `/var/run/cdi/${KIND.replace(/[./]/g, '-')}.json`;

test.before(async (t) => {
  if (!podmanAvailable()) return;
  const hook = await hookBinary();
  const { root } = await fixtureManifest('rhel-2gpu');
  const r = await run(process.execPath, [path.join(REPO_ROOT, 'bin/oci-gpu'), 'cdi', 'generate', '--root', root, '--kind', KIND, '--hook-path', hook, '--output', SPEC]);
  t.is(r.exitCode, 0, show(r));
});

test.after.always(() => fs.rmSync(SPEC, { force: true }));

const cdi = test.macro({
  async exec(t, runtime: Runtime, device: string, want: string[]) {
    if (!podmanAvailable()) return t.pass('skipped: needs root and podman');
    const r = await podmanRun({ runtime, devices: [`${KIND}=${device}`], args: ['sh', '-c', PROBE] });
    t.is(r.exitCode, 0, show(r));
    const probe = parseProbe(r.stdout);
    t.deepEqual([...probe.nodes.keys()].filter((n) => /^\/dev\/nvidia\d+$/.test(n)).sort(), want);
    for (const [node, { open }] of probe.nodes) t.is(open, ENXIO, `${node} is allowed by the device cgroup`);
    t.true(probe.ldcache.has('libcuda.so.1') && probe.ldcache.has('libnvidia-ml.so.1'), 'the ldcache step ran: ' + probe.ldcacheLines.join(' | '));
    t.is(probe.smiExit, 0, probe.smi);
  },
  title: (_, runtime: Runtime, device: string) => `${runtime}: podman --device <kind>=${device} applies the CDI spec, ld cache step included`,
});

for (const runtime of RUNTIMES) {
  test.serial(cdi, runtime, '1', ['/dev/nvidia3']);
  test.serial(cdi, runtime, 'all', ['/dev/nvidia0', '/dev/nvidia3']);
}

test.serial('the spec on disk is valid CDI, names devices by index and UUID, and says NVIDIA_VISIBLE_DEVICES=void', async (t) => {
  if (!podmanAvailable()) return t.pass('skipped: needs root and podman');
  const spec = JSON.parse(fs.readFileSync(SPEC, 'utf8'));
  t.deepEqual(validateCdiSpec(spec), []);
  t.is(spec.kind, KIND);
  const { data } = await fixtureManifest('rhel-2gpu');
  t.deepEqual(spec.devices.map((d: { name: string }) => d.name).sort(), ['0', '1', 'all', ...data.gpus.map((g) => g.uuid)].sort());
  t.true(spec.containerEdits.env.includes('NVIDIA_VISIBLE_DEVICES=void'));
});

test.serial('crun: a UUID name gets that GPU only', async (t) => {
  if (!podmanAvailable()) return t.pass('skipped: needs root and podman');
  const { data } = await fixtureManifest('rhel-2gpu');
  const r = await podmanRun({ runtime: 'crun', devices: [`${KIND}=${data.gpus[1]!.uuid}`], args: ['sh', '-c', 'ls /dev | grep -x "nvidia[0-9]*"'] });
  t.is(r.exitCode, 0, show(r));
  t.is(r.stdout.trim(), 'nvidia3');
});
