import test from 'ava';
import { defaultConfig, parseConfig, SETTINGS } from '../../src/core/config.js';
import { ParseError } from '../../src/errors.js';
import type { Config } from '../../src/model/config.js';

const SOURCE = '/etc/oci-gpu/config.json5';

const DEFAULTS: Config = {
  manifest: '/run/oci-gpu/manifest.json',
  root: '/',
  cdi: { enabled: true, path: '/var/run/cdi/oci-gpu.json', kind: 'nvidia.com/gpu' },
  hook: { onDriverMismatch: 'fail', scanCommand: '/usr/bin/oci-gpu' },
  runtime: { path: '/usr/bin/runc' },
  container: { maskDriverParams: true, cudaCompat: true },
  watch: { debounceMs: 200, safetyRescanSeconds: 60, stableScans: 2, udev: true, charLinks: true, keepWarm: false },
  log: { level: 'info', format: 'text', syslog: '/dev/log' },
};

function parseError(text: string): ParseError {
  try {
    parseConfig(text, SOURCE);
  } catch (error) {
    if (error instanceof ParseError) return error;
    throw error;
  }
  throw new Error(`expected a ParseError for ${JSON.stringify(text)}`);
}

/** The value at a dot-path of a config. */
function at(config: Config, key: string): unknown {
  return key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], config);
}

/** `{a: {b: value}}` for key "a.b", as JSON5 text. */
function textFor(key: string, value: unknown): string {
  const obj = key.split('.').reduceRight<unknown>((inner, k) => ({ [k]: inner }), value);
  return JSON.stringify(obj);
}

// --- defaults ---

test('defaultConfig has every setting at its documented default', (t) => {
  t.deepEqual(defaultConfig(), DEFAULTS);
});

test('an empty object gives the defaults', (t) => {
  t.deepEqual(parseConfig('{}', SOURCE), DEFAULTS);
});

test('SETTINGS and the Config shape agree, and every default passes its own check', (t) => {
  const leaves = (o: Record<string, unknown>, prefix = ''): string[] =>
    Object.entries(o).flatMap(([k, v]) =>
      typeof v === 'object' && v !== null ? leaves(v as Record<string, unknown>, `${prefix}${k}.`) : [`${prefix}${k}`],
    );
  t.deepEqual(leaves(defaultConfig() as unknown as Record<string, unknown>).sort(), SETTINGS.map((s) => s.key).sort());
  for (const s of SETTINGS) {
    t.is(s.check(s.default), null, s.key);
    t.true(s.description.length > 10, `${s.key} has a description`);
  }
});

test('the resolved config is frozen, sections included', (t) => {
  const c = parseConfig('{watch: {debounceMs: 5}}', SOURCE);
  t.true(Object.isFrozen(c));
  for (const section of ['cdi', 'hook', 'runtime', 'watch', 'log'] as const) t.true(Object.isFrozen(c[section]), section);
  t.throws(() => {
    (c.watch as { debounceMs: number }).debounceMs = 0;
  });
  t.is(defaultConfig().watch.debounceMs, 200);
});

// --- JSON5 ---

test('json5: comments, unquoted keys, single quotes, trailing commas, hex numbers', (t) => {
  const text = `
    // oci-gpu configuration
    {
      /* where the hook reads */
      manifest: '/run/custom/manifest.json',
      cdi: { enabled: false, kind: "example.com/gpu", },
      watch: { debounceMs: 0x10, udev: false },  // trailing comma next
      log: { level: 'debug', },
    }
  `;
  const c = parseConfig(text, SOURCE);
  t.is(c.manifest, '/run/custom/manifest.json');
  t.false(c.cdi.enabled);
  t.is(c.cdi.kind, 'example.com/gpu');
  t.is(c.watch.debounceMs, 16);
  t.false(c.watch.udev);
  t.is(c.log.level, 'debug');
});

test('a partial section keeps the defaults of its other settings', (t) => {
  const c = parseConfig('{cdi: {enabled: false}, watch: {stableScans: 3}}', SOURCE);
  t.deepEqual(c, { ...DEFAULTS, cdi: { ...DEFAULTS.cdi, enabled: false }, watch: { ...DEFAULTS.watch, stableScans: 3 } });
});

// --- every setting: accepted and refused values ---

const accepts = test.macro({
  exec(t, key: string, value: unknown) {
    t.deepEqual(at(parseConfig(textFor(key, value), SOURCE), key), value);
  },
  title: (_, key: string, value: unknown) => `${key} accepts ${JSON.stringify(value)}`,
});
const refuses = test.macro({
  exec(t, key: string, value: unknown, problem: string) {
    const error = parseError(textFor(key, value));
    t.deepEqual(error.problems, [`${key}: ${problem}`]);
    t.is(error.message, `config "${SOURCE}": ${key}: ${problem}`);
  },
  title: (_, key: string, value: unknown) => `${key} refuses ${JSON.stringify(value)}`,
});

