import test from 'ava';
import fc from 'fast-check';
import { CAPABILITIES_ANNOTATION, DEFAULT_CAPABILITIES, DEVICES_ANNOTATION, parseRequest, shorten, type GpuRequest } from '../../src/core/request/request.js';
import { RequestError } from '../../src/errors.js';
import { CAPABILITIES } from '../../src/model/manifest.js';

const KIND = 'nvidia.com/gpu';
const UUID = 'GPU-8b472ccd-7f02-9c7a-ca0f-35527f14b320';
// What the nvidia/cuda:12.4 images set.
const CUDA_IMAGE_REQUIRE = 'cuda>=12.4 brand=tesla,driver>=470,driver<471 brand=unknown,driver>=470,driver<471';

function rejected(annotations: Record<string, string>, env: string[]): RequestError {
  try {
    parseRequest(annotations, env, KIND);
  } catch (error) {
    if (error instanceof RequestError) return error;
    throw error;
  }
  throw new Error('expected a RequestError');
}

const parses = test.macro({
  exec(t, annotations: Record<string, string>, env: string[], expected: Partial<GpuRequest> | null) {
    const r = parseRequest(annotations, env, KIND);
    if (expected === null) return t.is(r, null);
    t.not(r, null);
    t.like(r, expected);
  },
  title: (_, annotations: Record<string, string>, env: string[], expected: Partial<GpuRequest> | null) =>
    `${JSON.stringify(annotations)} ${JSON.stringify(env)} → ${expected === null ? 'null' : JSON.stringify(expected.devices ?? expected)}`,
});
const rejects = test.macro({
  exec(t, annotations: Record<string, string>, env: string[], message: string | RegExp) {
    const error = rejected(annotations, env);
    if (typeof message === 'string') t.is(error.message, message);
    else t.regex(error.message, message);
    t.false(error.message.includes('\n'), 'one line');
  },
  title: (_, annotations: Record<string, string>, env: string[]) => `rejects ${JSON.stringify(annotations).slice(0, 90)} ${JSON.stringify(env).slice(0, 90)}`,
});

// --- nothing asked for ---

test(parses, {}, [], null);
test(parses, {}, ['PATH=/usr/bin', 'NVIDIA_DRIVER_CAPABILITIES=all', 'NVIDIA_REQUIRE_CUDA=cuda>=12.0', 'CUDA_VERSION=12.4.1'], null);
test(parses, {}, ['NVIDIA_VISIBLE_DEVICES='], null);
test(parses, {}, ['NVIDIA_VISIBLE_DEVICES=void'], null);
test(parses, {}, ['NVIDIA_VISIBLE_DEVICES=  void '], null);
test(parses, {}, ['NVIDIA_VISIBLE_DEVICES=   '], null);
test(parses, {}, ['NVIDIA_VISIBLE_DEVICES'], null); // no "=": not a variable
test(parses, { 'io.kubernetes.cri.sandbox-id': 'abc', 'cdi.k8s.io/fpga': 'example.com/fpga=0' }, [], null);
// The CDI spec's shared edits set NVIDIA_VISIBLE_DEVICES=void so a CDI-injected container is not injected twice.
test(parses, {}, ['NVIDIA_VISIBLE_DEVICES=all', 'NVIDIA_VISIBLE_DEVICES=void'], null);

// --- NVIDIA_VISIBLE_DEVICES ---

test(parses, {}, ['NVIDIA_VISIBLE_DEVICES=all'], { source: 'NVIDIA_VISIBLE_DEVICES', devices: 'all' });
test(parses, {}, ['NVIDIA_VISIBLE_DEVICES=none'], { source: 'NVIDIA_VISIBLE_DEVICES', devices: [] });
test(parses, {}, ['NVIDIA_VISIBLE_DEVICES=0'], { devices: ['0'] });
test(parses, {}, ['NVIDIA_VISIBLE_DEVICES=1,0'], { devices: ['1', '0'] });
test(parses, {}, [`NVIDIA_VISIBLE_DEVICES= 0 , ${UUID} ,0000:3B:00.0 `], { devices: ['0', UUID, '0000:3B:00.0'] });
test(parses, {}, ['NVIDIA_VISIBLE_DEVICES=\tall\t'], { devices: 'all' });

