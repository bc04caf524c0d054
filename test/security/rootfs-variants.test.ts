// Unusual and hostile rootfs layouts, writable and read-only (`--read-only`, root.readonly): images
// without /etc/ld.so.conf, without /usr/lib64 (where rhel-2gpu's libraries go), a merged-/usr
// layout (/lib, /lib64, /bin, /sbin as links into /usr), an Alpine-like one without ld.so.cache or
// ld.so.conf, one without /etc at all, and one whose ld.so.conf includes itself and lists folders
// that climb out of the rootfs to a host canary. Each is a copy of the test rootfs (busybox + glibc)
// with things moved or deleted. Every start path must give working GPUs (the fake nvidia-smi loads
// libnvidia-ml.so.1 through the ld cache our step writes) or not start with a clear error — never
// a half-set-up container — and the canary stays as it was. Needs root.
import test from 'ava';
import { fixtureManifest, hookBinary } from '../helpers/hook-env.js';
import { climbingLink, gateOf, gpuWorks, limiter, makeCanary, PODMAN_GATE, START_PATHS, startContainer, type RootfsEdit, type StartPath } from '../helpers/hostile.js';
import { podmanUnavailableReason, RUNTIMES } from '../helpers/podman.js';

const slot = limiter(6);

test.before('environment, binary, fixtures', async (t) => {
  if (PODMAN_GATE.skipped) return;
  t.is(podmanUnavailableReason(), undefined);
  await hookBinary();
  await Promise.all([fixtureManifest('h200'), fixtureManifest('rhel-2gpu')]);
});

interface Variant {
  title: string;
  host: 'h200' | 'rhel-2gpu';
  edits: (canary: string) => RootfsEdit[];
  /** False when a clear refusal is as good as working (nowhere to write the ld cache). */
  mustWork: boolean;
}

const MERGED_USR: RootfsEdit[] = ['lib', 'lib64', 'bin', 'sbin'].flatMap((d): RootfsEdit[] => [
  { merge: `/${d}`, into: `/usr/${d}` },
  { link: `/${d}`, to: `usr/${d}` },
]);

const VARIANTS: Variant[] = [
  { title: 'no /etc/ld.so.conf or ld.so.conf.d', host: 'h200', edits: () => [{ remove: '/etc/ld.so.conf' }, { remove: '/etc/ld.so.conf.d' }], mustWork: true },
  { title: 'no /usr/lib64 (rhel-2gpu libraries go there)', host: 'rhel-2gpu', edits: () => [{ remove: '/usr/lib64' }], mustWork: true },
  { title: 'merged /usr: /lib, /lib64, /bin, /sbin -> usr/…', host: 'rhel-2gpu', edits: () => MERGED_USR, mustWork: true },
  { title: 'Alpine-like: no ld.so.cache, ld.so.conf or ld.so.conf.d', host: 'h200', edits: () => [{ remove: '/etc/ld.so.cache' }, { remove: '/etc/ld.so.conf' }, { remove: '/etc/ld.so.conf.d' }], mustWork: true },
  { title: 'no /etc at all', host: 'h200', edits: () => [{ remove: '/etc' }], mustWork: false },
  {
    title: 'ld.so.conf that includes itself and lists folders climbing to a host canary',
    host: 'h200',
    edits: (c) => [{ file: '/etc/ld.so.conf', content: `include /etc/ld.so.conf\ninclude /etc/ld.so.conf.d/*.conf\n/${climbingLink(c)}/lib64\n${c}/lib64\n` }],
    mustWork: true,
  },
];

const variant = test.macro({
  async exec(t, v: Variant, startPath: StartPath, readOnly: boolean) {
    const manifest = (await fixtureManifest(v.host)).file;
    const annotations = { 'oci-gpu/devices': v.host === 'rhel-2gpu' ? '1' : 'all' };
    for (const runtime of RUNTIMES) {
      const canary = makeCanary();
      const before = canary.snapshot();
      const s = await slot(() => startContainer({ path: startPath, runtime, manifest, edits: v.edits(canary.dir), annotations, readOnly }));
      t.deepEqual(canary.snapshot(), before, `${runtime}: the canary changed\n${s.ctx}`);
      if (gpuWorks(s)) {
        t.log(`${runtime}: works`);
        continue;
      }
      t.false(v.mustWork, `${runtime}: the container should get working GPUs\n${s.ctx}`);
      t.false(s.ran, `${runtime}: the container ran without working GPUs\n${s.ctx}`);
      t.not(s.r.exitCode, 0, s.ctx);
      t.log(`${runtime}: refused: ${(s.hookErr.trim() || s.r.stderr.trim()).split('\n').filter(Boolean).at(-1)?.slice(0, 300)}`);
    }
  },
  title: (_ = '', v: Variant, startPath: StartPath, readOnly: boolean) => `${startPath}${readOnly ? ' read-only' : ''}: image with ${v.title}: working GPUs or a clear error${gateOf(startPath).why}`,
});

for (const v of VARIANTS) {
  for (const p of START_PATHS) {
    gateOf(p).test(variant, v, p, false);
    gateOf(p).test(variant, v, p, true);
  }
}
