// Fault: the device cgroup of a running GPU container is rewritten the way `systemctl daemon-reload`
// does it (systemd re-applies each unit's device policy: deny everything, then allow what the unit
// says, i.e. what the runtime put there from the spec), or the runtime re-applies its own rules
// (`crun update --resources` with the container's own linux.resources; `runc update`). Shown on this
// machine's cgroup v1 (devices controller), with Podman and the h200 fixture host:
// - precreate (devices + allow rules in the spec, what the runtime wrapper and CDI also give): the
//   rewrite keeps the GPU: /dev/nvidia0 still opens with ENXIO (allowed; no driver behind the fake node).
// - the legacy createRuntime stage (the hook writes devices.allow out of band): the rewrite drops the
//   hook's rule and the open gives EPERM — the "Failed to initialize NVML: Unknown Error" after a
//   daemon-reload that NVIDIA's legacy hook users hit.
// The opens run from inside the running container (podman exec). Needs root and scripts/setup-host.sh.
import test, { type ExecutionContext } from 'ava';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { devicesCgroupPath } from '../../src/hook/legacy.js';
import type { OciDeviceCgroup } from '../../src/model/oci.js';
import { ENXIO, EPERM, fixtureManifest, hookBinary, RUNTIME_PATHS, show, tempDir, writeHooksDir } from '../helpers/hook-env.js';
import { PODMAN, podmanTests, podmanUnavailableReason, run, RUNTIMES, TEST_IMAGE, type Runtime } from '../helpers/podman.js';
import { CGROUP_V1 } from '../helpers/needs.js';

const DEVICES_MOUNT = '/sys/fs/cgroup/devices';
// Rewrites a cgroup v1 devices controller: named for it, and skipped on other hosts.
const { serial: rootTest, why, skipped } = podmanTests(CGROUP_V1);

type Path = 'precreate' | 'legacy';

test.before('environment, binary, fixture', async (t) => {
  if (skipped) return;
  t.is(podmanUnavailableReason(), undefined);
  await hookBinary();
  await fixtureManifest('h200');
});

// One line of shell: what opening /dev/nvidia0 read-write gives ("ok" or the strerror text).
const OPEN = 'if e=$( { : <>/dev/nvidia0; } 2>&1 ); then e=ok; fi; echo "open ${e##*: }"';

interface Running {
  id: string;
  runtime: Runtime;
  /** The container's folder in the devices controller. */
  cgroup: string;
  /** linux.resources.devices of the config the runtime got. */
  rules: OciDeviceCgroup[];
  /** The container's linux.resources as the runtime got it. */
  resources: Record<string, unknown>;
}

