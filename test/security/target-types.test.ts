// Mount targets of the wrong type in a hostile image: a folder where a driver file goes
// (/usr/bin/nvidia-smi/, a firmware file as a folder) and a file where a folder goes
// (/usr/local/nvidia/lib64, /usr/local/nvidia). On every start path the container must either work
// or not start at all, with an error that names the path: never run half set up. In precreate,
// oci-gpu-runtime and CDI the runtime makes the mounts and reports the error (its words are logged);
// in the legacy stage the hook refuses in one line. Needs root.
import test from 'ava';
import { fixtureManifest, hookBinary } from '../helpers/hook-env.js';
import { gateOf, gpuWorks, limiter, PODMAN_GATE, START_PATHS, startContainer, type RootfsEdit, type StartPath } from '../helpers/hostile.js';
import { podmanUnavailableReason, RUNTIMES } from '../helpers/podman.js';

const slot = limiter(6);

test.before('environment, binary, fixtures', async (t) => {
  if (PODMAN_GATE.skipped) return;
  t.is(podmanUnavailableReason(), undefined);
  await hookBinary();
  await fixtureManifest('h200');
});

interface TypeCase {
  title: string;
  edits: RootfsEdit[];
  /** The container path the error must name. */
  names: string;
  /** The legacy hook's refusal. */
  legacy: RegExp;
}

const FW = '/usr/local/nvidia/firmware/nvidia/580.159.04/gsp_ga10x.bin';

const CASES: TypeCase[] = [
  { title: '/usr/bin/nvidia-smi is a folder', edits: [{ dir: '/usr/bin/nvidia-smi/sub' }], names: '/usr/bin/nvidia-smi', legacy: /mount target "\/usr\/bin\/nvidia-smi" is a folder in the container image where a file is needed/ },
  { title: `${FW} is a folder`, edits: [{ dir: FW }], names: FW, legacy: /mount target "\/usr\/local\/nvidia\/firmware\/nvidia\/580\.159\.04\/gsp_ga10x\.bin" is a folder in the container image where a file is needed/ },
  { title: '/usr/local/nvidia/lib64 is a file', edits: [{ file: '/usr/local/nvidia/lib64', content: 'x' }], names: '/usr/local/nvidia/lib64', legacy: /mount target "\/usr\/local\/nvidia\/lib64" \(for "\/usr\/local\/nvidia\/lib64\/[^"]+"\) is a file in the container image where a folder is needed/ },
  { title: '/usr/local/nvidia is a file', edits: [{ file: '/usr/local/nvidia', content: 'x' }], names: '/usr/local/nvidia', legacy: /mount target "\/usr\/local\/nvidia" \(for "\/usr\/local\/nvidia\/[^"]+"\) is a file in the container image where a folder is needed/ },
];

const wrongType = test.macro({
  async exec(t, c: TypeCase, startPath: StartPath) {
    const m = await fixtureManifest('h200');
    for (const runtime of RUNTIMES) {
      const s = await slot(() => startContainer({ path: startPath, runtime, manifest: m.file, edits: c.edits }));
      if (gpuWorks(s)) {
        t.log(`${runtime}: works`);
        continue;
      }
      t.false(s.ran, `${runtime}: the container ran half set up\n${s.ctx}`);
      t.not(s.r.exitCode, 0, s.ctx);
      const said = `${s.hookErr}\n${s.r.stderr}`;
      t.true(said.includes(c.names.slice(1)), `${runtime}: the error does not name ${c.names}\n${s.ctx}`);
      if (startPath === 'legacy') {
        const lines = s.hookErr.split('\n').filter(Boolean);
        t.is(lines.length, 1, `${runtime}: not one line\n${s.ctx}`);
        t.regex(lines[0] ?? '', /^oci-gpu-hook: /);
        t.regex(lines[0] ?? '', c.legacy, s.ctx);
      }
      t.log(`${runtime}: refused: ${(s.hookErr.trim() || s.r.stderr.trim()).split('\n').filter(Boolean).at(-1)?.slice(0, 300)}`);
    }
  },
  title: (_ = '', c: TypeCase, startPath: StartPath) => `${startPath}: image where ${c.title}: a clear error naming it, never a half-set-up container${gateOf(startPath).why}`,
});

for (const c of CASES) for (const p of START_PATHS) gateOf(p).test(wrongType, c, p);