// --- the oci-gpu/devices annotation wins over everything ---

test(parses, { [DEVICES_ANNOTATION]: '1' }, ['NVIDIA_VISIBLE_DEVICES=0'], { source: 'annotation "oci-gpu/devices"', devices: ['1'] });
test(parses, { [DEVICES_ANNOTATION]: 'none' }, ['NVIDIA_VISIBLE_DEVICES=all'], { source: 'annotation "oci-gpu/devices"', devices: [] });
test(parses, { [DEVICES_ANNOTATION]: 'all' }, ['NVIDIA_VISIBLE_DEVICES=void'], { devices: 'all' });
test(parses, { [DEVICES_ANNOTATION]: '0', 'cdi.k8s.io/gpu': `${KIND}=1` }, [], { source: 'annotation "oci-gpu/devices"', devices: ['0'] });
// An explicit but empty annotation is a mistake, not "nothing": the container is refused rather than run without GPUs.
test(rejects, { [DEVICES_ANNOTATION]: '' }, ['NVIDIA_VISIBLE_DEVICES=all'], 'annotation "oci-gpu/devices" is empty: use "all", "none" or a comma list of GPU indexes, UUIDs or PCI bus ids');
test(rejects, { [DEVICES_ANNOTATION]: '  ' }, [], /^annotation "oci-gpu\/devices" is empty/);

// --- CDI device names in cdi.k8s.io/* annotations ---

test(parses, { 'cdi.k8s.io/nvidia-gpu': `${KIND}=0,${KIND}=${UUID}` }, [], { source: 'annotation "cdi.k8s.io/nvidia-gpu"', devices: ['0', UUID] });
test(parses, { 'cdi.k8s.io/mixed': `example.com/fpga=0, ${KIND}=1 ,vendor.io/nic=eth0` }, [], { devices: ['1'] });
test(parses, { 'cdi.k8s.io/a': `${KIND}=0`, 'cdi.k8s.io/b': `${KIND}=1` }, [], { source: 'annotation "cdi.k8s.io/a"', devices: ['0', '1'] });
test(parses, { 'cdi.k8s.io/a': 'example.com/fpga=0', 'cdi.k8s.io/b': `${KIND}=1` }, [], { source: 'annotation "cdi.k8s.io/b"', devices: ['1'] });
test(parses, { 'cdi.k8s.io/gpu': `${KIND}=all` }, [], { devices: 'all' });
test(parses, { 'cdi.k8s.io/gpu': `${KIND}=0,${KIND}=all` }, [], { devices: 'all' });
test(parses, { 'cdi.k8s.io/gpu': `${KIND}=1` }, ['NVIDIA_VISIBLE_DEVICES=all'], { source: 'annotation "cdi.k8s.io/gpu"', devices: ['1'] });
test(parses, { 'cdi.k8s.io/fpga': 'example.com/fpga=0' }, ['NVIDIA_VISIBLE_DEVICES=0'], { source: 'NVIDIA_VISIBLE_DEVICES', devices: ['0'] });
test(parses, { 'not-cdi.k8s.io/gpu': `${KIND}=0` }, [], null);
test(parses, { 'cdi.k8s.io/gpu': `${KIND}0` }, [], null); // no "=": not a qualified name
test(parses, { 'cdi.k8s.io/gpu': 'nvidia.com/gpus=0' }, [], null); // another kind, not a prefix match
test(rejects, { 'cdi.k8s.io/a': `${KIND}=0`, 'cdi.k8s.io/b': `${KIND}=0` }, [], 'annotation "cdi.k8s.io/a" lists GPU "0" twice');
test(rejects, { 'cdi.k8s.io/a': `${KIND}=` }, [], /^annotation "cdi\.k8s\.io\/a" is empty/);
test(rejects, { 'cdi.k8s.io/a': `${KIND}=0,${KIND}=` }, [], /^annotation "cdi\.k8s\.io\/a" has an empty entry/);

