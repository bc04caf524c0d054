// Rootless Podman and user namespaces (docs/rootless.md). An unprivileged test user (created here
// when missing, with subordinate id ranges; left in place, like the packages setup-host.sh installs)
// runs Podman with --hooks-dir pointing at a readable temp hooks dir and the h200 fixture manifest:
// - precreate works with crun and runc, with the default rootless user namespace and with a nested
//   one (--userns=keep-id): in a user namespace the runtime cannot mknod, so it bind-mounts the
//   host's node at the same path; rootless Podman on cgroup v1 has no device cgroup at all, so the
//   open reaches the (absent) driver: ENXIO. The ld cache step (a createContainer hook for the
//   writable rootfs) works inside the user namespace (the runtime runs it as the container's root).
// - the legacy createRuntime stage is refused in one line naming precreate and CDI, rootless or for
//   a rootful container with its own user namespace (--uidmap), where it failed before with
//   "internal error: EACCES ... devices.allow" (rootless) or a mknod EOVERFLOW (--uidmap).
// The fixture's nodes live under its tree, not in /dev, and a runtime in a user namespace binds
// /dev/<node> of the host: each run gets a private mount namespace whose /dev also holds fake
// nodes (the planned ones, mknod'ed on a tmpfs) — the host's /dev is never touched.
// Needs root (to create the user and the private /dev), podman, newuidmap/newgidmap.
import test, { type ExecutionContext } from 'ava';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { refuseInUserNamespace } from '../../src/hook/legacy.js';
import { RequestError } from '../../src/errors.js';
import { ENXIO, fixtureManifest, hookBinary, parseProbe, PROBE, show, tempDir, writeHooksDir, type HooksDir } from '../helpers/hook-env.js';
import { missingBinary, need } from '../helpers/needs.js';
import { PODMAN, podmanTests, run, RUNTIMES, TEST_IMAGE, type RunResult, type Runtime } from '../helpers/podman.js';

const USER = 'ocigpu-rootless';
/** Used only when useradd gave the user no subordinate ids: far from the usual 100000+ ranges. */
const SUB_RANGE = '1879048192-1879113727';

// Root (to create the user and the private /dev), podman, and the user namespace tools.
const gate = podmanTests(need(() => missingBinary(['/usr/bin/newuidmap', '/usr/bin/newgidmap', '/usr/bin/unshare', '/usr/sbin/runuser', '/usr/sbin/useradd'], 'apt-get install uidmap util-linux passwd')));
const { serial, why } = gate;

// GPU 0 of the h200 fixture host with the default capabilities (test/fixtures/hosts/h200/README.md):
// the nodes written out, not planned by the code under test.
const GPU0_NODES = [
  { path: '/dev/nvidia0', major: 195, minor: 0 },
  { path: '/dev/nvidiactl', major: 195, minor: 255 },
  { path: '/dev/nvidia-uvm', major: 238, minor: 0 },
  { path: '/dev/nvidia-uvm-tools', major: 238, minor: 1 },
];

interface User {
  uid: number;
  home: string;
  xdg: string;
}

let userReady: Promise<User> | undefined;
/** The test user with subordinate ids, a runtime dir, and the test image in its storage. */
function rootlessUser(): Promise<User> {
  userReady ??= (async () => {
    if ((await run('/usr/bin/getent', ['passwd', USER])).exitCode !== 0) {
      const r = await run('/usr/sbin/useradd', ['-m', '-s', '/bin/sh', '-c', 'oci-gpu rootless tests', USER]);
      if (r.exitCode !== 0) throw new Error(`useradd: ${show(r)}`);
    }
    for (const [file, flag] of [['/etc/subuid', '--add-subuids'], ['/etc/subgid', '--add-subgids']] as const) {
      const has = existsSync(file) && readFileSync(file, 'utf8').split('\n').some((l) => l.startsWith(`${USER}:`));
      if (!has) {
        const r = await run('/usr/sbin/usermod', [flag, SUB_RANGE, USER]);
        if (r.exitCode !== 0) throw new Error(`usermod ${flag}: ${show(r)}`);
      }
    }
    const [, , uid, , , home] = (await run('/usr/bin/getent', ['passwd', USER])).stdout.trim().split(':');
    const user = { uid: Number(uid), home: home!, xdg: `/tmp/oci-gpu-rootless-run-${uid}` };
    mkdirSync(user.xdg, { recursive: true, mode: 0o700 });
    await run('/bin/chown', [`${USER}:`, user.xdg]);
    chmodSync(user.xdg, 0o700);
    if ((await asUser(user, ['podman', 'image', 'exists', TEST_IMAGE])).exitCode !== 0) {
      const tar = path.join(tempDir('rootless-image'), 'image.tar');
      const save = await run(PODMAN, ['save', '-o', tar, TEST_IMAGE], { timeout: 120_000 });
      if (save.exitCode !== 0) throw new Error(`podman save: ${show(save)}`);
      chmodSync(tar, 0o644);
      const load = await asUser(user, ['podman', 'load', '-i', tar], { timeoutMs: 180_000 });
      if (load.exitCode !== 0) throw new Error(`podman load as ${USER}: ${show(load)}`);
    }
    return user;
  })();
  return userReady;
}

