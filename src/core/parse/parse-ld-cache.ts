// Layouts from glibc sysdeps/generic/dl-cache.h; only little-endian caches (what x86 and aarch64 write) are read.
import { ParseError } from '../../errors.js';

/** One library in an ld.so.cache: soname, full path, glibc flag word, hwcap (new format only) and decoded ABI. */
export interface LdCacheEntry {
  name: string;
  path: string;
  flags: number;
  hwcap?: bigint;
  arch: LdCacheArch;
}

/** ABI of a cache entry as decoded from its flags; 'other' covers non-libc6 types and ABIs we do not run. */
export type LdCacheArch = 'x86_64' | 'i386' | 'x32' | 'aarch64' | 'other';

const OLD_MAGIC = 'ld.so-1.7.0';
const OLD_HEADER_SIZE = 16;
const OLD_ENTRY_SIZE = 12;
const NEW_MAGIC = 'glibc-ld.so.cache1.1';
const NEW_HEADER_SIZE = 48;
const NEW_ENTRY_SIZE = 24;
const EXTENSION_MAGIC = 0xeaa42174;
const EXTENSION_HEADER_SIZE = 8;
const EXTENSION_SECTION_SIZE = 16;

const FLAG_TYPE_MASK = 0x00ff;
const FLAG_ELF_LIBC6 = 0x0003;
const FLAG_REQUIRED_MASK = 0xff00;
const REQUIRED_TO_ARCH: ReadonlyMap<number, LdCacheArch> = new Map([
  [0x0000, 'i386'],
  [0x0300, 'x86_64'],
  [0x0800, 'x32'],
  [0x0a00, 'aarch64'],
]);

const ENDIAN_UNSET = 0;
const ENDIAN_INVALID = 1;
const ENDIAN_BIG = 3;

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** Decodes the ABI from an entry's flags (type must be ELF_LIBC6; a bare libc6 is i386, as on x86 hosts). */
export function ldCacheArch(flags: number): LdCacheArch {
  if ((flags & FLAG_TYPE_MASK) !== FLAG_ELF_LIBC6) return 'other';
  return REQUIRED_TO_ARCH.get(flags & FLAG_REQUIRED_MASK) ?? 'other';
}

interface RawEntry {
  flags: number;
  key: number;
  value: number;
  hwcap?: bigint;
}

interface StringTable {
  start: number;
  end: number;
}

class Reader {
  readonly view: DataView;
  constructor(readonly data: Uint8Array) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }
  get length(): number {
    return this.data.byteLength;
  }
  hasAscii(offset: number, text: string): boolean {
    if (offset < 0 || offset + text.length > this.length) return false;
    for (let i = 0; i < text.length; i++) if (this.data[offset + i] !== text.charCodeAt(i)) return false;
    return true;
  }
  u32(offset: number): number {
    return this.view.getUint32(offset, true);
  }
  i32(offset: number): number {
    return this.view.getInt32(offset, true);
  }
  u64(offset: number): bigint {
    return this.view.getBigUint64(offset, true);
  }
}

const hex = (n: number): string => `0x${n.toString(16)}`;
const swap32 = (n: number): number =>
  (((n & 0xff) << 24) | ((n & 0xff00) << 8) | ((n >>> 8) & 0xff00) | (n >>> 24)) >>> 0;

type Fail = (...problems: string[]) => never;

/**
 * Parses an ld.so.cache image (old, new, or old-then-new "compat" layout) into the entries ld.so would use, in file order;
 * throws ParseError naming `source` on any malformation.
 */
export function parseLdCache(data: Uint8Array, source: string): LdCacheEntry[] {
  const what = `ld.so cache "${source}"`;
  const fail: Fail = (...problems) => {
    throw new ParseError(what, problems);
  };
  const r = new Reader(data);
  if (r.length === 0) fail('file is empty');

  if (r.hasAscii(0, NEW_MAGIC)) {
    const { entries, problems } = readNew(r, 0, fail);
    return problems.length > 0 ? fail(...problems) : entries;
  }
  if (!r.hasAscii(0, OLD_MAGIC)) {
    if (r.hasAscii(0, 'glibc-ld.so.cache')) fail(`header: unsupported version (expected "${NEW_MAGIC}")`);
    fail(`header: bad magic (expected "${OLD_MAGIC}" or "${NEW_MAGIC}")`);
  }
  if (r.length < OLD_HEADER_SIZE) fail(`header: truncated (${r.length} of ${OLD_HEADER_SIZE} bytes)`);

  const nlibs = r.u32(12);
  const entriesEnd = OLD_HEADER_SIZE + nlibs * OLD_ENTRY_SIZE;
  if (entriesEnd > r.length) {
    if (OLD_HEADER_SIZE + swap32(nlibs) * OLD_ENTRY_SIZE <= r.length) {
      fail(`header: nlibs ${hex(nlibs)} only fits byte-swapped; big-endian caches are not supported`);
    }
    fail(`header: ${nlibs} entries need ${entriesEnd} bytes, the file has ${r.length}`);
  }
  const raw: RawEntry[] = [];
  for (let i = 0; i < nlibs; i++) {
    const at = OLD_HEADER_SIZE + i * OLD_ENTRY_SIZE;
    raw.push({ flags: r.i32(at), key: r.u32(at + 4), value: r.u32(at + 8) });
  }

  // The new header hides in the old string table: 8-aligned as x86-64 writes it, 4-aligned as some 32-bit ldconfigs did.
  const newAt = [align(entriesEnd, 8), entriesEnd].find((at) => r.hasAscii(at, NEW_MAGIC));
  const old = resolve(r, raw, { start: entriesEnd, end: r.length }, entriesEnd, newAt === undefined ? 'entries' : 'oldEntries');
  if (newAt === undefined) return old.problems.length > 0 ? fail(...old.problems) : old.entries;
  const { entries, problems } = readNew(r, newAt, fail);
  problems.push(...old.problems);
  return problems.length > 0 ? fail(...problems) : entries;
}