const ABS = 'must be an absolute path';
for (const key of ['manifest', 'root', 'cdi.path', 'hook.scanCommand', 'runtime.path']) {
  test(accepts, key, '/some/where');
  test(refuses, key, 'relative/path', ABS);
  test(refuses, key, '', ABS);
  test(refuses, key, 42, ABS);
  test(refuses, key, { path: '/x' }, ABS);
}
const BOOL = 'must be true or false';
for (const key of ['cdi.enabled', 'watch.udev', 'watch.charLinks', 'watch.keepWarm']) {
  test(accepts, key, false);
  test(accepts, key, true);
  test(refuses, key, 'true', BOOL);
  test(refuses, key, 1, BOOL);
  test(refuses, key, null, BOOL);
}
const INTS: [string, number, number][] = [
  ['watch.debounceMs', 0, 60_000],
  ['watch.safetyRescanSeconds', 0, 86_400],
  ['watch.stableScans', 1, 10],
];
for (const [key, min, max] of INTS) {
  const problem = `must be an integer from ${min} to ${max}`;
  test(accepts, key, min);
  test(accepts, key, max);
  test(refuses, key, min - 1, problem);
  test(refuses, key, max + 1, problem);
  test(refuses, key, min + 0.5, problem);
  test(refuses, key, String(min + 1), problem);
}
test('watch.debounceMs refuses Infinity and NaN', (t) => {
  t.deepEqual(parseError('{watch: {debounceMs: Infinity}}').problems, ['watch.debounceMs: must be an integer from 0 to 60000']);
  t.deepEqual(parseError('{watch: {debounceMs: NaN}}').problems, ['watch.debounceMs: must be an integer from 0 to 60000']);
});
test(accepts, 'cdi.kind', 'nvidia.com/gpu');
test(accepts, 'cdi.kind', 'example.com/fpga_x-1');
for (const bad of ['nvidia.com', 'nvidia.com/', '/gpu', 'a/b/c', 'nvidia.com/gpu=0', '', 'nvidia com/gpu']) {
  test(refuses, 'cdi.kind', bad, 'must look like vendor.com/class');
}
test(accepts, 'hook.onDriverMismatch', 'fail');
test(accepts, 'hook.onDriverMismatch', 'rescan');
test(refuses, 'hook.onDriverMismatch', 'retry', 'must be one of "fail", "rescan"');
test(refuses, 'hook.onDriverMismatch', 'FAIL', 'must be one of "fail", "rescan"');
for (const level of ['error', 'warn', 'info', 'debug']) test(accepts, 'log.level', level);
test(refuses, 'log.level', 'verbose', 'must be one of "error", "warn", "info", "debug"');
test(accepts, 'log.format', 'json');
test(refuses, 'log.format', 'yaml', 'must be one of "text", "json"');
test(accepts, 'log.syslog', '/run/systemd/journal/dev-log');
test(accepts, 'log.syslog', '');
test(refuses, 'log.syslog', 'dev/log', 'must be an absolute path or ""');

// --- structure problems ---

const structure = test.macro({
  exec(t, text: string, problems: string[]) {
    t.deepEqual(parseError(text).problems, problems);
  },
  title: (_, text: string) => `problems of ${text}`,
});
test(structure, '{bogus: 1}', ['bogus: unknown setting']);
test(structure, '{cdi: {enable: true}}', ['cdi.enable: unknown setting']);
test(structure, '{Manifest: "/x"}', ['Manifest: unknown setting']);
test(structure, '{watch: true}', ['watch: must be an object']);
test(structure, '{log: null}', ['log: must be an object']);
test(structure, '{hook: ["fail"]}', ['hook: must be an object']);
test(structure, '{__proto__: {manifest: "/x"}}', ['__proto__: unknown setting']);
test(structure, '[]', ['must be an object']);
test(structure, 'null', ['must be an object']);
test(structure, '"/run/oci-gpu/manifest.json"', ['must be an object']);
test(structure, '42', ['must be an object']);

test('every problem is reported, each with its dot-path', (t) => {
  const error = parseError('{manifest: "rel", cdi: {kind: "x", extra: 1}, watch: {stableScans: 0}, log: {level: "loud"}, typo: 1}');
  t.deepEqual([...error.problems].sort(), [
    'cdi.extra: unknown setting',
    'cdi.kind: must look like vendor.com/class',
    'log.level: must be one of "error", "warn", "info", "debug"',
    'manifest: must be an absolute path',
    'typo: unknown setting',
    'watch.stableScans: must be an integer from 1 to 10',
  ]);
  t.is(error.what, `config "${SOURCE}"`);
  t.regex(error.message, /^config "\/etc\/oci-gpu\/config\.json5": .*\(and 3 more\)$/);
  t.false(error.message.includes('\n'));
});

test('a syntax error is a ParseError with the position and the JSON5 error as cause', (t) => {
  const error = parseError('{\n  manifest: "/x",\n  cdi: { enabled: tru }\n}');
  t.is(error.problems.length, 1);
  t.regex(error.problems[0]!, /3:\d+/);
  t.false(error.problems[0]!.startsWith('JSON5:'));
  t.truthy(error.cause);
  t.regex(error.message, /^config "\/etc\/oci-gpu\/config\.json5": /);
});

test('a truncated file is a ParseError, not defaults', (t) => {
  t.regex(parseError('{cdi: {enabled: false}').problems[0]!, /end of input/);
  t.regex(parseError('').problems[0]!, /end of input/);
});
