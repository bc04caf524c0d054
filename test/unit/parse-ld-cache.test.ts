import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ldCacheArch, parseLdCache, type LdCacheArch, type LdCacheEntry } from '../../src/core/parse/parse-ld-cache.js';
import { ParseError } from '../../src/errors.js';
import { FIXTURES } from '../helpers/paths.js';

const FORMATS = ['new', 'old', 'compat'] as const;
type Layout = (typeof FORMATS)[number];

function fixture(format: Layout): Uint8Array {
  return new Uint8Array(readFileSync(path.join(FIXTURES, 'ld-cache', `${format}.cache`)));
}

const HWCAP_EXTENSION_INDEX_0 = 1n << 62n;

// What `ldconfig -p` printed for the fixtures (see test/fixtures/ld-cache/README.md).
const FIXTURE_ENTRIES: LdCacheEntry[] = [
  { name: 'libfoo.so.1', path: '/opt/gpu/libx32/libfoo.so.1', flags: 0x0803, arch: 'x32', hwcap: 0n },
  {
    name: 'libfoo.so.1',
    path: '/opt/gpu/lib/glibc-hwcaps/x86-64-v3/libfoo.so.1.2.3',
    flags: 0x0303,
    arch: 'x86_64',
    hwcap: HWCAP_EXTENSION_INDEX_0,
  },
  { name: 'libfoo.so.1', path: '/opt/gpu/lib/libfoo.so.1', flags: 0x0303, arch: 'x86_64', hwcap: 0n },
  { name: 'libfoo.so.1', path: '/opt/gpu/lib32/libfoo.so.1', flags: 0x0001, arch: 'other', hwcap: 0n },
  { name: 'libbaz.so.3', path: '/opt/gpu/lib/libbaz.so.3', flags: 0x0303, arch: 'x86_64', hwcap: 0n },
  { name: 'libbar.so.2', path: '/opt/gpu/lib/libbar.so.2', flags: 0x0303, arch: 'x86_64', hwcap: 0n },
  { name: 'libbar.so.2', path: '/opt/gpu/lib32/libbar.so.2', flags: 0x0003, arch: 'i386', hwcap: 0n },
];
const withoutHwcap = (entries: LdCacheEntry[]): LdCacheEntry[] => entries.map(({ hwcap: _, ...rest }) => rest);

// --- a writer for the layouts of glibc's dl-cache.h, for cases ldconfig on this host cannot produce ---

interface SynthEntry {
  name: string;
  path: string;
  flags: number;
  hwcap?: bigint;
}

const enc = new TextEncoder();

function strings(entries: SynthEntry[]): { table: Uint8Array; keys: number[]; values: number[] } {
  const parts: Uint8Array[] = [];
  const keys: number[] = [];
  const values: number[] = [];
  let size = 0;
  const add = (s: string): number => {
    const at = size;
    const bytes = enc.encode(`${s}\0`);
    parts.push(bytes);
    size += bytes.length;
    return at;
  };
  for (const e of entries) {
    keys.push(add(e.name));
    values.push(add(e.path));
  }
  const table = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    table.set(p, at);
    at += p.length;
  }
  return { table, keys, values };
}

function ascii(view: Uint8Array, at: number, text: string): void {
  for (let i = 0; i < text.length; i++) view[at + i] = text.charCodeAt(i);
}

/** The new-format image: header, entries, strings; string offsets relative to the header. */
function synthNew(entries: SynthEntry[], endianFlag = 2): Uint8Array {
  const { table, keys, values } = strings(entries);
  const tableAt = 48 + entries.length * 24;
  const out = new Uint8Array(tableAt + table.length);
  const dv = new DataView(out.buffer);
  ascii(out, 0, 'glibc-ld.so.cache1.1');
  dv.setUint32(20, entries.length, true);
  dv.setUint32(24, table.length, true);
  out[28] = endianFlag;
  entries.forEach((e, i) => {
    const at = 48 + i * 24;
    dv.setInt32(at, e.flags, true);
    dv.setUint32(at + 4, tableAt + keys[i]!, true);
    dv.setUint32(at + 8, tableAt + values[i]!, true);
    dv.setBigUint64(at + 16, e.hwcap ?? 0n, true);
  });
  out.set(table, tableAt);
  return out;
}