/** Runs argv as the test user with a clean environment (its own HOME and XDG_RUNTIME_DIR). */
function asUser(user: User, argv: string[], o: { timeoutMs?: number } = {}): Promise<RunResult> {
  return run('/usr/sbin/runuser', ['-u', USER, '--', ...userEnv(user), ...argv], { timeout: o.timeoutMs ?? 120_000, cwd: '/tmp' });
}

function userEnv(user: User): string[] {
  return ['/usr/bin/env', '-i', `HOME=${user.home}`, `XDG_RUNTIME_DIR=${user.xdg}`, 'PATH=/usr/sbin:/usr/bin:/sbin:/bin'];
}

/**
 * A script that runs its arguments in the private mount namespace it is started in (unshare
 * --mount --propagation private) after giving it a /dev of its own: a tmpfs holding binds of
 * everything in the host's /dev plus the fake nodes.
 */
function fakeDevScript(nodes: { path: string; major: number; minor: number; fileMode?: number }[]): string {
  const file = path.join(tempDir('fakedev'), 'fakedev.sh');
  const mknods = nodes.map((n) => {
    const rel = n.path.replace(/^\/dev\//, '');
    return `mkdir -p "$S/$(dirname '${rel}')"; mknod -m ${(n.fileMode ?? 0o666).toString(8)} "$S/${rel}" c ${n.major} ${n.minor}`;
  });
  writeFileSync(
    file,
    [
      '#!/bin/sh',
      'set -e',
      'S=$(mktemp -d /tmp/oci-gpu-fakedev.XXXXXX)',
      'mount -t tmpfs -o mode=755 tmpfs "$S"',
      'for e in /dev/* /dev/.[!.]*; do',
      '  [ -e "$e" ] || [ -L "$e" ] || continue',
      '  n=${e#/dev/}',
      '  if [ -L "$e" ]; then cp -P "$e" "$S/$n"',
      '  elif [ -d "$e" ]; then mkdir "$S/$n"; mount --rbind "$e" "$S/$n"',
      '  else : >"$S/$n"; mount --bind "$e" "$S/$n"; fi',
      'done',
      ...mknods,
      'mount --move "$S" /dev',
      'rmdir "$S" 2>/dev/null || true',
      'exec "$@"',
      '',
    ].join('\n'),
  );
  chmodSync(file, 0o755);
  return file;
}

interface Setup {
  user: User;
  manifest: string;
  fakedev: string;
  want: string[];
}

let setupReady: Promise<Setup> | undefined;
function setup(): Promise<Setup> {
  setupReady ??= (async () => {
    await hookBinary();
    const m = await fixtureManifest('h200');
    return { user: await rootlessUser(), manifest: m.file, fakedev: fakeDevScript(GPU0_NODES), want: GPU0_NODES.map((n) => n.path).sort() };
  })();
  return setupReady;
}

/** `podman run` (as the test user, or as root) in a private mount namespace with the fake /dev. */
async function podmanWithFakeDev(s: Setup, as: 'user' | 'root', args: string[]): Promise<RunResult> {
  // The user's pause process holds the mount namespace its containers start from: stop it first, so
  // the next one starts in this namespace and sees the fake nodes.
  const inner = as === 'user' ? ['/usr/sbin/runuser', '-u', USER, '--', ...userEnv(s.user), 'sh', '-c', 'podman system migrate >/dev/null 2>&1; exec "$@"', 'sh', 'podman', ...args] : [PODMAN, ...args];
  return run('/usr/bin/unshare', ['--mount', '--propagation', 'private', s.fakedev, ...inner], { timeout: 180_000, cwd: '/tmp' });
}

/** A hooks dir the test user can read, whose wrapper logs (runs.log, stderr.log) it can append to. */
async function readableHooks(manifest: string, stage?: 'createRuntime'): Promise<HooksDir> {
  const hooks = await writeHooksDir({ manifest, wrap: true, files: ['oci-gpu.json'], ...(stage ? { stage } : {}) });
  for (const f of ['runs.log', 'stderr.log']) {
    const file = path.join(path.dirname(hooks.dir), f);
    writeFileSync(file, '');
    chmodSync(file, 0o666);
  }
  return hooks;
}

const PROBE_USERNS = `${PROBE}\necho "--- uid_map"; cat /proc/self/uid_map`;

function userNamespaceOf(stdout: string): string {
  return stdout.split('--- uid_map\n')[1]?.trim().replace(/\s+/g, ' ') ?? '';
}

function assertGpu(t: ExecutionContext, r: RunResult, hooks: HooksDir, want: string[]): void {
  const ctx = `${show(r)}\nhook stderr: ${hooks.stderr()}`;
  t.is(r.exitCode, 0, ctx);
  t.is(hooks.runs().length, 1, `the hook ran ${hooks.runs().length} times\n${ctx}`);
  const probe = parseProbe(r.stdout.split('--- uid_map')[0]!);
  t.deepEqual([...probe.nodes.keys()].sort(), want, ctx);
  t.is(probe.nodes.get('/dev/nvidia0')?.dev, '195:0', ctx);
  for (const [p, n] of probe.nodes) t.is(n.open, ENXIO, `open ${p}\n${ctx}`);
  for (const s of ['libcuda.so.1', 'libnvidia-ml.so.1']) t.true(probe.ldcacheLines.some((l) => l.startsWith(`${s} (libc6,x86-64) => /usr/local/nvidia/lib64/`)), `ld cache lacks ${s}\n${ctx}`);
  t.is(probe.smiExit, 0, ctx);
  t.not(userNamespaceOf(r.stdout), '0 0 4294967295', 'the container is not in a user namespace: this would not test rootless');
}

const rootlessPrecreate = test.macro({
  async exec(t, runtime: Runtime, userns: 'default' | 'keep-id') {
    const s = await setup();
    const hooks = await readableHooks(s.manifest);
    const r = await podmanWithFakeDev(s, 'user', [
      '--runtime', runtime, '--hooks-dir', hooks.dir, 'run', '--rm', '--network', 'none', '--pull', 'never',
      ...(userns === 'keep-id' ? ['--userns=keep-id'] : []),
      '--annotation', 'oci-gpu/devices=0', TEST_IMAGE, 'sh', '-c', PROBE_USERNS,
    ]);
    assertGpu(t, r, hooks, s.want);
    t.log(`${runtime} rootless${userns === 'keep-id' ? ' --userns=keep-id' : ''}: container uid_map "${userNamespaceOf(r.stdout)}"; nodes ${s.want.join(' ')} open with ENXIO`);
  },
  title: (_ = '', runtime: Runtime, userns: string) =>
    `rootless ${runtime}${userns === 'keep-id' ? ' --userns=keep-id' : ''}: precreate gives GPU 0 (bound host nodes, ENXIO), driver files, ld cache from inside the user namespace, nvidia-smi${why}`,
});

/** The legacy stage must stop the start with one line saying why and what works. */
function assertLegacyRefused(t: ExecutionContext, r: RunResult, hooks: HooksDir, kind: RegExp): void {
  const ctx = `${show(r)}\nhook stderr: ${hooks.stderr()}`;
  t.not(r.exitCode, 0, `the container started\n${ctx}`);
  const lines = hooks.stderr().split('\n').filter(Boolean);
  t.is(lines.length, 1, ctx);
  t.regex(lines[0] ?? '', /^oci-gpu-hook: createRuntime: /, ctx);
  t.regex(lines[0] ?? '', kind, ctx);
  t.regex(lines[0] ?? '', /use the precreate hook \(hooks\.d\/oci-gpu\.json\) or the CDI spec/, ctx);
  t.notRegex(hooks.stderr(), /internal error/, ctx);
}

const rootlessLegacy = test.macro({
  async exec(t, runtime: Runtime) {
    const s = await setup();
    const hooks = await readableHooks(s.manifest, 'createRuntime');
    const r = await podmanWithFakeDev(s, 'user', [
      '--runtime', runtime, '--hooks-dir', hooks.dir, 'run', '--rm', '--network', 'none', '--pull', 'never',
      '--annotation', 'oci-gpu/devices=0', TEST_IMAGE, 'true',
    ]);
    assertLegacyRefused(t, r, hooks, /the hook runs in a user namespace \(rootless Podman\?\)/);
  },
  title: (_ = '', runtime: Runtime) => `rootless ${runtime}: the legacy createRuntime stage refuses in one line naming precreate and CDI${why}`,
});

const rootfulUserns = test.macro({
  async exec(t, runtime: Runtime) {
    const s = await setup();
    const userns = ['--uidmap', '0:300000:65536', '--gidmap', '0:300000:65536'];
    const pre = await readableHooks(s.manifest);
    const ok = await podmanWithFakeDev(s, 'root', [
      '--runtime', runtime, '--hooks-dir', pre.dir, 'run', '--rm', '--network', 'none', '--pull', 'never', ...userns,
      '--annotation', 'oci-gpu/devices=0', TEST_IMAGE, 'sh', '-c', PROBE_USERNS,
    ]);
    assertGpu(t, ok, pre, s.want);
    const legacy = await readableHooks(s.manifest, 'createRuntime');
    const refused = await podmanWithFakeDev(s, 'root', [
      '--runtime', runtime, '--hooks-dir', legacy.dir, 'run', '--rm', '--network', 'none', '--pull', 'never', ...userns,
      '--annotation', 'oci-gpu/devices=0', TEST_IMAGE, 'true',
    ]);
    assertLegacyRefused(t, refused, legacy, /the container has its own user namespace/);
  },
  title: (_ = '', runtime: Runtime) => `rootful ${runtime} with --uidmap (a user namespace): precreate works; the legacy stage refuses in one line${why}`,
});

for (const runtime of RUNTIMES) {
  serial(rootlessPrecreate, runtime, 'default');
  serial(rootlessPrecreate, runtime, 'keep-id');
  serial(rootlessLegacy, runtime);
  serial(rootfulUserns, runtime);
}

test.after.always('stop the test user\'s pause process (it holds a private /dev)', async () => {
  if (gate.skipped || !userReady) return;
  const user = await userReady.catch(() => undefined);
  if (user) await asUser(user, ['podman', 'system', 'migrate']);
});

// The decision itself, on plain values (no root needed).

const INITIAL = '         0          0 4294967295\n';
const ROOTLESS = '         0       1001          1\n         1     100000      65536\n';

test('refuseInUserNamespace: the initial user namespace and no user namespace in the config: the legacy stage goes on', (t) => {
  t.notThrows(() => refuseInUserNamespace(INITIAL, [{ type: 'pid' }, { type: 'mount' }], 'createRuntime'));
  t.notThrows(() => refuseInUserNamespace('', [], 'prestart'), 'an unreadable uid_map is taken as the initial namespace');
});

test('refuseInUserNamespace: rootless (the hook in a user namespace) or a container with its own: RequestError naming precreate and CDI', (t) => {
  const rootless = t.throws(() => refuseInUserNamespace(ROOTLESS, [], 'createRuntime'), { instanceOf: RequestError });
  t.regex(rootless?.message ?? '', /^createRuntime: the hook runs in a user namespace \(rootless Podman\?\), where a createRuntime hook cannot create or allow device nodes: use the precreate hook/);
  const own = t.throws(() => refuseInUserNamespace(INITIAL, [{ type: 'user' }, { type: 'mount' }], 'prestart'), { instanceOf: RequestError });
  t.regex(own?.message ?? '', /^prestart: the container has its own user namespace, .* or the CDI spec/);
});
