import test from 'ava';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import {
  normalizePciBusId,
  parseDriverVersion,
  parseGpuInformation,
  parseProcDevices,
  type GpuInformation,
} from '../../src/core/parse/parse-proc.js';
import { ParseError } from '../../src/errors.js';
import { FIXTURES } from '../helpers/paths.js';

const SOURCE = '/proc/driver/nvidia/gpus/0000:00:05.0/information';

// Verbatim from an H200 host, tabs included.
const H200 = [
  'Model: \t\t NVIDIA H200',
  'IRQ:   \t\t 0',
  'GPU UUID: \t GPU-91a85f4d-810a-0566-a750-28a78c11edb6',
  'Video BIOS: \t ??.??.??.??.??',
  'Bus Type: \t PCIe',
  'DMA Size: \t 52 bits',
  'DMA Mask: \t 0xfffffffffffff',
  'Bus Location: \t 0000:00:05.0',
  'Device Minor: \t 0',
  'GPU Excluded:\t No',
  '',
].join('\n');

// From test/fixtures/real-h200/facts.txt (`cat -A` there): a later driver adds "GPU Firmware".
const H200_LEASED = 'Model: \t\t NVIDIA H200\nIRQ:   \t\t 41\nGPU UUID: \t GPU-8b472ccd-7f02-9c7a-ca0f-35527f14b320\n' +
  'Video BIOS: \t 96.00.a5.00.1a\nBus Type: \t PCIe\nDMA Size: \t 52 bits\nDMA Mask: \t 0xfffffffffffff\n' +
  'Bus Location: \t 0000:00:06.0\nDevice Minor: \t 0\nGPU Firmware: \t 580.159.04\nGPU Excluded:\t No\n';

const H200_INFO: GpuInformation = {
  model: 'NVIDIA H200',
  uuid: 'GPU-91a85f4d-810a-0566-a750-28a78c11edb6',
  pciBusId: '0000:00:05.0',
  minor: 0,
};

function information(fields: Partial<Record<'Model' | 'GPU UUID' | 'Bus Location' | 'Device Minor', string | null>>): string {
  const base: Record<string, string | null> = {
    Model: 'NVIDIA H200',
    'GPU UUID': H200_INFO.uuid,
    'Bus Location': '0000:00:05.0',
    'Device Minor': '0',
    ...fields,
  };
  return Object.entries(base)
    .filter(([, v]) => v !== null)
    .map(([k, v]) => `${k}: \t ${v}`)
    .join('\n');
}

function parseError(fn: () => unknown): ParseError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ParseError) return error;
    throw error;
  }
  throw new Error('expected a ParseError');
}

function onlyParseErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof ParseError)) throw error;
  }
}

// --- parseGpuInformation ---

test('H200 information file', (t) => {
  t.deepEqual(parseGpuInformation(H200, SOURCE), H200_INFO);
});

test('information file of the leased H200 (with GPU Firmware)', (t) => {
  t.deepEqual(parseGpuInformation(H200_LEASED, SOURCE), {
    model: 'NVIDIA H200',
    uuid: 'GPU-8b472ccd-7f02-9c7a-ca0f-35527f14b320',
    pciBusId: '0000:00:06.0',
    minor: 0,
  });
});

test('CRLF line endings', (t) => {
  t.deepEqual(parseGpuInformation(H200.replace(/\n/g, '\r\n'), SOURCE), H200_INFO);
});

test('no trailing newline, spaces instead of tabs, fields in another order', (t) => {
  const text = ['Device Minor:    7', 'Bus Location: 0000:3B:00.0', 'Model:  Tesla V100-SXM2-16GB', `GPU UUID:${H200_INFO.uuid}`].join('\n');
  t.deepEqual(parseGpuInformation(text, SOURCE), { ...H200_INFO, model: 'Tesla V100-SXM2-16GB', pciBusId: '0000:3b:00.0', minor: 7 });
});