/** The old-format image, or (compat) old entries whose string table starts with a whole new-format image, as ldconfig -c compat writes. */
function synth(entries: SynthEntry[], layout: Layout): Uint8Array {
  if (layout === 'new') return synthNew(entries);
  const compat = layout === 'compat';
  const old = compat && entries.length % 2 === 1 ? [...entries, entries[entries.length - 1]!] : entries;
  const inner = compat ? synthNew(entries) : undefined;
  const { table, keys, values } = inner ? { table: inner, ...newOffsets(inner, entries.length) } : strings(old);
  const tableAt = 16 + old.length * 12;
  const out = new Uint8Array(tableAt + table.length);
  const dv = new DataView(out.buffer);
  ascii(out, 0, 'ld.so-1.7.0');
  dv.setUint32(12, old.length, true);
  old.forEach((e, i) => {
    const at = 16 + i * 12;
    const j = Math.min(i, entries.length - 1);
    dv.setInt32(at, e.flags, true);
    dv.setUint32(at + 4, keys[compat ? j : i]!, true);
    dv.setUint32(at + 8, values[compat ? j : i]!, true);
  });
  out.set(table, tableAt);
  return out;
}

function newOffsets(image: Uint8Array, n: number): { keys: number[]; values: number[] } {
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const keys: number[] = [];
  const values: number[] = [];
  for (let i = 0; i < n; i++) {
    keys.push(dv.getUint32(48 + i * 24 + 4, true));
    values.push(dv.getUint32(48 + i * 24 + 8, true));
  }
  return { keys, values };
}

function expected(entries: SynthEntry[], layout: Layout): LdCacheEntry[] {
  return entries.map((e) => {
    const out: LdCacheEntry = { name: e.name, path: e.path, flags: e.flags, arch: ldCacheArch(e.flags) };
    if (layout !== 'old') out.hwcap = e.hwcap ?? 0n;
    return out;
  });
}

function patch32(data: Uint8Array, at: number, value: number): Uint8Array {
  const copy = data.slice();
  new DataView(copy.buffer).setUint32(at, value >>> 0, true);
  return copy;
}

function throwsParseError(t: ExecutionContext, data: Uint8Array, source: string, ...fragments: string[]): ParseError {
  const error = t.throws(() => parseLdCache(data, source), { instanceOf: ParseError })!;
  t.true(error.message.includes(`"${source}"`), error.message);
  for (const f of fragments) t.true(error.message.includes(f), `${JSON.stringify(f)} not in ${JSON.stringify(error.message)}`);
  return error;
}

function onlyParseErrors(data: Uint8Array): void {
  try {
    parseLdCache(data, 'prop');
  } catch (error) {
    if (!(error instanceof ParseError)) throw error;
  }
}

// --- real caches from ldconfig ---

test('new format from ldconfig -c new: every entry, in file order, with hwcap', (t) => {
  t.deepEqual(parseLdCache(fixture('new'), 'new.cache'), FIXTURE_ENTRIES);
});

test('old format from ldconfig -c old: same entries, no hwcap', (t) => {
  t.deepEqual(parseLdCache(fixture('old'), 'old.cache'), withoutHwcap(FIXTURE_ENTRIES));
});

test('compat layout: the new-format entries win over the padded old ones', (t) => {
  const data = fixture('compat');
  t.is(new DataView(data.buffer).getUint32(12, true), 8, 'ldconfig pads the old part to an even count');
  t.deepEqual(parseLdCache(data, 'compat.cache'), FIXTURE_ENTRIES);
});

test('a view into a larger buffer (as Buffer pools hand out) parses the same', (t) => {
  for (const format of FORMATS) {
    const data = fixture(format);
    const big = new Uint8Array(data.length + 13);
    big.set(data, 5);
    t.deepEqual(parseLdCache(big.subarray(5, 5 + data.length), format), parseLdCache(data, format));
  }
});

