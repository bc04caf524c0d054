import test from 'ava';
import { checkRequirements } from '../../src/core/request/requirements.js';
import { RequestError } from '../../src/errors.js';
import type { Gpu, Manifest } from '../../src/model/manifest.js';
import { buildManifest, deepFreeze, type GpuOptions } from '../helpers/manifests.js';

// NVIDIA_REQUIRE_CUDA as the nvidia/cuda:12.4 images set it: CUDA 12.4, or the 470 branch on a
// Tesla (or unknown brand) with the forward-compatibility package.
const CUDA_12_4_IMAGE = 'cuda>=12.4 brand=tesla,driver>=470,driver<471 brand=unknown,driver>=470,driver<471';
const CUDA_13_1_IMAGE = CUDA_12_4_IMAGE.replace('cuda>=12.4', 'cuda>=13.1');
// The longer form of later images: one clause per brand and old branch.
const CUDA_12_8_IMAGE =
  'cuda>=12.8 ' +
  ['470', '535', '550'].flatMap((b) =>
    ['tesla', 'unknown', 'nvidia', 'nvidiartx', 'geforce', 'geforcertx', 'quadro', 'quadrortx', 'titan', 'titanrtx']
      .map((brand) => `brand=${brand},driver>=${b},driver<${Number(b) + 1}`)).join(' ');

interface Host {
  driver: string | null;
  gpus: GpuOptions[];
}
const H200_580: Host = { driver: '580.159.04', gpus: [{ model: 'NVIDIA H200' }] }; // CUDA 13.0, brand nvidia, arch 9.0
const A100_550: Host = { driver: '550.54.15', gpus: [{ model: 'NVIDIA A100-SXM4-80GB' }, { model: 'NVIDIA A100-SXM4-80GB', minor: 3 }] }; // CUDA 12.4
const A100_545: Host = { driver: '545.23.08', gpus: [{ model: 'NVIDIA A100-SXM4-80GB' }] }; // CUDA 12.3
const V100_470: Host = { driver: '470.256.02', gpus: [{ model: 'Tesla V100-SXM2-16GB' }] }; // CUDA 11.4, brand tesla, arch 7.0
const H200_470: Host = { driver: '470.256.02', gpus: [{ model: 'NVIDIA H200' }] };
const MIXED_580: Host = { driver: '580.159.04', gpus: [{ model: 'NVIDIA H200' }, { model: 'Tesla V100-SXM2-16GB' }] };
const UNKNOWN_580: Host = { driver: '580.159.04', gpus: [{ model: 'Graphics Device' }] }; // arch ""

function manifestOf(host: Host): Manifest {
  return deepFreeze(buildManifest({ driver: host.driver, gpus: host.gpus }));
}

function hostName(host: Host): string {
  return `${host.gpus.map((g) => g.model).join(' + ') || 'no GPU'} on ${host.driver ?? 'no driver'}`;
}

function check(host: Host, requirements: Record<string, string>, gpus?: Gpu[]): void {
  const m = manifestOf(host);
  checkRequirements(m, gpus ?? m.gpus, Object.entries(requirements).map(([name, expression]) => ({ name, expression })));
}

function unmet(host: Host, requirements: Record<string, string>, gpus?: Gpu[]): RequestError {
  try {
    check(host, requirements, gpus);
  } catch (error) {
    if (error instanceof RequestError) return error;
    throw error;
  }
  throw new Error('expected a RequestError');
}

