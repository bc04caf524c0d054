// Fuzzing parseConfig (src/core/config.ts), the json5 configuration every program reads: any text,
// documents built from the real settings with random values, the shipped packaging/config.json5
// mutated at the text level (cuts, overwritten and inserted bytes, comments, BOMs), and random JSON
// values serialised as json5. Property: parseConfig returns a frozen config holding exactly the
// known settings, each passing its own check, or throws ParseError, printed as one line. Then the
// same through the hook's entry point (hookMain with --config), where a broken file must give one
// stderr line and a non-zero exit before stdin is even read.
import test from 'ava';
import fc from 'fast-check';
import JSON5 from 'json5';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseConfig, SETTINGS } from '../../src/core/config.js';
import { hookMain, type HookIo } from '../../src/hook/main.js';
import { ParseError } from '../../src/errors.js';
import { tempDir } from '../helpers/hook-env.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { assertOneLine, assertOurError, checkProperty, damage, jsonValue, ourErrorsOnly, runs, textDamage, trapString } from './fuzz-helpers.js';

const SHIPPED = readFileSync(path.join(REPO_ROOT, 'packaging/config.json5'), 'utf8');
const SOURCE = '/etc/oci-gpu/config.json5';
const SECTIONS = [...new Set(SETTINGS.filter((s) => s.key.includes('.')).map((s) => s.key.split('.')[0]!))];

/** A value for a setting: its default, a value of another setting, or anything. */
const settingValue = fc.oneof(
  fc.constantFrom(...SETTINGS.map((s) => s.default)),
  fc.constantFrom('/x', 'relative', '', 'fail', 'rescan', 'json', 'debug', 'nvidia.com/gpu', 'a/b/c', -1, 0, 1, 10, 60_000, 60_001, 86_401, 1.5, 1e400, true, false, null),
  jsonValue,
);

/** A config object built from real keys (flat, nested or misplaced) with random values. */
const configObject: fc.Arbitrary<Record<string, unknown>> = fc
  .array(
    fc.oneof(
      fc.tuple(fc.constantFrom(...SETTINGS.map((s) => s.key)), settingValue).map(([key, v]) => ({ key, v })),
      fc.tuple(fc.constantFrom(...SECTIONS, ...SETTINGS.map((s) => s.key.split('.').pop()!)), jsonValue).map(([key, v]) => ({ key, v, flat: true })),
      fc.tuple(trapString, jsonValue).map(([key, v]) => ({ key, v, flat: true })),
    ),
    { maxLength: 8 },
  )
  .map((entries) => {
    const out: Record<string, any> = {};
    for (const e of entries as { key: string; v: unknown; flat?: boolean }[]) {
      const parts = e.flat ? [e.key] : e.key.split('.');
      let at = out;
      for (const p of parts.slice(0, -1)) {
        if (!at[p] || typeof at[p] !== 'object') Object.defineProperty(at, p, { value: {}, enumerable: true, writable: true, configurable: true });
        at = at[p];
      }
      Object.defineProperty(at, parts.at(-1)!, { value: e.v, enumerable: true, writable: true, configurable: true });
    }
    return out;
  });

/** json5 text: the object in one of several json5 spellings, sometimes with a comment or a trailing comma. */
const configText: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(configObject, fc.constantFrom<'json' | 'json5' | 'json5-single'>('json', 'json5', 'json5-single'), fc.boolean()).map(([o, style, comment]) => {
    const body = style === 'json' ? JSON.stringify(o, null, 2) : JSON5.stringify(o, { space: 2, quote: style === 'json5-single' ? "'" : '"' });
    return comment ? `// oci-gpu\n/* settings */\n${body.replace(/\n}$/, ',\n}')}\n` : body;
  }) },
  { weight: 3, arbitrary: fc.tuple(fc.constant(SHIPPED), textDamage).map(([s, d]) => damage(s, d).toString('utf8')) },
  { weight: 1, arbitrary: jsonValue.map((v) => JSON5.stringify(v) ?? '') },
  { weight: 1, arbitrary: fc.string({ maxLength: 120 }) },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...'{}[]:,"\'/*\n \\0x1e+-.Infinity NaN manifest watch'.split('')), maxLength: 80 }) },
);