test('this host: /etc/ld.so.cache has libc.so.6 for x86_64', (t) => {
  if (process.platform !== 'linux' || process.arch !== 'x64' || !existsSync('/etc/ld.so.cache')) {
    t.pass('not an x86-64 Linux host with /etc/ld.so.cache');
    return;
  }
  const entries = parseLdCache(new Uint8Array(readFileSync('/etc/ld.so.cache')), '/etc/ld.so.cache');
  const libc = entries.filter((e) => e.name === 'libc.so.6' && e.arch === 'x86_64');
  t.true(libc.length > 0);
  t.true(libc.every((e) => e.path.startsWith('/') && e.path.endsWith('libc.so.6')), libc.map((e) => e.path).join(', '));
});

test('real H200 host cache (test/fixtures/real-h200): matches the `ldconfig -p` taken with it, in order', (t) => {
  const dir = path.join(FIXTURES, 'real-h200');
  const entries = parseLdCache(new Uint8Array(readFileSync(path.join(dir, 'ld.so.cache'))), 'real-h200/ld.so.cache');
  t.true(entries.every((e) => e.arch === 'x86_64' && e.flags === 0x0303 && e.hwcap === 0n));
  // facts.txt: "+ ldconfig -p" then "+ grep -Ei 'nvidia|cuda|nvcuvid|vdpau|GLX|EGL|GLES'" then its output.
  const facts = readFileSync(path.join(dir, 'facts.txt'), 'utf8').split('\n');
  const start = facts.findIndex((line, i) => line === '+ ldconfig -p' && facts[i + 1]?.startsWith("+ grep -Ei 'nvidia|cuda"));
  t.true(start >= 0);
  const printed: string[] = [];
  for (let i = start + 2; i < facts.length && !facts[i]!.startsWith('+ '); i++) printed.push(facts[i]!);
  t.true(printed.length > 100);
  const grep = /nvidia|cuda|nvcuvid|vdpau|GLX|EGL|GLES/i;
  const ours = entries
    .map((e) => `\t${e.name} (libc6,x86-64) => ${e.path}`)
    .filter((line) => grep.test(line));
  t.deepEqual(ours, printed);
  t.truthy(entries.find((e) => e.name === 'libcuda.so.1' && e.path === '/usr/local/nvidia/lib64/libcuda.so.1'));
});

// --- flags ---

const archOf = test.macro({
  exec(t, flags: number, arch: LdCacheArch) {
    t.is(ldCacheArch(flags), arch);
  },
  title: (_, flags: number, arch: LdCacheArch) => `flags 0x${flags.toString(16).padStart(4, '0')} is ${arch}`,
});
test(archOf, 0x0303, 'x86_64');
test(archOf, 0x0003, 'i386');
test(archOf, 0x0803, 'x32');
test(archOf, 0x0a03, 'aarch64');
test(archOf, 0x0001, 'other');
test(archOf, 0x0002, 'other');
test(archOf, 0x0000, 'other');
test(archOf, 0x0301, 'other');
test(archOf, 0x0903, 'other');
test(archOf, 0x0503, 'other');
test(archOf, -1, 'other');

const aarch64: SynthEntry[] = [
  { name: 'libcuda.so.1', path: '/usr/lib/aarch64-linux-gnu/libcuda.so.1', flags: 0x0a03 },
  { name: 'libc.so.6', path: '/lib/aarch64-linux-gnu/libc.so.6', flags: 0x0a03 },
  { name: 'libnvidia-ml.so.1', path: '/usr/lib/aarch64-linux-gnu/libnvidia-ml.so.1', flags: 0x0a03 },
];

for (const layout of FORMATS) {
  test(`synthesised aarch64 cache, ${layout} layout`, (t) => {
    const entries = parseLdCache(synth(aarch64, layout), `aarch64.${layout}`);
    t.deepEqual(entries, expected(aarch64, layout));
    t.true(entries.every((e) => e.arch === 'aarch64'));
  });
}

