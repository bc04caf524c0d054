// Shared pieces of the fuzz tests (test/fuzz/*.test.ts): JSON values with the traps a hostile or
// broken writer produces, structural mutations of a real document, byte-level damage of its text,
// and the one property every parser and entry point must keep: a failure is one of our error
// classes (src/errors.ts) and formats to exactly one line.
import fc from 'fast-check';
import { errorLine, formatError, OciGpuError } from '../../src/errors.js';

/** Strings that mean something to our parsers or break naive code: paths, selectors, keys of Object.prototype, control characters. */
export const TRAP_STRINGS = [
  '',
  ' ',
  '/',
  '..',
  '/..',
  'rootfs',
  '/dev/nvidia0',
  '/dev/../etc/passwd',
  'all',
  'none',
  'void',
  '0',
  '1',
  '3',
  '-1',
  '0,1',
  '0,0',
  ',',
  'GPU-2f6b0c1e-7a3d-4e59-9b18-5c0d4a7e3b21',
  '0000:86:00.0',
  'nvidia.com/gpu=1',
  'nvidia.com/gpu=all',
  'utility,compute',
  'graphics',
  'cuda>=99.0',
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  'a\nb',
  'line one\r\nline two',
  '\u0000',
  '\u001b[31mred',
  '\u2028',
  'é',
  '\ud800',
  'x'.repeat(5000),
];

export const trapString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...TRAP_STRINGS) },
  { weight: 2, arbitrary: fc.string({ maxLength: 20 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
);

export const trapNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(0, -0, 1, -1, 195, 255, 0.5, 1e21, -1e21, Number.MAX_SAFE_INTEGER, 2 ** 53 + 2, 4294967296),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

/** Any JSON value (what JSON.parse can return), with trap strings as keys and leaves. */
export const jsonValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    trapNumber,
    trapString,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(trapString, tie('value'), { maxKeys: 4 }),
  ),
})).value;

// ------------------------------------------------------------------------------------- mutations

export type Path = (string | number)[];

/** One structural edit of a JSON document. */
export type Mutation =
  | { op: 'set'; path: Path; value: unknown }
  | { op: 'delete'; path: Path }
  | { op: 'wrap'; path: Path } // value → [value]
  | { op: 'stringify'; path: Path }; // value → its JSON text

/** Every path to a value in `doc` (objects and arrays included), breadth first. */
export function pathsOf(doc: unknown, limit = 4000): Path[] {
  const out: Path[] = [];
  const queue: { value: unknown; path: Path }[] = [{ value: doc, path: [] }];
  while (queue.length && out.length < limit) {
    const { value, path } = queue.shift()!;
    out.push(path);
    if (Array.isArray(value)) value.forEach((v, i) => queue.push({ value: v, path: [...path, i] }));
    else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) queue.push({ value: v, path: [...path, k] });
  }
  return out;
}

/** Mutations at the document's own paths and at `extra` paths (which may not exist yet: parents are made). */
export function mutations(doc: unknown, extra: Path[] = []): fc.Arbitrary<Mutation> {
  const path = fc.constantFrom(...pathsOf(doc), ...extra);
  return fc.oneof(
    { weight: 4, arbitrary: fc.record({ op: fc.constant('set' as const), path, value: jsonValue }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), path }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('wrap' as const), path }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('stringify' as const), path }) },
  );
}

/** Returns a deep copy of `doc` with the mutations applied in order; an edit under a non-container is skipped. */
export function applyMutations(doc: unknown, muts: Mutation[]): unknown {
  let root: unknown = structuredClone(doc);
  for (const m of muts) {
    if (m.path.length === 0) {
      if (m.op === 'set') root = structuredClone(m.value);
      else if (m.op === 'delete') root = undefined;
      else if (m.op === 'wrap') root = [root];
      else root = JSON.stringify(root) ?? null;
      continue;
    }
    let parent: any = root;
    let ok = true;
    for (const key of m.path.slice(0, -1)) {
      if (parent === null || typeof parent !== 'object') {
        ok = false;
        break;
      }
      // defineProperty: a "__proto__" key must become an own property, as JSON.parse makes it.
      if (!Object.prototype.hasOwnProperty.call(parent, key) || parent[key] === null || typeof parent[key] !== 'object') {
        if (m.op !== 'set') {
          ok = false;
          break;
        }
        Object.defineProperty(parent, key, { value: typeof key === 'number' ? [] : {}, enumerable: true, writable: true, configurable: true });
      }
      parent = parent[key];
    }
    if (!ok || parent === null || typeof parent !== 'object') continue;
    const last = m.path.at(-1)!;
    const has = Object.prototype.hasOwnProperty.call(parent, last);
    if (m.op === 'delete') {
      if (Array.isArray(parent) && typeof last === 'number') parent.splice(last, 1);
      else delete parent[last];
    } else {
      const value = m.op === 'set' ? structuredClone(m.value) : !has ? undefined : m.op === 'wrap' ? [parent[last]] : (JSON.stringify(parent[last]) ?? null);
      if (m.op !== 'set' && !has) continue;
      Object.defineProperty(parent, last, { value, enumerable: true, writable: true, configurable: true });
    }
  }
  return root;
}