test('the CDI kind is a parameter', (t) => {
  const annotations = { 'cdi.k8s.io/gpu': 'example.com/gpu=2,nvidia.com/gpu=0' };
  t.deepEqual(parseRequest(annotations, [], 'example.com/gpu')?.devices, ['2']);
  t.deepEqual(parseRequest(annotations, [], 'nvidia.com/gpu')?.devices, ['0']);
  t.is(parseRequest(annotations, [], 'other.com/gpu'), null);
});

// --- malformed device lists ---

const LIST_SOURCES: [string, (v: string) => [Record<string, string>, string[]]][] = [
  ['NVIDIA_VISIBLE_DEVICES', (v) => [{}, [`NVIDIA_VISIBLE_DEVICES=${v}`]]],
  ['annotation "oci-gpu/devices"', (v) => [{ [DEVICES_ANNOTATION]: v }, []]],
];
for (const [source, make] of LIST_SOURCES) {
  const bad = (value: string, message: string) => {
    const [annotations, env] = make(value);
    test(rejects, annotations, env, message);
  };
  bad('0,,1', `${source} has an empty entry in "0,,1"`);
  bad('0,', `${source} has an empty entry in "0,"`);
  bad(',0', `${source} has an empty entry in ",0"`);
  bad('all,0', `${source}: "all" cannot be combined with other devices in "all,0"`);
  bad('0,none', `${source}: "none" cannot be combined with other devices in "0,none"`);
  bad('void,1', `${source}: "void" cannot be combined with other devices in "void,1"`);
  bad('0,1,0', `${source} lists GPU "0" twice`);
  bad('0, 0', `${source} lists GPU "0" twice`);
  bad('0\n1', `${source} contains control characters`);
}

// --- limits ---

test('256 selectors are accepted, 257 are not', (t) => {
  const list = (n: number) => Array.from({ length: n }, (_, i) => String(i)).join(',');
  t.is((parseRequest({}, [`NVIDIA_VISIBLE_DEVICES=${list(256)}`], KIND)?.devices as string[]).length, 256);
  t.is(rejected({}, [`NVIDIA_VISIBLE_DEVICES=${list(257)}`]).message, 'NVIDIA_VISIBLE_DEVICES lists 257 devices; at most 256 are accepted');
  t.is(rejected({ [DEVICES_ANNOTATION]: list(300) }, []).message, 'annotation "oci-gpu/devices" lists 300 devices; at most 256 are accepted');
  // The limit holds across CDI annotations, each of them short enough on its own.
  const names = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `${KIND}=${from + i}`).join(',');
  t.is(rejected({ 'cdi.k8s.io/a': names(0, 130), 'cdi.k8s.io/b': names(130, 257) }, []).message, 'annotation "cdi.k8s.io/a" lists 257 devices; at most 256 are accepted');
});