function checkResolved(config: unknown): void {
  if (!Object.isFrozen(config)) throw new Error('the config is not frozen');
  const flat = new Map<string, unknown>();
  for (const [k, v] of Object.entries(config as object)) {
    if (v && typeof v === 'object') {
      if (!Object.isFrozen(v)) throw new Error(`section ${k} is not frozen`);
      for (const [kk, vv] of Object.entries(v)) flat.set(`${k}.${kk}`, vv);
    } else flat.set(k, v);
  }
  const keys = [...flat.keys()].sort();
  const want = SETTINGS.map((s) => s.key).sort();
  if (JSON.stringify(keys) !== JSON.stringify(want)) throw new Error(`resolved keys ${keys.join(',')} are not the settings ${want.join(',')}`);
  for (const s of SETTINGS) {
    const problem = s.check(flat.get(s.key));
    if (problem) throw new Error(`accepted ${s.key} = ${JSON.stringify(flat.get(s.key))}: ${problem}`);
  }
}

test('parseConfig: any text gives a checked, frozen config or one ParseError line', async (t) => {
  let accepted = 0;
  await checkProperty(
    fc.property(configText, (text) => {
      try {
        checkResolved(parseConfig(text, SOURCE));
        accepted++;
      } catch (error) {
        if (error instanceof Error && /^(accepted|resolved|the config|section)/.test(error.message)) throw error;
        assertOurError(error, 'oci-gpu');
        if (!(error instanceof ParseError)) throw new Error(`not a ParseError: ${(error as Error).constructor.name}`);
        if (!error.message.startsWith(`config "${SOURCE}": `)) throw new Error(`the message does not name the file first: ${error.message}`);
      }
    }),
    { numRuns: runs(8000) },
  );
  t.log(`${accepted} of ${runs(8000)} accepted`);
  t.true(accepted > 0);
});

test('parseConfig: the shipped config.json5 and every cut of it', (t) => {
  checkResolved(parseConfig(SHIPPED, SOURCE));
  let refused = 0;
  for (let cut = 0; cut < SHIPPED.length; cut++) {
    if (ourErrorsOnly(() => parseConfig(SHIPPED.slice(0, cut), SOURCE)) === undefined) refused++;
  }
  t.log(`${SHIPPED.length} cuts, ${refused} refused (a cut inside the last comment still parses)`);
  t.true(refused > 0);
});

test('the hook with a fuzzed --config file: one stderr line and a non-zero exit, or it goes on', async (t) => {
  const dir = tempDir('fuzz-config');
  const file = path.join(dir, 'config.json5');
  // A config that asks for no GPU: once the configuration loads, precreate gives it back untouched.
  const stdin = Buffer.from('{"ociVersion":"1.0.2","process":{"env":["PATH=/bin"]},"root":{"path":"/r"}}');
  let failed = 0;
  await checkProperty(
    fc.asyncProperty(configText, async (text) => {
      writeFileSync(file, text);
      let err = '';
      const out: Buffer[] = [];
      let read = false;
      const io: HookIo = { readStdin: () => ((read = true), stdin), out: (d) => void out.push(Buffer.from(d)), err: (e) => void (err += e) };
      const code = await hookMain(['precreate', '--config', file], io);
      if (code === 0) {
        if (err || !Buffer.concat(out).equals(stdin)) throw new Error(`exit 0 but stderr ${JSON.stringify(err)} / stdout changed`);
        return;
      }
      failed++;
      if (Buffer.concat(out).length) throw new Error('a failure printed on stdout');
      if (read) throw new Error(`stdin was read before the configuration failed: ${err}`);
      assertOneLine(err);
      if (!err.startsWith(`oci-gpu-hook: config "${file}": `)) throw new Error(`unexpected error line: ${JSON.stringify(err)}`);
    }),
    { numRuns: runs(1000) },
  );
  t.log(`${failed} of ${runs(1000)} configs refused`);
  t.true(failed > 0);
});

test('parseConfig never writes to the console: a raw U+2028 is refused in one line instead of json5 warning on stderr', (t) => {
  // In a child process: json5 warns through console.warn, which an in-process test cannot see without patching globals.
  const script = `
    import { parseConfig } from ${JSON.stringify(path.join(REPO_ROOT, 'dist/src/core/config.js'))};
    for (const text of ['{ manifest: "/run/a\\\\u2028b" }', '{ manifest: "/run/a\u2028b" }', '{\u2029}', '{ root: "/" }']) {
      try { parseConfig(text, '/etc/oci-gpu/config.json5'); console.log('ok'); } catch (e) { console.log(e.message); }
    }`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  t.is(r.stderr, '', 'something was written to stderr');
  t.deepEqual(r.stdout.trim().split('\n'), [
    'ok',
    'config "/etc/oci-gpu/config.json5": line 1: a raw U+2028 character; write it as an escape',
    'config "/etc/oci-gpu/config.json5": line 1: a raw U+2029 character; write it as an escape',
    'ok',
  ]);
});
