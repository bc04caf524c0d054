// CVE-2024-0132 class: a hostile image whose folders are symlinks (absolute, or `../` climbing out
// of the rootfs) pointing at a host folder, exactly where the driver files, binaries, device nodes
// and the ld cache go. Every start path runs on a private copy of the test rootfs: precreate (Podman,
// crun and runc: the runtime makes the targets, our createRuntime step refreshes the ld cache),
// oci-gpu-runtime on a bare bundle, the legacy createRuntime stage (the hook makes the targets
// itself) and the CDI path (the runtime mounts, `oci-gpu-hook ldcache` refreshes the cache).
// After each start nothing outside the rootfs may have been created, changed or mounted on the
// host: the canary folder's listing, modes, inodes and mtimes; the host mount table at the canary;
// the host's /etc/ld.so.cache. The container either works (the redirection stays inside its
// rootfs) or does not start and says why; it never runs half-set-up. Needs root.
import test from 'ava';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { fixtureManifest, hookBinary } from '../helpers/hook-env.js';
import {
  climbingLink,
  gateOf,
  gpuWorks,
  hostLdCacheFingerprint,
  hostMountsUnder,
  limiter,
  makeCanary,
  PODMAN_GATE,
  relocatedManifest,
  START_PATHS,
  startContainer,
  treeChanges,
  type RootfsEdit,
  type StartPath,
} from '../helpers/hostile.js';
import { podmanUnavailableReason, RUNTIMES, type Runtime } from '../helpers/podman.js';

const slot = limiter(6);

test.before('environment, binary, fixtures', async (t) => {
  if (PODMAN_GATE.skipped) return;
  t.is(podmanUnavailableReason(), undefined);
  await hookBinary();
  await Promise.all([fixtureManifest('h200'), fixtureManifest('rhel-2gpu')]);
});

type Host = 'h200' | 'rhel-2gpu' | 'h200-debian';

/**
 * What a start must do, found on this machine (crun 1.8.1, runc 1.1.5, Podman 4.3.1):
 * - dangling: the link resolves inside the rootfs to a folder that does not exist there. runc
 *   creates it inside the rootfs and works; crun refuses (`openat2 …: No such file or directory`);
 *   the legacy stage creates it inside the rootfs and works with both.
 * - dev: as dangling, but precreate and oci-gpu-runtime refuse (crun 1.8.1 under Podman created the
 *   GPU nodes through the link, on the host).
 * - etc: as dangling, but Podman itself refuses (`open /etc in the container`).
 * - loop: the link points at itself once resolved inside the rootfs: every path refuses.
 * - works: everything works (ldconfig replaces a linked ld.so.cache inside the rootfs).
 */
type Expect = 'dangling' | 'dev' | 'etc' | 'loop' | 'works';

function expected(e: Expect, startPath: StartPath, runtime: Runtime): 'works' | 'refused' {
  if (e === 'works') return 'works';
  if (e === 'loop') return 'refused';
  if (e === 'dev' && (startPath === 'precreate' || startPath === 'wrapper')) return 'refused';
  if (e === 'etc' && startPath === 'precreate') return 'refused';
  if (startPath === 'legacy' && e !== 'dev') return 'works';
  return runtime === 'runc' ? 'works' : 'refused';
}

interface EscapeCase {
  /** Which folder of the image is a link, and to what. */
  title: string;
  host: Host;
  edits: (canary: string) => RootfsEdit[];
  /** Where in the container the redirected files must be found when it works. */
  insideAt?: (canary: string) => string;
  expect: Expect;
}

/** The h200 fixture with its libraries under /usr/lib/x86_64-linux-gnu, as a Debian/Ubuntu host lays them out. */
async function manifestFor(host: Host): Promise<string> {
  if (host === 'h200-debian') return relocatedManifest(await fixtureManifest('h200'), '/usr/local/nvidia/lib64', '/usr/lib/x86_64-linux-gnu');
  return (await fixtureManifest(host)).file;
}