test('values up to 4096 characters are accepted, longer ones are not, wherever they are', (t) => {
  const long = (n: number) => `0,${' '.repeat(n - 2)}`;
  const longest = `0,${' '.repeat(4093)}1`;
  t.is(longest.length, 4096);
  t.deepEqual(parseRequest({}, [`NVIDIA_VISIBLE_DEVICES=${longest}`], KIND)?.devices, ['0', '1']);
  t.is(rejected({}, [`NVIDIA_VISIBLE_DEVICES=${long(4097)}`]).message, 'NVIDIA_VISIBLE_DEVICES is 4097 bytes long; at most 4096 are accepted');
  t.regex(rejected({ [DEVICES_ANNOTATION]: 'x'.repeat(5000) }, []).message, /^annotation "oci-gpu\/devices" is 5000 bytes long/);
  t.regex(rejected({ [CAPABILITIES_ANNOTATION]: 'compute,'.repeat(600) }, ['NVIDIA_VISIBLE_DEVICES=0']).message, /^annotation "oci-gpu\/capabilities" is 4800 bytes/);
  t.regex(rejected({}, ['NVIDIA_VISIBLE_DEVICES=0', `NVIDIA_DRIVER_CAPABILITIES=${'x'.repeat(4097)}`]).message, /^NVIDIA_DRIVER_CAPABILITIES is 4097/);
  t.regex(rejected({}, ['NVIDIA_VISIBLE_DEVICES=0', `NVIDIA_REQUIRE_CUDA=${'cuda>=12.0 '.repeat(400)}`]).message, /^NVIDIA_REQUIRE_CUDA is 4400 bytes/);
  t.regex(rejected({ 'cdi.k8s.io/gpu': `${KIND}=${'0'.repeat(4097)}` }, []).message, /^annotation "cdi\.k8s\.io\/gpu" is 4112 bytes/);
});

const controlChars = test.macro({
  exec(t, char: string) {
    t.regex(rejected({}, [`NVIDIA_VISIBLE_DEVICES=0${char}1`]).message, /^NVIDIA_VISIBLE_DEVICES contains control characters$/);
    t.regex(rejected({ [DEVICES_ANNOTATION]: `0${char}` }, []).message, /contains control characters$/);
    t.regex(rejected({}, ['NVIDIA_VISIBLE_DEVICES=0', `NVIDIA_REQUIRE_CUDA=cuda>=12.0${char}`]).message, /^NVIDIA_REQUIRE_CUDA contains control characters$/);
    t.regex(rejected({}, ['NVIDIA_VISIBLE_DEVICES=0', `NVIDIA_DRIVER_CAPABILITIES=compute${char}`]).message, /^NVIDIA_DRIVER_CAPABILITIES contains control characters$/);
  },
  title: (_, char: string) => `control character U+${char.charCodeAt(0).toString(16).padStart(4, '0')} is refused`,
});
for (const c of ['\0', '\x01', '\x08', '\n', '\r', '\x1b', '\x1f', '\x7f']) test(controlChars, c);

test('a tab is whitespace, not a control character', (t) => {
  t.deepEqual(parseRequest({}, ['NVIDIA_VISIBLE_DEVICES=0,\t1'], KIND)?.devices, ['0', '1']);
});

test('messages quote at most 64 characters of a hostile value', (t) => {
  const selector = 'x'.repeat(200);
  const error = rejected({}, [`NVIDIA_VISIBLE_DEVICES=${selector},${selector}`]);
  t.is(error.message, `NVIDIA_VISIBLE_DEVICES lists GPU "${'x'.repeat(61)}..." twice`);
  t.is(shorten('a'.repeat(64)), 'a'.repeat(64));
  t.is(shorten('a'.repeat(65)), `${'a'.repeat(61)}...`);
});

// --- capabilities ---