test('the synthesiser agrees with ldconfig: it reproduces the parse of each fixture', (t) => {
  const entries: SynthEntry[] = FIXTURE_ENTRIES.map(({ name, path: p, flags, hwcap }) => ({ name, path: p, flags, hwcap: hwcap! }));
  t.deepEqual(parseLdCache(synth(entries, 'new'), 'synth'), FIXTURE_ENTRIES);
  t.deepEqual(parseLdCache(synth(entries, 'compat'), 'synth'), FIXTURE_ENTRIES);
  t.deepEqual(parseLdCache(synth(entries, 'old'), 'synth'), withoutHwcap(FIXTURE_ENTRIES));
});

test('an empty cache of each layout has no entries', (t) => {
  for (const layout of FORMATS) t.deepEqual(parseLdCache(synth([], layout), layout), []);
});

test('a new header only 4-aligned after the old entries (odd count, as 32-bit ldconfig wrote it) is found', (t) => {
  const inner = synthNew(aarch64);
  const { keys, values } = newOffsets(inner, aarch64.length);
  const out = new Uint8Array(16 + 3 * 12 + inner.length);
  const dv = new DataView(out.buffer);
  ascii(out, 0, 'ld.so-1.7.0');
  dv.setUint32(12, 3, true);
  aarch64.forEach((e, i) => {
    dv.setInt32(16 + i * 12, e.flags, true);
    dv.setUint32(16 + i * 12 + 4, keys[i]!, true);
    dv.setUint32(16 + i * 12 + 8, values[i]!, true);
  });
  out.set(inner, 52);
  t.deepEqual(parseLdCache(out, 'odd'), expected(aarch64, 'new'));
});

test('strings that are not UTF-8 do not throw', (t) => {
  const data = synth([{ name: 'libx.so.1', path: '/opt/x/libx.so.1', flags: 0x0303 }], 'new');
  const at = data.indexOf(0x78 /* x */, 48 + 24);
  data[at] = 0xff;
  t.is(parseLdCache(data, 'latin')[0]!.name, 'lib\ufffd.so.1');
});

// --- malformed input: always ParseError, naming the source ---

test('empty input', (t) => {
  throwsParseError(t, new Uint8Array(0), 'empty.cache', 'empty');
});

const badStart = test.macro({
  exec(t, text: string, fragment: string) {
    throwsParseError(t, enc.encode(text), 'bad.cache', fragment);
  },
  title: (_, text: string) => `rejects a file starting ${JSON.stringify(text.slice(0, 24))}`,
});
test(badStart, 'hello, world! this is not a cache', 'bad magic');
test(badStart, '\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0', 'bad magic');
test(badStart, 'ld.so-1.7', 'bad magic');
test(badStart, 'ld.so-1.7.0', 'truncated');
test(badStart, 'glibc-ld.so.cache1.0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0', 'unsupported version');
test(badStart, 'glibc-ld.so.cache1.1', 'truncated');

for (const format of FORMATS) {
  test(`${format}: every truncation throws ParseError`, (t) => {
    const data = fixture(format);
    for (let n = 0; n < data.length; n++) {
      const error = t.throws(() => parseLdCache(data.subarray(0, n), `${format}@${n}`), { instanceOf: ParseError }, `prefix ${n}`);
      t.true(error?.message.includes(`"${format}@${n}"`));
    }
  });
}

test('byte-swapped (big-endian) new-format cache', (t) => {
  const data = fixture('new').slice();
  data[28] = 3;
  throwsParseError(t, data, 'be.cache', 'big-endian');
});

test('new-format cache that ldconfig marked invalid', (t) => {
  const data = fixture('new').slice();
  data[28] = 1;
  throwsParseError(t, data, 'inv.cache', 'invalid');
});