// ---------------------------------------------------------------------------------- text damage

/** Damage to a serialised document: a cut, overwritten bytes, inserted bytes. */
export interface TextDamage {
  cut: number | undefined;
  writes: { at: number; byte: number }[];
  inserts: { at: number; text: string }[];
}

export const textDamage: fc.Arbitrary<TextDamage> = fc.record({
  cut: fc.option(fc.nat(), { nil: undefined }),
  writes: fc.array(fc.record({ at: fc.nat(), byte: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(...'{}[]",:\\\n0'.split('').map((c) => c.charCodeAt(0)))) }), { maxLength: 4 }),
  inserts: fc.array(fc.record({ at: fc.nat(), text: fc.oneof(fc.constantFrom('{', '}', '[', ']', ',', '"', '\\', ':', 'null', '//', '/*', '\ufeff', '\u0000'), fc.string({ maxLength: 6 })) }), {
    maxLength: 3,
  }),
});

/** Applies damage to text, as bytes (so invalid UTF-8 can come out of it). */
export function damage(text: string, d: TextDamage): Buffer {
  let buf = Buffer.from(text, 'utf8');
  for (const ins of d.inserts) {
    const at = buf.length ? ins.at % (buf.length + 1) : 0;
    buf = Buffer.concat([buf.subarray(0, at), Buffer.from(ins.text, 'utf8'), buf.subarray(at)]);
  }
  for (const w of d.writes) if (buf.length) buf[w.at % buf.length] = w.byte;
  if (d.cut !== undefined) buf = buf.subarray(0, d.cut % (buf.length + 1));
  return buf;
}

// ------------------------------------------------------------------------------------ properties

/** Throws (with what was wrong) unless `error` is ours and prints as one line, as the entry points print it. */
export function assertOurError(error: unknown, program = 'oci-gpu-hook'): void {
  if (!(error instanceof OciGpuError)) {
    const e = error as Error;
    throw new Error(`not an oci-gpu error class: ${e?.constructor?.name}: ${e?.message}\n${e?.stack ?? ''}`);
  }
  assertOneLine(errorLine(program, error));
  if (formatError(error).includes('\n') || formatError(error).includes('\r')) throw new Error(`formatError gives more than one line: ${JSON.stringify(formatError(error))}`);
}

/** Throws unless `text` is exactly one non-empty line ending in "\n" (no other "\n", and no "\r" that would rewrite it on a terminal). */
export function assertOneLine(text: string): void {
  if (!text.endsWith('\n') || text.length < 2 || /[\n\r]/.test(text.slice(0, -1))) {
    throw new Error(`not exactly one line: ${JSON.stringify(text.length > 400 ? `${text.slice(0, 400)}...` : text)}`);
  }
}

/** Calls fn; returns its result, or undefined after checking that what it threw is ours and one line. */
export function ourErrorsOnly<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (error) {
    assertOurError(error);
    return undefined;
  }
}

/** How many runs each property makes: FUZZ_RUNS overrides (e.g. FUZZ_RUNS=100000 for a long soak). */
export function runs(defaultRuns: number): number {
  const n = Number(process.env['FUZZ_RUNS']);
  return Number.isInteger(n) && n > 0 ? n : defaultRuns;
}

/** A counterexample value, readable and short: buffers as text, long strings cut. */
export function preview(value: unknown, max = 1500): string {
  const text = JSON.stringify(value, (_k, v) => {
    if (v && typeof v === 'object' && v.type === 'Buffer' && Array.isArray(v.data)) return `<bytes ${Buffer.from(v.data).toString('utf8')}>`;
    if (typeof v === 'bigint') return `${v}n`;
    return v;
  });
  return text === undefined ? String(value) : text.length > max ? `${text.slice(0, max)}... (${text.length} chars)` : text;
}

/**
 * Runs a property like fc.assert, but fails with a short report (the first error line, seed, path,
 * and the shrunk counterexample cut to a readable size) instead of fast-check's full dump.
 */
export async function checkProperty<Ts extends [unknown, ...unknown[]]>(
  property: fc.IAsyncProperty<Ts> | fc.IProperty<Ts>,
  params: fc.Parameters<Ts>,
): Promise<void> {
  const details = await fc.check(property as fc.IAsyncProperty<Ts>, params);
  if (!details.failed) return;
  const error = details.errorInstance as Error | undefined;
  const message = (error?.message ?? String(details.errorInstance)).split('\n').slice(0, 6).join('\n');
  throw new Error(
    `property failed after ${details.numRuns} runs (seed ${details.seed}, path "${details.counterexamplePath}", shrunk ${details.numShrinks} times):\n` +
      `${message}\ncounterexample: ${preview(details.counterexample)}`,
  );
}