const caps = test.macro({
  exec(t, annotations: Record<string, string>, env: string[], expected: string[]) {
    t.deepEqual(parseRequest(annotations, ['NVIDIA_VISIBLE_DEVICES=0', ...env], KIND)?.capabilities, expected);
  },
  title: (_, annotations: Record<string, string>, env: string[], expected: string[]) =>
    `capabilities of ${JSON.stringify(annotations)} ${JSON.stringify(env)} are ${expected.join(',')}`,
});
test(caps, {}, [], ['utility', 'compute']);
test(caps, {}, ['NVIDIA_DRIVER_CAPABILITIES='], ['utility', 'compute']);
test(caps, {}, ['NVIDIA_DRIVER_CAPABILITIES= '], ['utility', 'compute']);
test(caps, {}, ['NVIDIA_DRIVER_CAPABILITIES=all'], [...CAPABILITIES]);
test(caps, {}, ['NVIDIA_DRIVER_CAPABILITIES=compute,all'], [...CAPABILITIES]);
test(caps, {}, ['NVIDIA_DRIVER_CAPABILITIES=compute'], ['compute']);
test(caps, {}, ['NVIDIA_DRIVER_CAPABILITIES=compute,utility'], ['compute', 'utility']);
test(caps, {}, ['NVIDIA_DRIVER_CAPABILITIES= graphics , display ,'], ['graphics', 'display']);
test(caps, {}, ['NVIDIA_DRIVER_CAPABILITIES=video,video,compat32'], ['video', 'compat32']);
test(caps, { [CAPABILITIES_ANNOTATION]: 'graphics' }, ['NVIDIA_DRIVER_CAPABILITIES=compute'], ['graphics']);
test(caps, { [CAPABILITIES_ANNOTATION]: '' }, ['NVIDIA_DRIVER_CAPABILITIES=video'], ['utility', 'compute']);
test(rejects, {}, ['NVIDIA_VISIBLE_DEVICES=0', 'NVIDIA_DRIVER_CAPABILITIES=compute,gpu'], 'NVIDIA_DRIVER_CAPABILITIES: unknown capability "gpu" (known: utility, compute, video, graphics, display, ngx, compat32, all)');
test(rejects, {}, ['NVIDIA_VISIBLE_DEVICES=0', 'NVIDIA_DRIVER_CAPABILITIES=Compute'], /unknown capability "Compute"/);
test(rejects, { [CAPABILITIES_ANNOTATION]: 'unclassified' }, ['NVIDIA_VISIBLE_DEVICES=0'], /^annotation "oci-gpu\/capabilities": unknown capability "unclassified"/);

test('the default capabilities are a fresh copy each time', (t) => {
  const a = parseRequest({}, ['NVIDIA_VISIBLE_DEVICES=0'], KIND)!;
  a.capabilities.push('graphics');
  t.deepEqual(DEFAULT_CAPABILITIES, ['utility', 'compute']);
  t.deepEqual(parseRequest({}, ['NVIDIA_VISIBLE_DEVICES=0'], KIND)!.capabilities, ['utility', 'compute']);
});

// --- requirements ---

const requirements = test.macro({
  exec(t, env: string[], expected: { name: string; expression: string }[]) {
    t.deepEqual(parseRequest({}, ['NVIDIA_VISIBLE_DEVICES=all', ...env], KIND)?.requirements, expected);
  },
  title: (_, env: string[]) => `requirements of ${JSON.stringify(env)}`,
});
test(requirements, [], []);
test(requirements, [`NVIDIA_REQUIRE_CUDA=${CUDA_IMAGE_REQUIRE}`], [{ name: 'NVIDIA_REQUIRE_CUDA', expression: CUDA_IMAGE_REQUIRE }]);
test(requirements, ['NVIDIA_REQUIRE_DRIVER=driver>=535', 'NVIDIA_REQUIRE_ARCH=arch>=8.0', 'NVIDIA_REQUIRE_CUDA= cuda>=12.0 '], [
  { name: 'NVIDIA_REQUIRE_ARCH', expression: 'arch>=8.0' },
  { name: 'NVIDIA_REQUIRE_CUDA', expression: 'cuda>=12.0' },
  { name: 'NVIDIA_REQUIRE_DRIVER', expression: 'driver>=535' },
]);
// Legacy images carry only CUDA_VERSION: they need at least that major.minor.
test(requirements, ['CUDA_VERSION=12.4.1'], [{ name: 'CUDA_VERSION', expression: 'cuda>=12.4' }]);
test(requirements, ['CUDA_VERSION=9.0.176'], [{ name: 'CUDA_VERSION', expression: 'cuda>=9.0' }]);
test(requirements, ['CUDA_VERSION=12.4.1', 'NVIDIA_REQUIRE_CUDA=cuda>=12.0'], [{ name: 'NVIDIA_REQUIRE_CUDA', expression: 'cuda>=12.0' }]);
test(requirements, ['CUDA_VERSION=12.4.1', 'NVIDIA_REQUIRE_CUDA='], [{ name: 'NVIDIA_REQUIRE_CUDA', expression: '' }]);
test(requirements, ['CUDA_VERSION=latest'], []);
test(requirements, ['CUDA_VERSION=12'], []);
for (const yes of ['1', 'true', 'TRUE', 't', 'yes', 'on', ' true ']) {
  test(requirements, [`NVIDIA_DISABLE_REQUIRE=${yes}`, 'NVIDIA_REQUIRE_CUDA=cuda>=99.0', 'CUDA_VERSION=99.0'], []);
}
for (const no of ['0', 'false', '', 'no', 'off']) {
  test(requirements, [`NVIDIA_DISABLE_REQUIRE=${no}`, 'NVIDIA_REQUIRE_CUDA=cuda>=99.0'], [{ name: 'NVIDIA_REQUIRE_CUDA', expression: 'cuda>=99.0' }]);
}