test('endianness unset (pre-2.33 ldconfig) reads as little-endian; swapped nlibs is named', (t) => {
  const data = fixture('new').slice();
  data[28] = 0;
  t.deepEqual(parseLdCache(data, 'unset.cache'), FIXTURE_ENTRIES);
  const swapped = patch32(data, 20, 0x07000000);
  throwsParseError(t, swapped, 'unset-be.cache', 'byte-swapped');
});

test('byte-swapped old-format cache', (t) => {
  const data = fixture('old');
  throwsParseError(t, patch32(data, 12, 0x07000000), 'old-be.cache', 'byte-swapped');
});

test('compat: big-endian flag in the inner new header', (t) => {
  const data = fixture('compat').slice();
  data[0x70 + 28] = 3;
  throwsParseError(t, data, 'compat-be.cache', 'new header at 0x70', 'big-endian');
});

test('entry counts past the end of the file', (t) => {
  throwsParseError(t, patch32(fixture('new'), 20, 0xffffffff), 'n.cache', 'entries need');
  throwsParseError(t, patch32(fixture('old'), 12, 0xffffffff), 'o.cache', 'entries need');
  throwsParseError(t, patch32(fixture('new'), 20, 15), 'n15.cache', 'len_strings');
});

test('len_strings past the end of the file', (t) => {
  throwsParseError(t, patch32(fixture('new'), 24, 0xfffffff0), 'ls.cache', 'len_strings');
});

const badOffset = test.macro({
  exec(t, format: Layout, at: number, value: number, fragment: string) {
    throwsParseError(t, patch32(fixture(format), at, value), `${format}.cache`, fragment);
  },
  title: (_, format: Layout, at: number, value: number) => `${format}: 0x${value.toString(16)} written at 0x${at.toString(16)}`,
});
// New entries start at 48 (+4 key, +8 value); old at 16; compat's new header is at 0x70.
test(badOffset, 'new', 48 + 4, 0xfffffff0, 'entries[0].key: string offset 0xfffffff0 is outside the string table');
test(badOffset, 'new', 48 + 24 + 8, 547, 'entries[1].value');
test(badOffset, 'new', 48 + 4, 0, 'entries[0].key: string offset 0x0 is outside');
test(badOffset, 'new', 48 + 4, 47, 'is outside the string table');
test(badOffset, 'old', 16 + 4, 0xffffffff, 'entries[0].key');
test(badOffset, 'old', 16 + 12 * 6 + 8, 319, 'entries[6].value');
test(badOffset, 'compat', 0x70 + 48 + 4, 0x10000, 'entries[0].key');
test(badOffset, 'compat', 16 + 4, 0x10000, 'oldEntries[0].key');
test(badOffset, 'compat', 16 + 12 * 7 + 8, 0x10000, 'oldEntries[7].value');

const badExtension = test.macro({
  exec(t, format: Layout, field: (ext: number) => number, value: (ext: number) => number, fragment: string) {
    const data = fixture(format);
    const base = format === 'compat' ? 0x70 : 0;
    const ext = new DataView(data.buffer).getUint32(base + 32, true);
    t.true(ext > 0 && ext % 4 === 0, 'ldconfig 2.36 writes an extension directory');
    throwsParseError(t, patch32(data, field(ext), value(ext)), `${format}.cache`, fragment);
  },
  title: (_, format: Layout, _f, _v, fragment: string) => `${format}: extension directory ${fragment}`,
});
for (const format of ['new', 'compat'] as const) {
  const header = format === 'compat' ? 0x70 + 32 : 32;
  test(badExtension, format, () => header, (ext) => ext + 1, 'multiple of 4');
  test(badExtension, format, () => header, () => 0x10000, 'is past the end of the file');
  test(badExtension, format, () => header, (ext) => ext + 4, 'bad magic');
  test(badExtension, format, (ext) => ext + 4, () => 0x10000, 'sections run past the end');
  test(badExtension, format, (ext) => ext + 8 + 8, () => 0x10000, 'extensions.sections[0]');
  test(badExtension, format, (ext) => ext + 8 + 16 + 12, () => 0xffffffff, 'extensions.sections[1]');
}

