// The binary starts with JavaScriptCore's tier-up thresholds scaled up (scripts/build.sh,
// --compile-jit-policy=1000: container-start programs live milliseconds); the long-running daemons
// set the normal policy back through Bun.unsafe.setJITPolicy. Under Node there is no Bun: nothing.
import test from 'ava';
import { useFullJit } from '../../src/cli/daemon.js';

test.serial('useFullJit asks Bun for the normal policy (1), and is a no-op without Bun', (t) => {
  const g = globalThis as { Bun?: unknown };
  t.is(g.Bun, undefined, 'the tests run on Node');
  t.notThrows(() => useFullJit());
  const calls: number[] = [];
  g.Bun = { unsafe: { setJITPolicy: (scale: number) => calls.push(scale) } };
  try {
    useFullJit();
  } finally {
    delete g.Bun;
  }
  t.deepEqual(calls, [1]);
});

test('the build gives the binary the scaled policy that useFullJit undoes', async (t) => {
  const { readFileSync } = await import('node:fs');
  const { REPO_ROOT } = await import('../helpers/paths.js');
  const build = readFileSync(`${REPO_ROOT}/scripts/build.sh`, 'utf8');
  t.regex(build, /bun" build --compile [^\n]*--compile-jit-policy=1000 /);
});