test('an 8-digit domain (as nvidia-smi prints it) is normalised', (t) => {
  t.is(parseGpuInformation(information({ 'Bus Location': '00000000:3B:00.0' }), SOURCE).pciBusId, '0000:3b:00.0');
});

test('a colon inside the model name is kept', (t) => {
  t.is(parseGpuInformation(information({ Model: 'NVIDIA A100: PCIe 80GB' }), SOURCE).model, 'NVIDIA A100: PCIe 80GB');
});

test('the error names the source', (t) => {
  const error = parseError(() => parseGpuInformation('', SOURCE));
  t.is(error.what, `gpu information "${SOURCE}"`);
  t.true(error.message.startsWith(`gpu information "${SOURCE}": `));
});

test('an empty file lists all four fields as missing', (t) => {
  t.deepEqual(parseError(() => parseGpuInformation('', SOURCE)).problems, [
    'Model: missing',
    'GPU UUID: missing',
    'Bus Location: missing',
    'Device Minor: missing',
  ]);
});

const rejects = test.macro({
  exec(t, text: string, problems: string[]) {
    t.deepEqual(parseError(() => parseGpuInformation(text, SOURCE)).problems, problems);
  },
  title: (title) => `rejects ${title}`,
});

test('a missing model', rejects, information({ Model: null }), ['Model: missing']);
test('a missing uuid', rejects, information({ 'GPU UUID': null }), ['GPU UUID: missing']);
test('a missing bus location', rejects, information({ 'Bus Location': null }), ['Bus Location: missing']);
test('a missing minor', rejects, information({ 'Device Minor': null }), ['Device Minor: missing']);
test('an empty model', rejects, information({ Model: '' }), ['Model: empty']);
test('a uuid without the GPU- prefix', rejects, information({ 'GPU UUID': '91a85f4d-810a-0566-a750-28a78c11edb6' }), [
  'GPU UUID: "91a85f4d-810a-0566-a750-28a78c11edb6" is not a GPU UUID',
]);
test('a MIG uuid', rejects, information({ 'GPU UUID': 'MIG-91a85f4d-810a-0566-a750-28a78c11edb6' }), [
  'GPU UUID: "MIG-91a85f4d-810a-0566-a750-28a78c11edb6" is not a GPU UUID',
]);
test('a short uuid', rejects, information({ 'GPU UUID': 'GPU-91a85f4d' }), ['GPU UUID: "GPU-91a85f4d" is not a GPU UUID']);
test('a bad bus location', rejects, information({ 'Bus Location': '3b:00.0' }), ['Bus Location: "3b:00.0" is not a PCI bus id']);
test(
  'several problems at once',
  rejects,
  information({ Model: null, 'GPU UUID': '??', 'Device Minor': 'x' }),
  ['Model: missing', 'GPU UUID: "??" is not a GPU UUID', 'Device Minor: "x" is not an integer in 0..1048575'],
);
test('a repeated uuid', rejects, `${information({})}\nGPU UUID: \t GPU-00000000-0000-0000-0000-000000000000`, ['GPU UUID: given 2 times']);
test('a repeated minor, even with the same value', rejects, `${information({})}\nDevice Minor: \t 0\nDevice Minor: 0`, [
  'Device Minor: given 3 times',
]);

const badMinor = test.macro({
  exec(t, minor: string) {
    t.deepEqual(parseError(() => parseGpuInformation(information({ 'Device Minor': minor }), SOURCE)).problems, [
      `Device Minor: ${JSON.stringify(minor.trim())} is not an integer in 0..1048575`,
    ]);
  },
  title: (_, minor: string) => `rejects minor ${JSON.stringify(minor)}`,
});
for (const minor of ['-1', 'abc', '1048576', '99999999999', '1.5', '1e3', '0x1', '+1', '', ' ', '1 2', '٣', 'NaN', 'Infinity']) {
  test(badMinor, minor);
}