test('unterminated last string (new): its NUL replaced', (t) => {
  const data = fixture('new').slice();
  const dv = new DataView(data.buffer);
  const stringsEnd = 48 + dv.getUint32(20, true) * 24 + dv.getUint32(24, true);
  t.is(data[stringsEnd - 1], 0);
  data[stringsEnd - 1] = 0x41;
  throwsParseError(t, data, 'unterminated.cache', 'not NUL-terminated');
});

test('unterminated last string (old): its NUL replaced', (t) => {
  const data = fixture('old').slice();
  data[data.length - 1] = 0x41;
  throwsParseError(t, data, 'unterminated.cache', 'not NUL-terminated');
});

test('a string may not run out of the string table into the extension data', (t) => {
  const entries: SynthEntry[] = [{ name: 'liba.so.1', path: '/a/liba.so.1', flags: 0x0303 }];
  const data = synthNew(entries);
  const longer = new Uint8Array(data.length + 4);
  longer.set(data);
  longer[data.length - 1] = 0x41;
  throwsParseError(t, longer, 'runs-on.cache', 'not NUL-terminated');
});

test('every problem is listed', (t) => {
  let data = patch32(fixture('new'), 48 + 4, 0xfffffff0);
  data = patch32(data, 48 + 24 * 2 + 8, 0xfffffff0);
  const error = throwsParseError(t, data, 'two.cache');
  t.deepEqual(
    error.problems.map((p) => p.split(':')[0]),
    ['entries[0].key', 'entries[2].value'],
  );
});

// --- properties ---

test('property: random bytes only ever throw ParseError', (t) => {
  const prefixes = ['', 'ld.so-1.7.0\0', 'glibc-ld.so.cache1.1'].map((p) => enc.encode(p));
  fc.assert(
    fc.property(fc.constantFrom(...prefixes), fc.uint8Array({ maxLength: 600 }), (prefix, tail) => {
      const data = new Uint8Array(prefix.length + tail.length);
      data.set(prefix);
      data.set(tail, prefix.length);
      onlyParseErrors(data);
    }),
    { numRuns: 3000 },
  );
  t.pass();
});

test('property: random mutations of real caches only ever throw ParseError', (t) => {
  const images = FORMATS.map(fixture);
  const byteWrite = fc.record({ kind: fc.constant('u8' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 0xff }) });
  const wordWrite = fc.record({
    kind: fc.constant('u32' as const),
    at: fc.nat(),
    value: fc.oneof(fc.nat(0xffff), fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(0, 0xffffffff, 0x80000000)),
  });
  fc.assert(
    fc.property(
      fc.constantFrom(...images),
      fc.array(fc.oneof(byteWrite, wordWrite), { minLength: 1, maxLength: 6 }),
      fc.option(fc.nat(), { nil: undefined }),
      (image, writes, cut) => {
        const data = image.slice();
        const dv = new DataView(data.buffer);
        for (const w of writes) {
          if (w.kind === 'u8') data[w.at % data.length] = w.value;
          else dv.setUint32(w.at % (data.length - 3), w.value, true);
        }
        onlyParseErrors(cut === undefined ? data : data.subarray(0, cut % (data.length + 1)));
      },
    ),
    { numRuns: 5000 },
  );
  t.pass();
});

test('property: any entry list round-trips through each layout', (t) => {
  const text = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789._-/+é'), maxLength: 40 });
  const entry = fc.record({
    name: text,
    path: text,
    flags: fc.oneof(fc.constantFrom(0x0303, 0x0003, 0x0803, 0x0a03, 0x0001), fc.integer({ min: -0x80000000, max: 0x7fffffff })),
    hwcap: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  });
  fc.assert(
    fc.property(fc.array(entry, { maxLength: 12 }), fc.constantFrom(...FORMATS), (entries, layout) => {
      assert.deepEqual(parseLdCache(synth(entries, layout), 'roundtrip'), expected(entries, layout));
    }),
    { numRuns: 500 },
  );
  t.pass();
});
