// A symlink swapped while the hook works (the race half of CVE-2024-0132): the legacy createRuntime
// stage creates its mount targets itself, so a folder of the rootfs that flips between a real
// folder and a symlink to a host folder must never make it create, change or mount anything
// there. A gcc-built flipper exchanges the two names atomically (renameat2 RENAME_EXCHANGE) at
// random short intervals in the host's view of the rootfs while ~30 containers start one after the
// other, with runc and crun. Each start either works or fails with one line from the hook; the
// canary folder must end exactly as it began. Needs root.
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import { lstatSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { fixtureManifest, hookBinary, HOOK_BIN, makeBundle, parseProbe, PROBE, RUNTIME_PATHS, show, tempDir } from '../helpers/hook-env.js';
import { hostMountsUnder, makeCanary, MINIMAL_ENV, treeChanges } from '../helpers/hostile.js';
import { podmanUnavailableReason, run, RUNTIMES, type Runtime } from '../helpers/podman.js';
import { IS_ROOT, rootSerial as rootTest, NEEDS_ROOT as why } from '../helpers/root.js';

const execFileP = promisify(execFile);
// OCI_GPU_RACE_STARTS raises it for a longer soak.
const STARTS = Number(process.env.OCI_GPU_RACE_STARTS ?? 30);

let flipper = '';

test.before('environment, binary, fixtures, flipper', async (t) => {
  if (!IS_ROOT) return;
  t.is(podmanUnavailableReason(), undefined);
  await hookBinary();
  await fixtureManifest('h200');
  const dir = tempDir('flipper');
  const src = path.join(dir, 'flip.c');
  writeFileSync(
    src,
    [
      '#define _GNU_SOURCE',
      '#include <fcntl.h>',
      '#include <stdio.h>',
      '#include <stdlib.h>',
      '#include <unistd.h>',
      '#include <sys/syscall.h>',
      '#include <linux/fs.h>',
      '/* flip A B MAXUS: exchange A and B forever, sleeping 0..MAXUS us between swaps; MAXUS < 0: once. */',
      'int main(int argc, char **argv) {',
      '  int max = argc > 3 ? atoi(argv[3]) : 100;',
      '  srand(getpid());',
      '  for (;;) {',
      '    if (syscall(SYS_renameat2, AT_FDCWD, argv[1], AT_FDCWD, argv[2], RENAME_EXCHANGE) != 0) { perror("renameat2"); return 1; }',
      '    if (max < 0) return 0;',
      '    if (max > 0) usleep(rand() % max);',
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  flipper = path.join(dir, 'flip');
  await execFileP('gcc', ['-O2', '-o', flipper, src], { timeout: 60_000 });
});

/** Starts the flipper on `real` (a folder) and `link` (a symlink beside it); returns a stop function that leaves `real` a folder again. */
function flip(real: string, link: string, maxSleepUs: number): () => Promise<void> {
  const child = spawn(flipper, [real, link, String(maxSleepUs)], { stdio: 'ignore' });
  const exited = new Promise((r) => child.once('exit', r));
  return async () => {
    child.kill('SIGTERM');
    await exited;
    if (lstatSync(real).isSymbolicLink()) await execFileP(flipper, [real, link, '-1']).catch(() => undefined);
  };
}

const race = test.macro({
  async exec(t, runtime: Runtime, folder: string) {
    const m = await fixtureManifest('h200');
    const canary = makeCanary();
    const before = canary.snapshot();
    const hook = { path: HOOK_BIN, args: ['oci-gpu-hook', 'createRuntime', '--manifest', m.file], env: MINIMAL_ENV, timeout: 30 };
    const b = await makeBundle(runtime, { args: ['sh', '-c', `${PROBE}\necho RAN`], annotations: { 'oci-gpu/devices': 'all' }, readonly: false, hooks: { createRuntime: [hook] } });
    // The folder the hook must create targets in, and a link to the canary beside it that the flipper swaps in.
    const real = path.join(b.dir, 'rootfs', folder);
    mkdirSync(real, { recursive: true });
    const link = `${real}.swap`;
    symlinkSync(canary.dir, link);
    // The flipper keeps going after the hook is done, so a container can run while its /usr/local/nvidia
    // is the link (its libraries then missing): that is the racer's own doing inside the container, not
    // an effect on the host. What this test holds is the host side: nothing lands in the canary.
    const outcomes = { works: 0, ranWithoutGpu: 0, refused: 0 };
    const refusals = new Set<string>();
    for (let i = 0; i < STARTS; i++) {
      const stop = flip(real, link, [0, 50, 500][i % 3]!);
      const id = `oci-gpu-race-${runtime}-${process.pid}-${i}`;
      const r = await run(RUNTIME_PATHS[runtime], ['--root', b.stateRoot, 'run', '--bundle', b.dir, id], { timeout: 60_000 });
      await stop();
      await run(RUNTIME_PATHS[runtime], ['--root', b.stateRoot, 'delete', '--force', id]);
      const probe = parseProbe(r.stdout);
      if (r.exitCode === 0 && probe.smiExit === 0) outcomes.works++;
      else if (/^RAN$/m.test(r.stdout)) outcomes.ranWithoutGpu++;
      else {
        outcomes.refused++;
        refusals.add((r.stderr.match(/oci-gpu-hook: [^\n"\\]*/)?.[0] ?? r.stderr.trim().split('\n').at(-1) ?? '').slice(0, 200));
      }
      const changes = treeChanges(before, canary.snapshot());
      if (changes.length) {
        t.fail(`start ${i}: the canary changed: ${changes.join(', ')}\n${show(r)}`);
        break;
      }
      // A fresh rootfs state for the next start: remove what this start created in the folder.
      await run('/bin/sh', ['-c', 'rm -rf "$1"/* "$1"/.[!.]* 2>/dev/null; true', 'sh', real]);
    }
    t.deepEqual(canary.snapshot(), before, 'the canary folder changed');
    t.deepEqual(hostMountsUnder(canary.dir), []);
    t.log(`${runtime} ${folder}: ${outcomes.works} worked, ${outcomes.ranWithoutGpu} ran with the link in place, ${outcomes.refused} refused: ${[...refusals].join(' | ')}`);
  },
  title: (_ = '', runtime: Runtime, folder: string) => `${runtime}: legacy createRuntime, ${folder} flipping to a host symlink during ${STARTS} starts: nothing lands outside the rootfs${why}`,
});

for (const runtime of RUNTIMES) {
  rootTest(race, runtime, '/usr/local/nvidia');
  rootTest(race, runtime, '/usr/local/nvidia/lib64');
}