const CASES: EscapeCase[] = [
  { title: '/usr/local/nvidia -> canary (absolute)', host: 'h200', edits: (c) => [{ link: '/usr/local/nvidia', to: c }], insideAt: (c) => `${c}/lib64`, expect: 'dangling' },
  { title: '/usr/local/nvidia -> ../../…/canary', host: 'h200', edits: (c) => [{ link: '/usr/local/nvidia', to: climbingLink(c) }], insideAt: (c) => `${c}/lib64`, expect: 'dangling' },
  { title: '/usr/local/nvidia/lib64 -> canary/lib64 (absolute)', host: 'h200', edits: (c) => [{ link: '/usr/local/nvidia/lib64', to: `${c}/lib64` }], insideAt: (c) => `${c}/lib64`, expect: 'dangling' },
  { title: '/usr/lib/x86_64-linux-gnu -> canary (absolute)', host: 'h200-debian', edits: (c) => [{ link: '/usr/lib/x86_64-linux-gnu', to: c }], insideAt: (c) => c, expect: 'dangling' },
  { title: '/usr/lib/x86_64-linux-gnu -> ../../…/canary', host: 'h200-debian', edits: (c) => [{ link: '/usr/lib/x86_64-linux-gnu', to: climbingLink(c) }], insideAt: (c) => c, expect: 'dangling' },
  { title: '/usr/bin -> canary/bin (absolute)', host: 'h200', edits: (c) => [{ link: '/usr/bin', to: `${c}/bin` }], insideAt: (c) => `${c}/bin`, expect: 'dangling' },
  { title: '/usr/bin -> ../../…/canary/bin', host: 'h200', edits: (c) => [{ link: '/usr/bin', to: climbingLink(`${c}/bin`) }], insideAt: (c) => `${c}/bin`, expect: 'dangling' },
  { title: '/dev -> canary (absolute)', host: 'h200', edits: (c) => [{ link: '/dev', to: c }], expect: 'dev' },
  { title: '/dev -> ../../…/canary', host: 'h200', edits: (c) => [{ link: '/dev', to: climbingLink(c) }], expect: 'dev' },
  // rhel-2gpu mounts into /etc/OpenCL/vendors and its ld cache step writes /etc/ld.so.cache.
  { title: '/etc -> canary (absolute)', host: 'rhel-2gpu', edits: (c) => [{ link: '/etc', to: c }], expect: 'etc' },
  { title: '/etc -> ../../…/canary', host: 'rhel-2gpu', edits: (c) => [{ link: '/etc', to: climbingLink(c) }], expect: 'etc' },
  { title: '/etc -> /etc (the host /etc, absolute)', host: 'rhel-2gpu', edits: () => [{ link: '/etc', to: '/etc' }], expect: 'loop' },
  { title: '/etc -> ../../…/etc (the host /etc)', host: 'rhel-2gpu', edits: () => [{ link: '/etc', to: climbingLink('/etc') }], expect: 'loop' },
  { title: '/etc/ld.so.cache -> canary/ld.so.cache (absolute)', host: 'h200', edits: (c) => [{ link: '/etc/ld.so.cache', to: `${c}/ld.so.cache` }], expect: 'works' },
  { title: '/etc/ld.so.cache -> /etc/ld.so.cache (the host cache)', host: 'h200', edits: () => [{ link: '/etc/ld.so.cache', to: '/etc/ld.so.cache' }], expect: 'works' },
];

const escape = test.macro({
  async exec(t, c: EscapeCase, startPath: StartPath) {
    const manifest = await manifestFor(c.host);
    for (const runtime of RUNTIMES) {
      const canary = makeCanary();
      const before = { canary: canary.snapshot(), ldcache: hostLdCacheFingerprint() };
      const annotations = c.host === 'rhel-2gpu' ? { 'oci-gpu/devices': '1' } : { 'oci-gpu/devices': 'all' };
      const s = await slot(() => startContainer({ path: startPath, runtime, manifest, edits: c.edits(canary.dir), annotations }));
      const changes = treeChanges(before.canary, canary.snapshot());
      if (changes.length) {
        // Some runtimes write through an image's /dev link by themselves (see SECURITY.md): the same
        // start without any GPU shows what the runtime alone does; oci-gpu may add nothing to it.
        const control = makeCanary();
        const controlBefore = control.snapshot();
        await slot(() => startContainer({ path: startPath, runtime, manifest, edits: c.edits(control.dir), noGpu: true }));
        const runtimeOwn = treeChanges(controlBefore, control.snapshot());
        t.deepEqual(changes.filter((x) => !runtimeOwn.includes(x)), [], `${runtime}: the GPU start changed the canary beyond what ${runtime} alone does\n${s.ctx}`);
        t.log(`${runtime}: ${runtime} itself (no GPU, no hook) writes through the link: ${runtimeOwn.join(', ')}`);
      } else t.deepEqual(canary.snapshot(), before.canary, `${runtime}: the canary folder changed\n${s.ctx}`);
      t.deepEqual(hostMountsUnder(canary.dir), [], `${runtime}: a host mount appeared at the canary`);
      t.is(hostLdCacheFingerprint(), before.ldcache, `${runtime}: the host's /etc/ld.so.cache changed`);
      const want = expected(c.expect, startPath, runtime);
      if (want === 'works') {
        t.true(gpuWorks(s), `${runtime}: the container should work: the link resolves inside the rootfs\n${s.ctx}`);
        // The redirected files are inside this container's rootfs.
        const inside = c.insideAt?.(canary.dir);
        if (inside && startPath !== 'legacy') t.true(existsSync(path.join(s.rootfs, inside)), `${runtime}: ${inside} not made inside the rootfs\n${s.ctx}`);
      } else {
        t.false(s.ran, `${runtime}: the container ran\n${s.ctx}`);
        t.not(s.r.exitCode, 0, s.ctx);
        if (c.expect === 'dev' && (startPath === 'precreate' || startPath === 'wrapper')) {
          const lines = s.hookErr.split('\n').filter(Boolean);
          t.is(lines.length, 1, `${runtime}: the refusal is not one line\n${s.ctx}`);
          t.regex(lines[0] ?? '', /^oci-gpu-(hook|runtime): the container image's "\/dev" is a symlink \(to ".*"\): refusing to add GPU device nodes/, s.ctx);
          if (s.configBefore) t.true(s.configAfter?.equals(s.configBefore), `${runtime}: the bundle's config.json changed`);
        }
        if (startPath === 'legacy' && s.hookErr) t.is(s.hookErr.split('\n').filter(Boolean).length, 1, `${runtime}: the hook's refusal is not one line\n${s.ctx}`);
        const said = (s.hookErr.trim() || s.r.stderr.trim()).split('\n').filter(Boolean).at(-1) ?? '';
        t.log(`${runtime}: refused: ${said.slice(0, 300)}`);
      }
    }
  },
  title: (_ = '', c: EscapeCase, startPath: StartPath) => `${startPath}: image with ${c.title}: nothing outside the rootfs is touched${gateOf(startPath).why}`,
});

for (const c of CASES) {
  for (const p of START_PATHS) gateOf(p).test(escape, c, p);
}

