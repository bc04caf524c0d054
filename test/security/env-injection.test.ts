// CVE-2025-23266 class: the container's environment must never reach a process the hook or its
// post-mount step runs on the host. The container sets LD_PRELOAD to a gcc-built library on the
// host whose constructor leaves a marker naming the program that loaded it, LD_LIBRARY_PATH to the
// folder holding it, and PATH to a host folder of fake sh, nsenter, ldconfig, sed, mount… that
// leave markers too. Every start path runs with that environment (precreate with crun and runc,
// oci-gpu-runtime, the legacy createRuntime stage, the CDI spec's ldcache stage), with a manifest
// whose host tools are recorders of their own environment: no marker may appear, every recorded
// environment must be exactly PATH=/usr/sbin:/usr/bin:/sbin:/bin, and the container must still
// get working GPUs. Controls prove the library and the fake tools do work when a host process does
// honour the variables. Also: the environment the hooks.d entries, the precreate output and the CDI
// spec give their hooks. Needs root (and gcc).
import test from 'ava';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { fixtureManifest, hookBinary, repoHooksD, runBinary, RUNTIME_PATHS, show, tempDir } from '../helpers/hook-env.js';
import {
  buildEvilPreload,
  cdiSpecOf,
  fakeToolsDir,
  gateOf,
  gpuWorks,
  limiter,
  makeMarkers,
  MINIMAL_ENV,
  PODMAN_GATE,
  recordingManifest,
  START_PATHS,
  startContainer,
  type Markers,
  type StartPath,
} from '../helpers/hostile.js';
import { podmanUnavailableReason, run, RUNTIMES } from '../helpers/podman.js';

const { why } = PODMAN_GATE;

const execFileP = promisify(execFile);
const slot = limiter(4);

interface Bait {
  markers: Markers;
  evil: string;
  fakebin: string;
  env: Record<string, string>;
}

let bait: Bait;

test.before('environment, binary, fixtures, bait', async (t) => {
  if (PODMAN_GATE.skipped) return;
  t.is(podmanUnavailableReason(), undefined);
  await hookBinary();
  await fixtureManifest('h200');
  const markers = makeMarkers('markers');
  const evil = await buildEvilPreload(markers);
  const fakebin = fakeToolsDir(markers);
  bait = {
    markers,
    evil,
    fakebin,
    env: { LD_PRELOAD: evil, LD_LIBRARY_PATH: path.dirname(evil), PATH: `${fakebin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin` },
  };
});

// The bait works: a host process that honours the container's variables leaves markers.
PODMAN_GATE.serial(`control: the LD_PRELOAD library and the fake PATH tools leave markers when honoured${why}`, async (t) => {
  const dir = tempDir('control');
  await execFileP('/bin/true', [], { env: { LD_PRELOAD: bait.evil } });
  await execFileP('sh', ['-c', 'true'], { env: { PATH: bait.fakebin }, cwd: dir });
  const found = bait.markers.list();
  t.true(found.some((f) => f.startsWith('preload-')), `no preload marker: ${found.join(' ')}`);
  t.true(found.some((f) => f.startsWith('path-sh-')), `no fake sh marker: ${found.join(' ')}`);
  t.regex(Object.entries(bait.markers.read()).find(([f]) => f.startsWith('preload-'))?.[1] ?? '', /\/true$/m);
  bait.markers.clear();
});

/** Recorded environments (env-<tool>-<pid> markers) and every other marker. */
function readMarkers(markers: Markers): { envs: Record<string, string[]>; other: Record<string, string> } {
  const envs: Record<string, string[]> = {};
  const other: Record<string, string> = {};
  for (const [f, text] of Object.entries(markers.read())) {
    if (f.startsWith('env-')) envs[f] = text.split('\n').filter(Boolean);
    else other[f] = text;
  }
  return { envs, other };
}

