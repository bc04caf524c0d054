import test from 'ava';
import { parseManifest, sameManifestContent, serializeManifest } from '../../src/core/manifest/manifest-codec.js';
import { ManifestError, ParseError } from '../../src/errors.js';
import type { Manifest } from '../../src/model/manifest.js';
import { buildManifest, scanFixture, type ManifestOptions } from '../helpers/manifests.js';
import { FIXTURE_HOSTS } from '../helpers/root.js';

const SOURCE = '/run/oci-gpu/manifest.json';

function thrown<E extends Error>(kind: new (...args: never[]) => E, fn: () => unknown): E {
  try {
    fn();
  } catch (error) {
    if (error instanceof kind) return error;
    throw error;
  }
  throw new Error(`expected a ${kind.name}`);
}

// --- round trip ---

const roundTrip = test.macro({
  exec(t, options: ManifestOptions) {
    const m = buildManifest(options);
    const text = serializeManifest(m);
    t.deepEqual(parseManifest(text, SOURCE), m);
    t.is(serializeManifest(parseManifest(text, SOURCE)), text);
  },
  title: (_, options: ManifestOptions) => `round trip: ${JSON.stringify(options)}`,
});
test(roundTrip, {});
test(roundTrip, { gpus: 0 });
test(roundTrip, { gpus: 8, model: 'NVIDIA A100-SXM4-80GB', capNodes: true });
test(roundTrip, { gpus: 64, root: '/srv/fake-host' });
test(roundTrip, { driver: null });
test(roundTrip, { gpus: [{ minor: 3, model: 'Tesla V100-SXM2-16GB', dri: false }], files: { compute: ['/usr/lib64/libcuda.so.470.256.02'] }, driver: '470.256.02' });

for (const host of ['h200', 'rhel-2gpu', 'no-driver'] as const) {
  FIXTURE_HOSTS.test(`round trip: the ${host} fixture host's scan${FIXTURE_HOSTS.why}`, (t) => {
    const m = scanFixture(host);
    const text = serializeManifest(m);
    t.deepEqual(parseManifest(text, SOURCE), JSON.parse(text) as Manifest);
    t.is(serializeManifest(parseManifest(text, SOURCE)), text);
  });
}

test('serializeManifest is deterministic JSON with a trailing newline', (t) => {
  const a = serializeManifest(buildManifest({ gpus: 2 }));
  t.is(a, serializeManifest(buildManifest({ gpus: 2 })));
  t.true(a.endsWith('}\n'));
  t.false(a.endsWith('\n\n'));
  t.true(a.startsWith('{\n  "schema": "oci-gpu.manifest/v2",\n  "generatedAt": '));
});

test('sameManifestContent ignores the generation time and nothing else', (t) => {
  const a = buildManifest({ gpus: 2 });
  t.true(sameManifestContent(a, { ...a, generatedAt: '2030-01-01T00:00:00.000Z' }));
  t.false(sameManifestContent(a, buildManifest({ gpus: 3 })));
  t.false(sameManifestContent(a, { ...a, warnings: ['/dev/nvidia1: missing'] }));
  t.false(sameManifestContent(a, buildManifest({ gpus: 2, driver: '580.159.05' })));
  t.false(sameManifestContent(a, { ...a, gpus: [...a.gpus].reverse() }));
});

// --- not JSON, not an object, another schema: ManifestError (exit 3) ---

test('every truncation of a manifest is a ManifestError naming the file and the fix', (t) => {
  const text = serializeManifest(buildManifest({ gpus: 2, capNodes: true }));
  const cuts = new Set([0, 1, 2, text.length - 2, text.length - 3]);
  for (let i = 0; i < text.length; i += 53) cuts.add(i);
  for (const cut of cuts) {
    const truncated = text.slice(0, cut);
    if (truncated.trim().endsWith('}') && cut > text.length - 3) continue; // only whitespace was cut
    const error = thrown(ManifestError, () => parseManifest(truncated, SOURCE));
    t.is(error.message, `manifest "${SOURCE}" is not valid JSON (truncated or corrupt): run \`oci-gpu scan --output ${SOURCE}\` or restart oci-gpu-watch`);
    t.truthy(error.cause, 'keeps the JSON error as cause');
    t.is(error.exitCode, 3);
  }
});

test('a manifest cut after its last brace (only the newline lost) still parses', (t) => {
  const m = buildManifest();
  t.deepEqual(parseManifest(serializeManifest(m).trimEnd(), SOURCE), m);
});