// --- env parsing ---

test('an env value keeps every "=" after the first', (t) => {
  t.deepEqual(parseRequest({}, ['NVIDIA_VISIBLE_DEVICES=0', 'NVIDIA_REQUIRE_X=a=b'], KIND)?.requirements, [{ name: 'NVIDIA_REQUIRE_X', expression: 'a=b' }]);
});

test('the last of repeated env entries wins, as the process sees it', (t) => {
  t.deepEqual(parseRequest({}, ['NVIDIA_VISIBLE_DEVICES=0', 'NVIDIA_VISIBLE_DEVICES=1'], KIND)?.devices, ['1']);
});

test('a "=VALUE" entry with no name is ignored', (t) => {
  t.is(parseRequest({}, ['=NVIDIA_VISIBLE_DEVICES=all'], KIND), null);
});

// --- properties ---

test('any annotations and env either parse or fail with a one-line RequestError (property)', (t) => {
  const value = fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.constantFrom('all', 'none', 'void', '', '0', '0,1', 'GPU-x', 'compute', 'cuda>=12.0', `${KIND}=0`),
    fc.array(fc.constantFrom('0', '1', 'all', 'none', '', ' ', 'GPU-a', '\n', `${KIND}=1`), { maxLength: 6 }).map((a) => a.join(',')),
  );
  const name = fc.constantFrom('NVIDIA_VISIBLE_DEVICES', 'NVIDIA_DRIVER_CAPABILITIES', 'NVIDIA_REQUIRE_CUDA', 'NVIDIA_DISABLE_REQUIRE', 'CUDA_VERSION', 'PATH');
  const key = fc.constantFrom(DEVICES_ANNOTATION, CAPABILITIES_ANNOTATION, 'cdi.k8s.io/gpu', 'cdi.k8s.io/other', 'unrelated');
  fc.assert(
    fc.property(fc.dictionary(key, value), fc.array(fc.tuple(name, value).map(([n, v]) => `${n}=${v}`)), (annotations, env) => {
      let r: GpuRequest | null;
      try {
        r = parseRequest(annotations, env, KIND);
      } catch (error) {
        t.true(error instanceof RequestError, String(error));
        t.false((error as Error).message.includes('\n'));
        return;
      }
      if (r === null) return;
      if (r.devices !== 'all') {
        t.is(new Set(r.devices).size, r.devices.length, 'no repeated selector');
        for (const d of r.devices) t.true(d !== '' && d === d.trim() && !['all', 'none', 'void'].includes(d), d);
      }
      t.is(new Set(r.capabilities).size, r.capabilities.length);
      for (const c of r.capabilities) t.true((CAPABILITIES as readonly string[]).includes(c));
    }),
  );
});