const injected = test.macro({
  async exec(t, startPath: StartPath) {
    for (const runtime of RUNTIMES) {
      // Each start gets its own recorders folder so that what they record is this start's alone.
      const markers = makeMarkers('env-records');
      const manifest = recordingManifest(await fixtureManifest('h200'), markers);
      const before = bait.markers.list();
      const s = await slot(() => startContainer({ path: startPath, runtime, manifest, env: bait.env }));
      t.true(gpuWorks(s), `${runtime}: the container must still get working GPUs\n${s.ctx}`);
      const { envs, other } = readMarkers(markers);
      t.deepEqual(other, {}, `${runtime}: unexpected markers`);
      t.deepEqual(bait.markers.list(), before, `${runtime}: a host process honoured the container's LD_PRELOAD or PATH: ${JSON.stringify(bait.markers.read())}`);
      const tools = Object.keys(envs).map((f) => f.split('-')[1]).sort();
      // Precreate and the wrapper (a writable rootfs) run the step inside the container's namespaces:
      // sh and ldconfig, no nsenter. The CDI spec's step and the legacy stage enter them with nsenter.
      const ran = startPath === 'precreate' || startPath === 'wrapper' ? ['ldconfig', 'sh'] : ['ldconfig', 'nsenter', 'sh'];
      t.deepEqual(tools.filter((tool, i) => tools.indexOf(tool) === i), ran, `${runtime}: ran ${tools.join(' ')}, not ${ran.join(' ')}\n${s.ctx}`);
      for (const [f, env] of Object.entries(envs)) {
        // dash adds PWD to what it exports; nothing else may appear.
        t.deepEqual(env.filter((e) => !e.startsWith('PWD=')), MINIMAL_ENV, `${runtime}: ${f} got ${JSON.stringify(env)}`);
      }
      t.log(`${runtime}: ran ${tools.join(', ')} with PATH only; container GPU works`);
    }
  },
  title: (_ = '', startPath: StartPath) => `${startPath}: the container's LD_PRELOAD, LD_LIBRARY_PATH and PATH reach no host process${gateOf(startPath).why}`,
});

for (const p of START_PATHS) gateOf(p).test(injected, p);

// The environments written into files and configs.

test('every hooks.d entry gives the hook exactly PATH=/usr/sbin:/usr/bin:/sbin:/bin', (t) => {
  const entries = repoHooksD();
  t.true(entries.size >= 3);
  for (const [f, e] of entries) t.deepEqual(e.hook.env, MINIMAL_ENV, f);
});

PODMAN_GATE.test(`the createRuntime step precreate adds, and the CDI spec's hook, get exactly that PATH, whatever the container's env${why}`, async (t) => {
  const bin = await hookBinary();
  const m = await fixtureManifest('h200');
  const dir = tempDir('env-config');
  await run(RUNTIME_PATHS.crun, ['spec'], { cwd: dir });
  const config = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, any>;
  config.root.path = path.join(dir, 'rootfs');
  config.annotations = { 'oci-gpu/devices': 'all' };
  config.process.env = ['PATH=/evil/bin', 'LD_PRELOAD=/evil/x.so', 'LD_LIBRARY_PATH=/evil', 'NODE_OPTIONS=--require=/evil/x.js', 'BASH_ENV=/evil/rc', 'ENV=/evil/rc'];
  const r = await runBinary(bin, ['precreate', '--manifest', m.file], JSON.stringify(config));
  t.is(r.exitCode, 0, show(r));
  const edited = JSON.parse(r.stdout) as Record<string, any>;
  const hooks = Object.values(edited.hooks ?? {}).flat() as { path: string; env?: string[] }[];
  t.true(hooks.length > 0);
  for (const h of hooks) t.deepEqual(h.env, MINIMAL_ENV, `${h.path}`);
  t.deepEqual(edited.process.env, config.process.env, 'the container keeps its own env');
  const spec = cdiSpecOf(m.file);
  const cdiHooks = [spec.containerEdits, ...spec.devices.map((d) => d.containerEdits)].flatMap((e) => e.hooks ?? []);
  t.true(cdiHooks.length > 0);
  for (const h of cdiHooks) t.deepEqual(h.env, MINIMAL_ENV);
});