const goodMinor = test.macro({
  exec(t, text: string, minor: number) {
    t.is(parseGpuInformation(information({ 'Device Minor': text }), SOURCE).minor, minor);
  },
  title: (_, text: string) => `accepts minor ${JSON.stringify(text)}`,
});
test(goodMinor, '0', 0);
test(goodMinor, '255', 255);
test(goodMinor, '007', 7);
test(goodMinor, '1048575', 1048575);

test('other keys, repeated or not, are ignored', (t) => {
  const text = `${information({})}\nIRQ: 1\nIRQ: 2\nno colon here\n: empty key\nModel Name: ignored`;
  t.deepEqual(parseGpuInformation(text, SOURCE), H200_INFO);
});

// --- normalizePciBusId ---

const busId = test.macro({
  exec(t, input: string, output: string | null) {
    t.is(normalizePciBusId(input), output);
  },
  title: (_, input: string, output: string | null) => `bus id ${JSON.stringify(input)} → ${String(output)}`,
});
test(busId, '0000:3b:00.0', '0000:3b:00.0');
test(busId, '0000:3B:1F.7', '0000:3b:1f.7');
test(busId, '00000000:3B:00.0', '0000:3b:00.0');
test(busId, '00000001:01:00.1', '0001:01:00.1');
test(busId, '10000:01:00.0', '10000:01:00.0');
test(busId, '00010000:e1:00.0', '10000:e1:00.0');
test(busId, ' 0000:3b:00.0\n', '0000:3b:00.0');
test(busId, '', null);
test(busId, '3b:00.0', null);
test(busId, '000:3b:00.0', null);
test(busId, '000000000:3b:00.0', null);
test(busId, '0000:3b:00', null);
test(busId, '0000:3b:00.8', null);
test(busId, '0000:3b:20.0', null);
test(busId, '0000:3b0:00.0', null);
test(busId, '0000:3b:00.0.0', null);
test(busId, 'zzzz:3b:00.0', null);
test(busId, '0000-3b-00.0', null);
test(busId, 'GPU-91a85f4d-810a-0566-a750-28a78c11edb6', null);

// --- parseProcDevices ---

const PROC_DEVICES = `Character devices:
  1 mem
  4 /dev/vc/0
  4 tty
  5 /dev/tty
 10 misc
195 nvidia-frontend
195 nvidia
234 nvidia-caps-imex-channels
235 nvidia-caps
510 nvidia-uvm

Block devices:
  7 loop
  8 sd
259 blkext
`;

test('/proc/devices: both sections, in order, names with slashes and duplicate majors kept', (t) => {
  const { character, block } = parseProcDevices(PROC_DEVICES);
  t.deepEqual(character, [
    { major: 1, name: 'mem' },
    { major: 4, name: '/dev/vc/0' },
    { major: 4, name: 'tty' },
    { major: 5, name: '/dev/tty' },
    { major: 10, name: 'misc' },
    { major: 195, name: 'nvidia-frontend' },
    { major: 195, name: 'nvidia' },
    { major: 234, name: 'nvidia-caps-imex-channels' },
    { major: 235, name: 'nvidia-caps' },
    { major: 510, name: 'nvidia-uvm' },
  ]);
  t.deepEqual(block, [
    { major: 7, name: 'loop' },
    { major: 8, name: 'sd' },
    { major: 259, name: 'blkext' },
  ]);
});

test('/proc/devices of the leased H200 (test/fixtures/real-h200/facts.txt)', (t) => {
  const facts = readFileSync(path.join(FIXTURES, 'real-h200', 'facts.txt'), 'utf8').split('\n');
  const start = facts.indexOf('+ cat /proc/devices');
  t.true(start >= 0);
  const end = facts.findIndex((line, i) => i > start && line.startsWith('+ '));
  const { character, block } = parseProcDevices(facts.slice(start + 1, end).join('\n'));
  const major = (name: string) => character.filter((d) => d.name === name).map((d) => d.major);
  t.deepEqual(major('nvidia'), [195]);
  t.deepEqual(major('nvidiactl'), [195]);
  t.deepEqual(major('nvidia-uvm'), [238]);
  t.deepEqual(major('nvidia-caps'), [241]);
  t.deepEqual(major('infiniband_mad'), [231, 245]);
  t.is(character.length, 34);
  t.deepEqual(block.map((d) => d.name), ['loop', 'zram', 'virtblk', 'blkext']);
});