/** Starts `sleep` detached with the hook in the given mode; removed at teardown. */
async function startGpuContainer(t: ExecutionContext, runtime: Runtime, mode: Path | 'none'): Promise<Running> {
  const m = await fixtureManifest('h200');
  const hooksDir = mode === 'none' ? tempDir('no-hooks') : (await writeHooksDir({ manifest: m.file, ...(mode === 'legacy' ? { stage: 'createRuntime' as const } : {}) })).dir;
  const r = await run(PODMAN, [
    '--runtime', runtime, '--hooks-dir', hooksDir,
    'run', '-d', '--network', 'none', '--pull', 'never',
    ...(mode === 'none' ? [] : ['--annotation', 'oci-gpu/devices=0']),
    TEST_IMAGE, 'sleep', '600',
  ]);
  if (r.exitCode !== 0) throw new Error(`podman run -d: ${show(r)}`);
  const id = r.stdout.trim();
  t.teardown(() => run(PODMAN, ['rm', '-f', '-t', '0', id]));
  const inspect = await run(PODMAN, ['inspect', '--format', '{{.State.Pid}} {{.OCIConfigPath}}', id]);
  const [pid, configPath] = inspect.stdout.trim().split(' ');
  const rel = devicesCgroupPath(readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
  if (rel === null) throw new Error(`no devices controller for pid ${pid}`);
  const config = JSON.parse(readFileSync(configPath!, 'utf8'));
  return { id, runtime, cgroup: path.join(DEVICES_MOUNT, rel), rules: config.linux?.resources?.devices ?? [], resources: config.linux?.resources ?? {} };
}

/** What opening /dev/nvidia0 gives inside the container now. */
async function openInside(c: Running): Promise<string> {
  const r = await run(PODMAN, ['exec', c.id, 'sh', '-c', OPEN]);
  const line = /^open (.*)$/m.exec(r.stdout)?.[1];
  if (!line) throw new Error(`podman exec gave no result: ${show(r)}`);
  return line;
}

function devicesList(c: Running): string[] {
  return readFileSync(path.join(c.cgroup, 'devices.list'), 'utf8').split('\n').filter(Boolean);
}

const ruleLine = (r: OciDeviceCgroup) => `${r.type ?? 'a'} ${r.major === undefined || r.major === -1 ? '*' : r.major}:${r.minor === undefined || r.minor === -1 ? '*' : r.minor} ${r.access ?? 'rwm'}`;

/**
 * What systemd does to a unit's device cgroup on daemon-reload (cgroup v1): deny everything, then
 * allow what the unit lists. The unit lists what the runtime derived from the spec: the spec's
 * linux.resources.devices in order, then the runtime's default devices (/dev/null, /dev/tty, ptys...),
 * which are `defaults`: the devices.list of a container of the same runtime that asked for nothing.
 */
function rewriteLikeDaemonReload(c: Running, defaults: string[]): void {
  const write = (file: string, line: string) => writeFileSync(path.join(c.cgroup, file), line);
  write('devices.deny', 'a');
  for (const r of c.rules) write(r.allow ? 'devices.allow' : 'devices.deny', ruleLine(r));
  for (const line of defaults) write('devices.allow', line);
}

const defaultsOf = new Map<Runtime, Promise<string[]>>();
function runtimeDefaults(t: ExecutionContext, runtime: Runtime): Promise<string[]> {
  let p = defaultsOf.get(runtime);
  if (!p) {
    p = startGpuContainer(t, runtime, 'none').then((c) => {
      const list = devicesList(c);
      if (list.includes('a *:* rwm') || list.some((l) => / 195:/.test(l))) throw new Error(`unexpected defaults for ${runtime}: ${list.join(', ')}`);
      return list;
    });
    defaultsOf.set(runtime, p);
  }
  return p;
}

const daemonReload = test.macro({
  async exec(t, runtime: Runtime, mode: Path) {
    const defaults = await runtimeDefaults(t, runtime);
    const c = await startGpuContainer(t, runtime, mode);
    const specAllows = c.rules.some((r) => r.allow && r.major === 195 && r.minor === 0);
    t.is(specAllows, mode === 'precreate', `the spec ${specAllows ? 'allows' : 'does not allow'} 195:0`);
    t.is(await openInside(c), ENXIO, `before the rewrite; devices.list: ${devicesList(c).join(', ')}`);
    t.true(devicesList(c).includes('c 195:0 rwm'));

    rewriteLikeDaemonReload(c, defaults);
    const after = await openInside(c);
    t.log(`${runtime} ${mode}: open /dev/nvidia0 after the rewrite: ${after}; devices.list has 195:0: ${devicesList(c).includes('c 195:0 rwm')}`);
    if (mode === 'precreate') {
      t.is(after, ENXIO, 'devices in the spec: the rewrite must keep the GPU');
      t.true(devicesList(c).includes('c 195:0 rwm'));
    } else {
      t.is(after, EPERM, 'out-of-band devices.allow: the rewrite drops the GPU');
      t.false(devicesList(c).includes('c 195:0 rwm'));
    }
  },
  title: (_ = '', runtime: Runtime, mode: Path) =>
    `${runtime}: ${mode === 'precreate' ? 'precreate (devices in the spec): keeps' : 'legacy createRuntime (devices.allow out of band): loses'} /dev/nvidia0 after a daemon-reload-style rewrite of its device cgroup (${mode === 'precreate' ? 'ENXIO' : 'EPERM'})${why}`,
});

const runtimeUpdate = test.macro({
  async exec(t, runtime: Runtime, mode: Path) {
    const c = await startGpuContainer(t, runtime, mode);
    t.is(await openInside(c), ENXIO, 'before the update');
    const dir = tempDir('resources');
    const file = path.join(dir, 'resources.json');
    writeFileSync(file, JSON.stringify(c.resources));
    const stateRoot = runtime === 'crun' ? '/run/crun' : '/run/runc';
    const u = await run(RUNTIME_PATHS[runtime], ['--root', stateRoot, 'update', '--resources', file, c.id]);
    t.is(u.exitCode, 0, show(u));
    const after = await openInside(c);
    t.log(`${runtime} update --resources (own linux.resources), ${mode}: open /dev/nvidia0 gives ${after}`);
    // crun re-applies its whole device rule set from the spec; runc 1.1 leaves device rules alone on update.
    const dropsOutOfBand = runtime === 'crun';
    t.is(after, mode === 'legacy' && dropsOutOfBand ? EPERM : ENXIO);
  },
  title: (_ = '', runtime: Runtime, mode: Path) =>
    `${runtime} update --resources with the container's own linux.resources: ${mode} ${mode === 'legacy' && runtime === 'crun' ? 'loses the GPU (EPERM)' : 'keeps the GPU (ENXIO)'}${why}`,
});

for (const runtime of RUNTIMES) {
  rootTest(daemonReload, runtime, 'precreate');
  rootTest(daemonReload, runtime, 'legacy');
  rootTest(runtimeUpdate, runtime, 'precreate');
  rootTest(runtimeUpdate, runtime, 'legacy');
}