const holds = test.macro({
  exec(t, host: Host, expression: string) {
    t.notThrows(() => check(host, { NVIDIA_REQUIRE_CUDA: expression }));
  },
  title: (_, host: Host, expression: string) => `holds on ${hostName(host)}: ${JSON.stringify(expression).slice(0, 90)}`,
});
const fails = test.macro({
  exec(t, host: Host, expression: string) {
    const error = unmet(host, { NVIDIA_REQUIRE_CUDA: expression });
    t.regex(error.message, /^unmet requirement NVIDIA_REQUIRE_CUDA="/);
    t.false(error.message.includes('\n'));
  },
  title: (_, host: Host, expression: string) => `fails on ${hostName(host)}: ${JSON.stringify(expression).slice(0, 90)}`,
});

// --- the real nvidia/cuda values ---

test(holds, H200_580, CUDA_12_4_IMAGE);
test(holds, H200_580, CUDA_12_8_IMAGE);
test(fails, H200_580, CUDA_13_1_IMAGE);
test(holds, A100_550, CUDA_12_4_IMAGE);
test(holds, A100_550, CUDA_12_8_IMAGE); // CUDA 12.4 < 12.8, but brand=nvidia on the 550 branch is listed
test(fails, A100_545, CUDA_12_8_IMAGE); // 545 is not a listed branch
// The compatibility clauses: a Tesla on the 470 branch runs CUDA 12.4 images, an H200 (brand nvidia) does not.
test(holds, V100_470, CUDA_12_4_IMAGE);
test(fails, H200_470, CUDA_12_4_IMAGE);
test(holds, H200_470, CUDA_12_8_IMAGE); // ... but the 12.8 image lists brand=nvidia for 470 too

test('the message for cuda>=13.1 on the H200 host is one line saying what the host has', (t) => {
  const error = unmet(H200_580, { NVIDIA_REQUIRE_CUDA: CUDA_13_1_IMAGE });
  t.is(
    error.message,
    `unmet requirement NVIDIA_REQUIRE_CUDA="${CUDA_13_1_IMAGE.slice(0, 61)}...": this host has driver 580.159.04 (CUDA 13.0), GPUs 0 NVIDIA H200 (brand nvidia, arch 9.0)`,
  );
});

test('the message lists every selected GPU, and "unknown" for an unknown architecture', (t) => {
  t.regex(unmet(MIXED_580, { NVIDIA_REQUIRE_ARCH: 'arch>=8.0' }).message, /GPUs 0 NVIDIA H200 \(brand nvidia, arch 9\.0\), 1 Tesla V100-SXM2-16GB \(brand tesla, arch 7\.0\)$/);
  t.regex(unmet(UNKNOWN_580, { NVIDIA_REQUIRE_ARCH: 'arch>=1.0' }).message, /\(brand nvidia, arch unknown\)$/);
});

// --- OR of clauses, AND of constraints, AND of variables ---

test(holds, H200_580, 'cuda>=12.0,driver>=580');
test(fails, H200_580, 'cuda>=12.0,driver>=581');
test(holds, H200_580, 'driver>=999 cuda>=12.0');
test(holds, H200_580, 'cuda>=12.0 driver>=999');
test(fails, H200_580, 'driver>=999 cuda>=14.0 brand=tesla');
test(holds, H200_580, '  cuda>=12.0\t\tdriver>=999  ');
test(holds, H200_580, 'cuda>=12.0,,driver>=580,');
test(holds, H200_580, '');
test(holds, H200_580, '   ');

test('separate variables are ANDed, and the first unmet one is named', (t) => {
  t.notThrows(() => check(H200_580, { NVIDIA_REQUIRE_CUDA: 'cuda>=12.0', NVIDIA_REQUIRE_ARCH: 'arch>=9.0', NVIDIA_REQUIRE_BRAND: 'brand=nvidia' }));
  t.regex(unmet(H200_580, { NVIDIA_REQUIRE_CUDA: 'cuda>=12.0', NVIDIA_REQUIRE_ARCH: 'arch>=10.0' }).message, /^unmet requirement NVIDIA_REQUIRE_ARCH="arch>=10\.0"/);
  t.regex(unmet(H200_580, { NVIDIA_REQUIRE_A: 'driver>=999', NVIDIA_REQUIRE_B: 'cuda>=99' }).message, /^unmet requirement NVIDIA_REQUIRE_A=/);
});

test('no requirements always hold, even without a driver', (t) => {
  t.notThrows(() => check({ driver: null, gpus: [] }, {}));
});

// --- each property and operator ---

const constraint = test.macro({
  exec(t, host: Host, expression: string, expected: boolean) {
    if (expected) t.notThrows(() => check(host, { NVIDIA_REQUIRE_X: expression }));
    else t.throws(() => check(host, { NVIDIA_REQUIRE_X: expression }), { instanceOf: RequestError, message: /^unmet requirement/ });
  },
  title: (_, host: Host, expression: string, expected: boolean) => `${expression} is ${expected} on ${hostName(host)}`,
});
// driver 580.159.04: numeric comparison part by part ("04" is 4).
test(constraint, H200_580, 'driver>=580', true);
test(constraint, H200_580, 'driver>580', true);
test(constraint, H200_580, 'driver>580.159.04', false);
test(constraint, H200_580, 'driver>=580.159.4', true);
test(constraint, H200_580, 'driver>=580.159.5', false);
test(constraint, H200_580, 'driver=580.159.04', true);
test(constraint, H200_580, 'driver==580.159.04', true);
test(constraint, H200_580, 'driver!=580.159.04', false);
test(constraint, H200_580, 'driver!=550', true);
test(constraint, H200_580, 'driver<581', true);
test(constraint, H200_580, 'driver<580', false);
test(constraint, H200_580, 'driver<=580.159.04', true);
test(constraint, H200_580, 'driver>=1000', false); // 580 < 1000 as numbers, not strings
// cuda 13.0
test(constraint, H200_580, 'cuda>=13.0', true);
test(constraint, H200_580, 'cuda>=13', true);
test(constraint, H200_580, 'cuda=13', true);
test(constraint, H200_580, 'cuda>13.0', false);
test(constraint, H200_580, 'cuda>=13.0.1', false);
test(constraint, H200_580, 'cuda>=9.2', true); // 13 > 9 as numbers
test(constraint, A100_550, 'cuda<=12.4', true);
test(constraint, A100_550, 'cuda>=12.10', false); // 12.10 is after 12.4
// arch 9.0
test(constraint, H200_580, 'arch>=9.0', true);
test(constraint, H200_580, 'arch=9.0', true);
test(constraint, H200_580, 'arch>9.0', false);
test(constraint, H200_580, 'arch<9', false);
test(constraint, H200_580, 'arch!=8.0', true);
test(constraint, H200_580, 'arch>=10.0', false);
test(constraint, V100_470, 'arch>=7.0', true);
test(constraint, UNKNOWN_580, 'arch>=1.0', false);
test(constraint, UNKNOWN_580, 'arch!=9.0', false); // unknown never satisfies an arch constraint
// brand (case-insensitive value; only = == !=)
test(constraint, H200_580, 'brand=nvidia', true);
test(constraint, H200_580, 'brand==NVIDIA', true);
test(constraint, H200_580, 'brand=tesla', false);
test(constraint, H200_580, 'brand!=tesla', true);
test(constraint, V100_470, 'brand=tesla', true);
test(constraint, V100_470, 'brand!=tesla', false);

// --- every selected GPU must satisfy arch and brand ---

test(constraint, MIXED_580, 'arch>=7.0', true);
test(constraint, MIXED_580, 'arch>=8.0', false);
test(constraint, MIXED_580, 'brand=nvidia', false);
test(constraint, MIXED_580, 'brand!=geforce', true);

test('arch and brand are checked against the selected GPUs only', (t) => {
  const m = manifestOf(MIXED_580);
  const req = [{ name: 'NVIDIA_REQUIRE_ARCH', expression: 'arch>=8.0' }];
  t.notThrows(() => checkRequirements(m, [m.gpus[0]!], req));
  t.throws(() => checkRequirements(m, [m.gpus[1]!], req), { instanceOf: RequestError, message: /GPUs 1 Tesla V100-SXM2-16GB/ });
});

test('without a driver, cuda and driver constraints fail and the message says so', (t) => {
  const host: Host = { driver: null, gpus: [] };
  t.is(unmet(host, { NVIDIA_REQUIRE_CUDA: 'cuda>=1.0' }).message, 'unmet requirement NVIDIA_REQUIRE_CUDA="cuda>=1.0": this host has driver none (CUDA unknown)');
  t.throws(() => check(host, { NVIDIA_REQUIRE_DRIVER: 'driver>=1' }), { instanceOf: RequestError });
  t.throws(() => check(host, { NVIDIA_REQUIRE_DRIVER: 'driver!=1' }), { instanceOf: RequestError });
});

test('a driver older than any known CUDA has no CUDA version: cuda constraints fail', (t) => {
  const host: Host = { driver: '390.157', gpus: [{ model: 'Tesla K80' }] };
  t.regex(unmet(host, { NVIDIA_REQUIRE_CUDA: 'cuda>=9.0' }).message, /driver 390\.157 \(CUDA unknown\)/);
  t.notThrows(() => check(host, { NVIDIA_REQUIRE_DRIVER: 'driver>=390' }));
});

// --- malformed constraints: refused with a message that shows the expected form ---

const malformed = test.macro({
  exec(t, expression: string, message: RegExp) {
    const error = unmet(H200_580, { NVIDIA_REQUIRE_CUDA: expression });
    t.regex(error.message, message);
    t.false(error.message.includes('\n'));
  },
  title: (_, expression: string) => `malformed: ${JSON.stringify(expression)}`,
});
const PARSE = /^NVIDIA_REQUIRE_CUDA: cannot parse constraint ".*" \(expected e\.g\. cuda>=12\.0, driver>=535, arch=9\.0, brand=tesla\)$/;
test(malformed, 'cuda', PARSE);
test(malformed, 'cuda>>12.0', PARSE);
test(malformed, 'cuda=>12.0', PARSE);
test(malformed, 'cuda >=12.0', PARSE); // the space makes two clauses: "cuda" and ">=12.0"
test(malformed, 'CUDA>=12.0', PARSE);
test(malformed, 'cuda>=', PARSE);
test(malformed, 'cuda>=12.0;rm -rf /', PARSE);
// Versions must be numbers: "abc" used to compare greater than every version (cuda>=abc held).
test(malformed, 'cuda>=abc', PARSE);
test(malformed, 'driver>=latest', PARSE);
test(malformed, 'arch>=sm_90', PARSE);
test(malformed, 'cuda>=12.x', PARSE);
test(malformed, 'cuda>=12..0', PARSE);
test(malformed, 'brand>=tesla', /^NVIDIA_REQUIRE_CUDA: brand only takes = or != in "brand>=tesla"$/);
test(malformed, 'brand<tesla', /brand only takes = or !=/);

test('a malformed constraint is refused wherever it is, whatever the other constraints say', (t) => {
  // Everything is parsed before anything is evaluated: a typo is reported on every host, not only where it is reached.
  for (const expression of ['cuda>=12.0 cuda>>1', 'cuda>>1 cuda>=12.0', 'driver>=999,cuda>>1 cuda>=12.0', 'cuda>=12.0,cuda>>1']) {
    t.throws(() => check(H200_580, { NVIDIA_REQUIRE_CUDA: expression }), { instanceOf: RequestError, message: /cannot parse constraint "cuda>>1"/ }, expression);
  }
  t.throws(() => check(H200_580, { NVIDIA_REQUIRE_A: 'driver>=999', NVIDIA_REQUIRE_B: 'cuda>>1' }), { message: /^NVIDIA_REQUIRE_B: cannot parse/ });
});

test('checkRequirements does not mutate the manifest or the GPU list', (t) => {
  const m = manifestOf(MIXED_580);
  const gpus = deepFreeze([...m.gpus]);
  t.notThrows(() => checkRequirements(m, gpus, [{ name: 'NVIDIA_REQUIRE_CUDA', expression: CUDA_12_4_IMAGE }]));
});

test('a well-formed constraint on a property we do not know is skipped, as NVIDIA does', (t) => {
  t.notThrows(() => check(H200_580, { NVIDIA_REQUIRE_FOO: 'foo>=99' }));
  t.notThrows(() => check(H200_580, { NVIDIA_REQUIRE_CUDA: 'cuda>=12.0,foo<1' }));
  // The known constraints of the same clause still count.
  t.throws(() => check(H200_580, { NVIDIA_REQUIRE_CUDA: 'cuda>=99.0,foo>=1' }), { instanceOf: RequestError });
  // Malformed syntax is still refused on every host.
  t.throws(() => check(H200_580, { NVIDIA_REQUIRE_FOO: 'foo>>1' }), { instanceOf: RequestError, message: /cannot parse constraint "foo>>1"/ });
});