const notObject = test.macro({
  exec(t, text: string) {
    const error = thrown(ManifestError, () => parseManifest(text, SOURCE));
    t.is(error.message, `manifest "${SOURCE}" is not a JSON object`);
  },
  title: (_, text: string) => `${text} is not a manifest object`,
});
test(notObject, '[]');
test(notObject, 'null');
test(notObject, '42');
test(notObject, '"oci-gpu.manifest/v2"');

const schema = test.macro({
  exec(t, value: unknown, expected: RegExp) {
    const m = { ...buildManifest(), schema: value } as Record<string, unknown>;
    if (value === undefined) delete m['schema'];
    const error = thrown(ManifestError, () => parseManifest(JSON.stringify(m), SOURCE));
    t.regex(error.message, expected);
    t.true(error.message.startsWith(`manifest "${SOURCE}" has schema `));
    t.is(error.exitCode, 3);
  },
  title: (_, value: unknown) => `schema ${JSON.stringify(value)} is refused`,
});
test(schema, 'oci-gpu.manifest/v3', /has schema oci-gpu\.manifest\/v3, newer than this oci-gpu reads \(oci-gpu\.manifest\/v2\): upgrade oci-gpu$/);
test(schema, 'oci-gpu.manifest/v10', /newer than this oci-gpu reads .*upgrade/);
// A manifest the previous release's watcher wrote (still running until restarted after an upgrade).
test(schema, 'oci-gpu.manifest/v1', /has schema oci-gpu\.manifest\/v1, older than this oci-gpu reads \(oci-gpu\.manifest\/v2\): restart oci-gpu-watch \(`systemctl restart oci-gpu-watch`\) or run `oci-gpu scan --output .*`$/);
test(schema, 'oci-gpu.manifest/v0', /older than this oci-gpu reads/);
test(schema, 'oci-gpu.manifest/v1.1', /expected oci-gpu\.manifest\/v2$/);
test(schema, 'nvidia.manifest/v2', /expected oci-gpu\.manifest\/v2$/);
test(schema, 2, /has schema 2, expected/);
test(schema, null, /has schema null, expected/);
test(schema, undefined, /expected oci-gpu\.manifest\/v2$/);

test('the schema is checked before the content: a newer manifest with new fields says upgrade', (t) => {
  const newer = { schema: 'oci-gpu.manifest/v3', gpus: 'described differently now' };
  t.regex(thrown(ManifestError, () => parseManifest(JSON.stringify(newer), SOURCE)).message, /upgrade oci-gpu$/);
});

// --- content problems: ParseError with dot-paths ---