test('/proc/devices with CRLF parses the same', (t) => {
  t.deepEqual(parseProcDevices(PROC_DEVICES.replace(/\n/g, '\r\n')), parseProcDevices(PROC_DEVICES));
});

test('/proc/devices: malformed lines and lines outside a section are skipped', (t) => {
  const text = [
    '  1 before-any-section',
    'Character devices:',
    'mem',
    ' x1 bad',
    ' -1 negative',
    ' 4096 too-big',
    ' 99999 way-too-big',
    ' 12',
    ' 4095 biggest',
    '195 nvidia',
    'Block devices:',
    '  7 loop',
    'Something else:',
    '  8 sd',
  ].join('\n');
  const { character, block } = parseProcDevices(text);
  t.deepEqual(character, [
    { major: 4095, name: 'biggest' },
    { major: 195, name: 'nvidia' },
  ]);
  t.deepEqual(block, [
    { major: 7, name: 'loop' },
    { major: 8, name: 'sd' },
  ]);
});

test('/proc/devices: empty input', (t) => {
  t.deepEqual(parseProcDevices(''), { character: [], block: [] });
});

test('this host: /proc/devices has mem on major 1', (t) => {
  if (!existsSync('/proc/devices')) {
    t.pass('no /proc/devices');
    return;
  }
  const { character, block } = parseProcDevices(readFileSync('/proc/devices', 'utf8'));
  t.deepEqual(character[0], { major: 1, name: 'mem' });
  t.true(block.length > 0);
});

// --- parseDriverVersion ---

const NVRM =
  'NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.159.04  Release Build  (dvs-builder@U22-I3-AE18-23-3)  Tue Jul  8 15:12:10 UTC 2025\n' +
  'GCC version:  gcc version 12.2.0 (Debian 12.2.0-14+deb12u1) \n';
const NVRM_OPEN =
  'NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.159.04  Release Build  (dvs-builder@U22-I3-AE18-23-3)  Tue Jul  8 15:12:10 UTC 2025\n' +
  'GCC version:  gcc version 13.3.0 (Ubuntu 13.3.0-6ubuntu2~24.04) \n';

const version = test.macro({
  exec(t, text: string, expected: string) {
    t.is(parseDriverVersion(text, 'version'), expected);
  },
  title: (title) => `driver version: ${title}`,
});
test('sysfs', version, '580.159.04\n', '580.159.04');
test('sysfs with CRLF and blanks', version, '\r\n  535.104.05  \r\n', '535.104.05');
test('sysfs, two parts', version, '396.26\n', '396.26');
test('proc, proprietary module', version, NVRM, '580.159.04');
test('proc, open module', version, NVRM_OPEN, '580.159.04');
test('proc, aarch64 open module', version, NVRM_OPEN.replace('x86_64', 'aarch64'), '580.159.04');
const NVRM_470 = 'NVRM version: NVIDIA UNIX x86_64 Kernel Module  470.82.01  Tue Oct 26 21:21:59 UTC 2021\n';
test('proc, old layout without "Release Build"', version, NVRM_470, '470.82.01');
test('proc, CRLF', version, NVRM.replace(/\n/g, '\r\n'), '580.159.04');
// Verbatim from the leased H200 (test/fixtures/real-h200/facts.txt): no build date, trailing blanks.
const NVRM_NIX = 'NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.159.04  Release Build  (nixbld@)  \nGCC version:  gcc version 15.3.0 (GCC) \n';
test('proc, open module built by nix', version, NVRM_NIX, '580.159.04');