test('"void" in the annotation means nothing is asked, like the env contract', (t) => {
  t.is(parseRequest({ [DEVICES_ANNOTATION]: 'void' }, ['NVIDIA_VISIBLE_DEVICES=all'], KIND), null);
  t.is(parseRequest({ 'cdi.k8s.io/x': `${KIND}=void` }, [], KIND), null);
});

test("other vendors' CDI annotations are not judged, however long or odd", (t) => {
  const annotations = { 'cdi.k8s.io/other': `vendor.com/fpga=${'x'.repeat(10_000)}\nline2` };
  t.is(parseRequest(annotations, [], KIND), null);
  t.deepEqual(parseRequest(annotations, ['NVIDIA_VISIBLE_DEVICES=0'], KIND)?.devices, ['0']);
});

test('a capability list of only separators means the default', (t) => {
  t.deepEqual(parseRequest({}, ['NVIDIA_VISIBLE_DEVICES=0', 'NVIDIA_DRIVER_CAPABILITIES=,'], KIND)?.capabilities, DEFAULT_CAPABILITIES);
});

// --- MIG devices and IMEX channels (NVIDIA's forms) ---

const MIG = 'MIG-0a1b2c3d-1111-5222-8333-444455556662';
test(parses, {}, [`NVIDIA_VISIBLE_DEVICES=${MIG}`], { devices: [MIG] });
test(parses, {}, ['NVIDIA_VISIBLE_DEVICES=0:1,1'], { devices: ['0:1', '1'] });
test(parses, { [DEVICES_ANNOTATION]: '0:0, 0:2' }, [], { devices: ['0:0', '0:2'] });
test(parses, { 'cdi.k8s.io/oci-gpu': `${KIND}=0:1,${KIND}=${MIG}` }, [], { devices: ['0:1', MIG] });
test(parses, {}, ['NVIDIA_VISIBLE_DEVICES=0', 'NVIDIA_IMEX_CHANNELS=0,1'], { imexChannels: [0, 1], imexSource: 'NVIDIA_IMEX_CHANNELS' });
test(parses, {}, ['NVIDIA_VISIBLE_DEVICES=0', 'NVIDIA_IMEX_CHANNELS=all'], { imexChannels: 'all' });
test(parses, {}, ['NVIDIA_VISIBLE_DEVICES=0', 'NVIDIA_IMEX_CHANNELS=none'], { imexChannels: [] });
test(parses, {}, ['NVIDIA_VISIBLE_DEVICES=0'], { imexChannels: [] });
test(parses, { 'oci-gpu/imex-channels': '3' }, ['NVIDIA_VISIBLE_DEVICES=0', 'NVIDIA_IMEX_CHANNELS=1'], { imexChannels: [3], imexSource: 'annotation "oci-gpu/imex-channels"' });
test(parses, { 'cdi.k8s.io/oci-gpu': `${KIND}=0`, 'cdi.k8s.io/imex': 'nvidia.com/imex-channel=1' }, [], { devices: ['0'], imexChannels: [1], imexSource: 'annotation "cdi.k8s.io/imex"' });
// IMEX channels alone ask for no GPU container.
test(parses, {}, ['NVIDIA_IMEX_CHANNELS=0'], null);
test(rejects, {}, ['NVIDIA_VISIBLE_DEVICES=0', 'NVIDIA_IMEX_CHANNELS=0,x'], 'NVIDIA_IMEX_CHANNELS: "x" is not an IMEX channel number (use "all", "none" or numbers like 0,1)');
test(rejects, {}, ['NVIDIA_VISIBLE_DEVICES=0', 'NVIDIA_IMEX_CHANNELS=1,1'], 'NVIDIA_IMEX_CHANNELS lists IMEX channel "1" twice');
test(rejects, { 'oci-gpu/imex-channels': '-1' }, ['NVIDIA_VISIBLE_DEVICES=0'], /^annotation "oci-gpu\/imex-channels": "-1" is not an IMEX channel number/);