const problem = test.macro({
  exec(t, mutate: (m: Record<string, any>) => void, expected: string) {
    const m = JSON.parse(serializeManifest(buildManifest({ gpus: 2, capNodes: true }))) as Record<string, any>;
    mutate(m);
    const error = thrown(ParseError, () => parseManifest(JSON.stringify(m), SOURCE));
    t.deepEqual(error.problems, [expected]);
    t.is(error.what, `manifest "${SOURCE}"`);
    t.is(error.message, `manifest "${SOURCE}": ${expected}`);
  },
  title: (_, mutate: (m: Record<string, any>) => void, expected: string) => `${String(mutate).replace(/^\(m\) => /, '')} → ${expected}`,
});
test(problem, (m) => (m.generatedAt = 0), 'generatedAt: must be a string');
test(problem, (m) => delete m.root, 'root: must be a string');
test(problem, (m) => (m.driver = 'x'), 'driver: must be an object or null');
test(problem, (m) => (m.driver.version = 580), 'driver.version: must be a string');
test(problem, (m) => delete m.driver.cudaVersion, 'driver.cudaVersion: must be a string');
test(problem, (m) => (m.gpus = {}), 'gpus: must be an array');
test(problem, (m) => (m.gpus[0] = null), 'gpus[0]: must be an object');
test(problem, (m) => (m.gpus[1].uuid = 5), 'gpus[1].uuid: must be a string');
test(problem, (m) => (m.gpus[0].minor = '0'), 'gpus[0].minor: must be an integer');
test(problem, (m) => (m.gpus[1].index = 1.5), 'gpus[1].index: must be an integer');
test(problem, (m) => delete m.gpus[0].pciBusId, 'gpus[0].pciBusId: must be a string');
test(problem, (m) => delete m.gpus[0].architecture, 'gpus[0].architecture: must be a string');
test(problem, (m) => (m.gpus[0].edits = []), 'gpus[0].edits: must be an object');
test(problem, (m) => (m.gpus[0].edits.deviceNodes = 'x'), 'gpus[0].edits.deviceNodes: must be an array');
test(problem, (m) => (m.gpus[1].driNodes[1].minor = 1.5), 'gpus[1].driNodes[1].minor: must be an integer');
test(problem, (m) => (m.controlNodes[0].path = '/tmp/nvidiactl'), 'controlNodes[0].path: must be under /dev/');
test(problem, (m) => (m.controlNodes[0].path = '/dev/../etc/shadow'), 'controlNodes[0].path: must be under /dev/');
test(problem, (m) => delete m.controlNodes[0].major, 'controlNodes[0].major: must be an integer');
test(problem, (m) => (m.controlNodes[0].hostPath = 7), 'controlNodes[0].hostPath: must be a string');
test(problem, (m) => (m.capNodes[1].fileMode = '0444'), 'capNodes[1].fileMode: must be an integer');
test(problem, (m) => (m.capabilities = []), 'capabilities: must be an object');
test(problem, (m) => (m.capabilities.bogus = {}), 'capabilities.bogus: unknown capability');
test(problem, (m) => (m.capabilities.utility.env = [1]), 'capabilities.utility.env[0]: must be a string');
test(problem, (m) => (m.capabilities.compute.mounts[0].containerPath = 'usr/lib/libcuda.so'), 'capabilities.compute.mounts[0].containerPath: must be an absolute path without ".."');
test(problem, (m) => (m.capabilities.compute.mounts[0].containerPath = '/usr/../etc/shadow'), 'capabilities.compute.mounts[0].containerPath: must be an absolute path without ".."');
test(problem, (m) => delete m.capabilities.compute.mounts[1].hostPath, 'capabilities.compute.mounts[1].hostPath: must be a string');
test(problem, (m) => (m.capabilities.video.mounts[0].options = 'ro'), 'capabilities.video.mounts[0].options: must be an array');
test(problem, (m) => (m.capabilities.compute.hooks = 'x'), 'capabilities.compute.hooks: must be an array');
test(problem, (m) => (m.capabilities.compute.hooks = [{ hookName: 'prestart', path: 'sh' }]), 'capabilities.compute.hooks[0].path: must be an absolute path');
test(problem, (m) => (m.capabilities.compute.hooks = [{ hookName: 'preStart', path: '/bin/sh' }]), 'capabilities.compute.hooks[0].hookName: must be an OCI hook name');
test(problem, (m) => (m.capabilities.compute.hooks = [{ hookName: 'prestart', path: '/bin/sh', args: [1] }]), 'capabilities.compute.hooks[0].args[0]: must be a string');
test(problem, (m) => (m.tools = null), 'tools: must be an object');
test(problem, (m) => delete m.tools.nsenter, 'tools.nsenter: must be a string');
test(problem, (m) => (m.libraryDirs = [1]), 'libraryDirs[0]: must be a string');
test(problem, (m) => delete m.warnings, 'warnings: must be an array');
test(problem, (m) => (m.files = {}), 'files: must be an array');

test('fields that may be absent are accepted when absent', (t) => {
  const m = JSON.parse(serializeManifest(buildManifest({ gpus: 1 }))) as Record<string, any>;
  m.capabilities = { unclassified: {} };
  delete m.controlNodes[0].hostPath;
  delete m.controlNodes[0].fileMode;
  m.driver = null;
  t.notThrows(() => parseManifest(JSON.stringify(m), SOURCE));
});

test('every problem is listed, and the message shows the first three', (t) => {
  const m = JSON.parse(serializeManifest(buildManifest({ gpus: 2 }))) as Record<string, any>;
  m.gpus[0].minor = 'x';
  m.gpus[1].uuid = null;
  m.controlNodes[0].path = 'nvidiactl';
  m.libraryDirs = 'x';
  m.capabilities.compute.mounts[0].containerPath = 7;
  const error = thrown(ParseError, () => parseManifest(JSON.stringify(m), SOURCE));
  t.true(error.problems.length >= 5, JSON.stringify(error.problems));
  for (const p of ['gpus[0].minor: must be an integer', 'gpus[1].uuid: must be a string', 'controlNodes[0].path: must be under /dev/', 'libraryDirs: must be an array']) {
    t.true(error.problems.includes(p), p);
  }
  t.true(error.problems.some((p) => p.startsWith('capabilities.compute.mounts[0].containerPath: ')));
  t.regex(error.message, /\(and \d+ more\)$/);
  t.false(error.message.includes('\n'));
  t.is(error.exitCode, 1);
});