const noVersion = test.macro({
  exec(t, text: string) {
    const error = parseError(() => parseDriverVersion(text, '/sys/module/nvidia/version'));
    t.is(error.what, 'driver version "/sys/module/nvidia/version"');
    t.is(error.problems.length, 1);
  },
  title: (_, text: string) => `driver version: rejects ${JSON.stringify(text.slice(0, 40))}`,
});
test(noVersion, '');
test(noVersion, '\n\n');
test(noVersion, '580\n');
test(noVersion, '580.\n');
test(noVersion, 'v580.159.04\n');
test(noVersion, '580.159.04-1\n');
test(noVersion, 'garbage\n580.159.04\n');
test(noVersion, 'NVRM version: NVIDIA UNIX x86_64 Kernel Module  Release Build\nGCC version:  gcc version 12.2.0\n');
test(noVersion, 'GCC version:  gcc version 12.2.0 (Debian 12.2.0-14+deb12u1)\n');

// --- properties ---

const lineUnit = fc.constantFrom(...'Model GPU UUID Bus Location Device Minor:\t\r\n 0123456789abcdefABCDEF-.x'.split(''));
const texts = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 200 }),
  fc.string({ unit: lineUnit, maxLength: 300 }),
  fc
    .array(
      fc.tuple(
        fc.constantFrom('Model', 'GPU UUID', 'Bus Location', 'Device Minor', 'IRQ', 'NVRM version', 'Character devices', 'Block devices', ''),
        fc.string({ unit: lineUnit, maxLength: 50 }),
      ),
      { maxLength: 12 },
    )
    .map((lines) => lines.map(([k, v]) => `${k}: ${v}`).join('\n')),
);

test('property: the proc parsers only ever throw ParseError', (t) => {
  fc.assert(
    fc.property(texts, (text) => {
      onlyParseErrors(() => parseGpuInformation(text, 'prop'));
      onlyParseErrors(() => parseDriverVersion(text, 'prop'));
      parseProcDevices(text);
      const bus = normalizePciBusId(text);
      if (bus !== null) assert.equal(normalizePciBusId(bus), bus);
    }),
    { numRuns: 3000 },
  );
  t.pass();
});

test('property: any well-formed information file round-trips', (t) => {
  const hexString = (n: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'), minLength: n, maxLength: n });
  const info = fc.record({
    model: fc.string({ unit: fc.constantFrom(...'NVIDIA ABHLTX0123456789-: '), minLength: 1, maxLength: 30 }).filter((s) => s.trim() !== ''),
    uuid: fc.tuple(hexString(8), hexString(4), hexString(4), hexString(4), hexString(12)).map((parts) => `GPU-${parts.join('-')}`),
    domain: fc.integer({ min: 0, max: 0xffff }),
    wideDomain: fc.boolean(),
    bus: fc.integer({ min: 0, max: 0xff }),
    device: fc.integer({ min: 0, max: 0x1f }),
    fn: fc.integer({ min: 0, max: 7 }),
    minor: fc.integer({ min: 0, max: 1048575 }),
    crlf: fc.boolean(),
  });
  fc.assert(
    fc.property(info, (g) => {
      const h = (n: number, w: number) => n.toString(16).padStart(w, '0');
      const bus = `${h(g.domain, g.wideDomain ? 8 : 4)}:${h(g.bus, 2).toUpperCase()}:${h(g.device, 2)}.${g.fn}`;
      const text = [`Model: \t\t ${g.model}`, `GPU UUID: \t ${g.uuid}`, `Bus Location: \t ${bus}`, `Device Minor: \t ${g.minor}`].join(
        g.crlf ? '\r\n' : '\n',
      );
      assert.deepEqual(parseGpuInformation(text, 'prop'), {
        model: g.model.trim(),
        uuid: g.uuid,
        pciBusId: `${h(g.domain, 4)}:${h(g.bus, 2)}:${h(g.device, 2)}.${g.fn}`,
        minor: g.minor,
      });
    }),
    { numRuns: 1000 },
  );
  t.pass();
});
