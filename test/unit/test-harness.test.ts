// The test harness itself, on small test files in a temp project run by the real ava:
// - the end of `npm test`: ava with scripts/ava-tap.mjs loaded (as scripts/test.sh runs it), its TAP
//   stream summed up by scripts/tap-summary.sh. Every failing test and every failing hook counts,
//   tests a failed before hook kept from running count, and tests that timed out (their own
//   t.timeout, or ava's inactivity timeout, which crashed ava 7's TAP reporter) are named;
// - test/helpers/needs.ts: a missing prerequisite is a skip with the reason outside test:all and a
//   failure under it; a kind of host the test is tied to is named and skips either way.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../helpers/paths.js';

interface Summary {
  tap: string;
  out: string;
  status: number | null;
}

/** Runs ava as test.sh does on `files` (name → source) in a temp project, then tap-summary.sh on its TAP. */
function runProject(t: { teardown(fn: () => void): void }, files: Record<string, string>, timeout = '3m', extraEnv: Record<string, string> = {}): Summary {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'oci-gpu-tap-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: 'module', ava: { files: ['t/*.test.js'], timeout, workerThreads: false } }));
  symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  mkdirSync(path.join(dir, 't'));
  for (const [name, source] of Object.entries(files)) writeFileSync(path.join(dir, 't', name), `import test from 'ava';\n${source}\n`);
  const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dir, ...extraEnv };
  const ava = spawnSync(process.execPath, ['--import', path.join(REPO_ROOT, 'scripts/ava-tap.mjs'), path.join(REPO_ROOT, 'node_modules/ava/entrypoints/cli.mjs'), '--tap'], { cwd: dir, env, encoding: 'utf8', timeout: 120_000 });
  const tapFile = path.join(dir, 'ava.tap');
  writeFileSync(tapFile, ava.stdout);
  const sum = spawnSync('sh', [path.join(REPO_ROOT, 'scripts/tap-summary.sh'), tapFile, String(ava.status ?? 1), '0'], { encoding: 'utf8', env });
  return { tap: ava.stdout, out: sum.stdout, status: sum.status };
}

const lastLine = (s: string) => s.trimEnd().split('\n').at(-1);

test('failing hooks count beside failing tests and the tests a before hook kept from running', (t) => {
  const r = runProject(t, {
    'before.test.js': [
      "test.before('before hook fails', () => { throw new Error('before'); });",
      ...Array.from({ length: 5 }, (_, i) => `test('never runs ${i}', (t) => t.pass());`),
    ].join('\n'),
    'after.test.js': "test('passes', (t) => t.pass());\ntest.after('after hook fails', () => { throw new Error('after'); });",
    'mixed.test.js': "test('fails', (t) => t.fail());\ntest('passes too', (t) => t.pass());\ntest.after.always('after.always hook fails', () => { throw new Error('always'); });",
  });
  // 1 failing test + 3 failing hooks + 5 tests that never ran; ava's own "# fail" says 6.
  t.is(lastLine(r.out), '2 passed, 9 failed', `${r.out}\n${r.tap}`);
  t.is(r.status, 1);
  for (const hook of ['before › before hook fails', 'after › after hook fails', 'mixed › after.always hook fails']) t.true(r.out.includes(`test: hook failed: ${hook}\n`), r.out);
  t.regex(r.out, /^test: 5 tests never ran/m);
});

test('timed-out tests are named: their own t.timeout, and ava\'s inactivity timeout (which crashed its TAP reporter)', (t) => {
  const r = runProject(
    t,
    {
      'slow.test.js': [
        "test('hangs', async (t) => { await new Promise((r) => setTimeout(r, 20_000)); t.pass(); });",
        "test('own timeout', async (t) => { t.timeout(300); await new Promise((r) => setTimeout(r, 1500)); t.pass(); });",
        "test('quick', (t) => t.pass());",
      ].join('\n'),
    },
    '3s',
  );
  t.true(r.out.includes('test: timed out: hangs\n'), `${r.out}\n${r.tap}`);
  t.true(r.out.includes('test: timed out: own timeout\n'), r.out);
  t.regex(r.tap, /^1\.\.\d+$/m, 'the TAP stream has its plan');
  t.is(lastLine(r.out), '1 passed, 2 failed', r.out);
  t.is(r.status, 1);
});

test('a clean run: N passed, 0 failed, exit 0; skipped and todo tests are counted as skipped', (t) => {
  const r = runProject(t, { 'ok.test.js': "test('a', (t) => t.pass());\ntest.skip('b', (t) => t.pass());\ntest.todo('c');" });
  t.is(lastLine(r.out), '1 passed, 0 failed, 2 skipped', r.out);
  t.is(r.status, 0);
});

// --- needs.ts ---

const NEEDS = path.join(REPO_ROOT, 'dist/test/helpers/needs.js');
const gated = [
  `import { needs, need } from ${JSON.stringify(NEEDS)};`,
  "const missing = needs(need(() => 'frobnicator is missing'));",
  "const host = needs({ installable: false, label: 'frob host', missing: () => 'this is no frob host' });",
  "const present = needs(need(() => undefined));",
  "let before = 0;",
  "missing.test.before(() => { before++; });",
  "missing.test(`needs the frobnicator${missing.why}`, (t) => t.pass());",
  "missing.serial(`serial, needs the frobnicator${missing.why}`, (t) => t.pass());",
  "host.test(`on a frob host${host.why}`, (t) => t.pass());",
  "present.test(`needs nothing missing${present.why}`, (t) => t.is(before, 1));",
].join('\n');

test('needs(): a missing prerequisite is a skip with the reason outside test:all; a host kind is named and skipped', (t) => {
  const r = runProject(t, { 'gated.test.js': gated });
  t.regex(r.tap, /^ok \d+ - needs the frobnicator \[skipped: frobnicator is missing\] # SKIP$/m, r.tap);
  t.regex(r.tap, /^ok \d+ - serial, needs the frobnicator \[skipped: frobnicator is missing\] # SKIP$/m, r.tap);
  t.regex(r.tap, /^ok \d+ - on a frob host \[frob host only; skipped: this is no frob host\] # SKIP$/m, r.tap);
  t.regex(r.tap, /^ok \d+ - needs nothing missing$/m, 'a skipped gate keeps test.before (it ran once)');
  t.is(lastLine(r.out), '1 passed, 0 failed, 3 skipped', r.out);
});

test('needs(): under test:all (OCI_GPU_TEST_ALL=1) a missing prerequisite fails each test with the reason; a host kind still skips', (t) => {
  const r = runProject(t, { 'gated.test.js': gated }, '3m', { OCI_GPU_TEST_ALL: '1' });
  t.regex(r.tap, /^not ok \d+ - needs the frobnicator$/m, r.tap);
  t.regex(r.tap, /^not ok \d+ - serial, needs the frobnicator$/m, r.tap);
  t.regex(r.tap, /a prerequisite is missing \(under test:all it must be in place\): frobnicator is\s+missing/, r.tap);
  t.regex(r.tap, /^ok \d+ - on a frob host \[frob host only; skipped: this is no frob host\] # SKIP$/m, r.tap);
  t.is(lastLine(r.out), '1 passed, 2 failed, 1 skipped', r.out);
  t.is(r.status, 1);
});