function align(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

interface Resolved {
  entries: LdCacheEntry[];
  problems: string[];
}

function readNew(r: Reader, base: number, fail: Fail): Resolved {
  const at = (problem: string): string => (base === 0 ? `header: ${problem}` : `new header at ${hex(base)}: ${problem}`);
  if (r.length - base < NEW_HEADER_SIZE) fail(at(`truncated (${r.length - base} of ${NEW_HEADER_SIZE} bytes)`));

  const endian = r.data[base + 28]! & 3;
  if (endian === ENDIAN_BIG) fail(at('flags say big-endian; byte-swapped caches are not supported'));
  if (endian === ENDIAN_INVALID) fail(at('flags say ldconfig marked the cache invalid'));
  const nlibs = r.u32(base + 20);
  const lenStrings = r.u32(base + 24);
  const entriesEnd = base + NEW_HEADER_SIZE + nlibs * NEW_ENTRY_SIZE;
  if (entriesEnd > r.length) {
    if (endian === ENDIAN_UNSET && base + NEW_HEADER_SIZE + swap32(nlibs) * NEW_ENTRY_SIZE <= r.length) {
      fail(at(`nlibs ${hex(nlibs)} only fits byte-swapped; big-endian caches are not supported`));
    }
    fail(at(`${nlibs} entries need ${entriesEnd - base} bytes, ${r.length - base} are left`));
  }
  const stringsEnd = entriesEnd + lenStrings;
  if (stringsEnd > r.length) fail(at(`len_strings ${lenStrings} runs past the end of the file (${r.length} bytes)`));
  checkExtensions(r, r.u32(base + 32), fail);

  const raw: RawEntry[] = [];
  for (let i = 0; i < nlibs; i++) {
    const e = base + NEW_HEADER_SIZE + i * NEW_ENTRY_SIZE;
    raw.push({ flags: r.i32(e), key: r.u32(e + 4), value: r.u32(e + 8), hwcap: r.u64(e + 16) });
  }
  return resolve(r, raw, { start: entriesEnd, end: stringsEnd }, base, 'entries');
}

// Mirrors glibc's cache_extension_load: ld.so ignores a cache whose extension directory does not fit.
function checkExtensions(r: Reader, offset: number, fail: Fail): void {
  if (offset === 0) return;
  if (offset % 4 !== 0) fail(`header: extension_offset ${hex(offset)} is not a multiple of 4`);
  if (offset + EXTENSION_HEADER_SIZE > r.length) fail(`header: extension_offset ${hex(offset)} is past the end of the file`);
  if (r.u32(offset) !== EXTENSION_MAGIC) fail(`extensions at ${hex(offset)}: bad magic ${hex(r.u32(offset))}`);
  const count = r.u32(offset + 4);
  if (offset + EXTENSION_HEADER_SIZE + count * EXTENSION_SECTION_SIZE > r.length) {
    fail(`extensions at ${hex(offset)}: ${count} sections run past the end of the file`);
  }
  const problems: string[] = [];
  for (let i = 0; i < count; i++) {
    const s = offset + EXTENSION_HEADER_SIZE + i * EXTENSION_SECTION_SIZE;
    const start = r.u32(s + 8);
    const size = r.u32(s + 12);
    if (start + size > r.length) problems.push(`extensions.sections[${i}]: ${hex(start)}+${size} runs past the end of the file`);
  }
  if (problems.length > 0) fail(...problems);
}

function resolve(r: Reader, raw: RawEntry[], table: StringTable, base: number, field: string): Resolved {
  const problems: string[] = [];
  const entries: LdCacheEntry[] = [];
  raw.forEach((e, i) => {
    const name = readString(r, table, base, e.key, `${field}[${i}].key`, problems);
    const path = readString(r, table, base, e.value, `${field}[${i}].value`, problems);
    if (name === undefined || path === undefined) return;
    const entry: LdCacheEntry = { name, path, flags: e.flags, arch: ldCacheArch(e.flags) };
    if (e.hwcap !== undefined) entry.hwcap = e.hwcap;
    entries.push(entry);
  });
  return { entries, problems };
}

function readString(r: Reader, table: StringTable, base: number, offset: number, field: string, problems: string[]): string | undefined {
  const start = base + offset;
  if (start < table.start || start >= table.end) {
    const range = `${hex(table.start - base)}..${hex(table.end - base)}`;
    problems.push(`${field}: string offset ${hex(offset)} is outside the string table ${range}`);
    return undefined;
  }
  const nul = r.data.indexOf(0, start);
  if (nul < 0 || nul >= table.end) {
    problems.push(`${field}: string at ${hex(offset)} is not NUL-terminated within the string table`);
    return undefined;
  }
  return utf8.decode(r.data.subarray(start, nul));
}
