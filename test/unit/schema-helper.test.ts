import test from 'ava';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { SCHEMAS } from '../helpers/paths.js';
import { validateCdiSpec, validateOciConfig, validateOciState } from '../helpers/schema.js';

const exampleConfig = JSON.parse(readFileSync(path.join(SCHEMAS, 'oci-runtime/example-config.json'), 'utf8')) as Record<
  string,
  unknown
>;

const minimalCdi = {
  cdiVersion: '0.5.0',
  kind: 'nvidia.com/gpu',
  devices: [
    {
      name: '0',
      containerEdits: {
        deviceNodes: [{ path: '/dev/nvidia0', major: 195, minor: 0 }],
        mounts: [{ hostPath: '/usr/lib/libcuda.so.1', containerPath: '/usr/lib/libcuda.so.1', options: ['ro', 'bind'] }],
        hooks: [{ hookName: 'createContainer', path: '/usr/bin/oci-gpu-hook', args: ['oci-gpu-hook', 'ldcache'] }],
      },
    },
  ],
  containerEdits: { deviceNodes: [{ path: '/dev/nvidiactl' }] },
};

/** A copy of value without key (the property is absent, not undefined). */
function without<T extends object>(value: T, key: keyof T): Partial<T> {
  const copy: Partial<T> = { ...value };
  delete copy[key];
  return copy;
}

const minimalState = { ociVersion: '1.0.2', id: 'abc', status: 'creating', pid: 0, bundle: '/run/bundle' };

test('validateOciConfig accepts the runtime-spec example config', (t) => {
  t.deepEqual(validateOciConfig(exampleConfig), []);
});

test('validateOciConfig accepts a minimal config', (t) => {
  t.deepEqual(validateOciConfig({ ociVersion: '1.0.2', root: { path: 'rootfs' } }), []);
});

test('validateCdiSpec accepts a minimal spec', (t) => {
  t.deepEqual(validateCdiSpec(minimalCdi), []);
});

test('validateOciState accepts a minimal state', (t) => {
  t.deepEqual(validateOciState(minimalState), []);
});

const rejects = test.macro({
  exec(t, validate: (v: unknown) => string[], value: unknown, expected: RegExp) {
    const errors = validate(value);
    t.true(errors.length > 0, 'expected at least one error');
    t.true(
      errors.some((e) => expected.test(e)),
      `no error matches ${String(expected)}: ${JSON.stringify(errors)}`,
    );
  },
  title: (provided = '') => `rejects ${provided}`,
});

test('CDI spec without kind', rejects, validateCdiSpec, without(minimalCdi, 'kind'), /^kind: is required$/);
test('CDI spec with a numeric cdiVersion', rejects, validateCdiSpec, { ...minimalCdi, cdiVersion: 5 }, /^cdiVersion: must be string$/);
test(
  'CDI device node without path',
  rejects,
  validateCdiSpec,
  { ...minimalCdi, devices: [{ name: '0', containerEdits: { deviceNodes: [{ major: 195 }] } }] },
  /^devices\[0\]\.containerEdits\.deviceNodes\[0\]\.path: is required$/,
);
test(
  'CDI device node with a string major',
  rejects,
  validateCdiSpec,
  { ...minimalCdi, devices: [{ name: '0', containerEdits: { deviceNodes: [{ path: '/dev/x', major: '195' }] } }] },
  /^devices\[0\]\.containerEdits\.deviceNodes\[0\]\.major: must be integer$/,
);
test('CDI spec that is not an object', rejects, validateCdiSpec, 'spec', /^\(root\): must be object$/);

test('OCI config without ociVersion', rejects, validateOciConfig, { root: { path: 'rootfs' } }, /^ociVersion: is required$/);
test(
  'OCI config with string process.args',
  rejects,
  validateOciConfig,
  { ...exampleConfig, process: { ...(exampleConfig['process'] as object), args: 'sh' } },
  /^process\.args: must be array$/,
);
test(
  'OCI config linux device without type',
  rejects,
  validateOciConfig,
  { ociVersion: '1.0.2', linux: { devices: [{ path: '/dev/nvidia0', major: 195, minor: 0 }] } },
  /^linux\.devices\[0\]\.type: is required$/,
);
test(
  'OCI config hook with a numeric path',
  rejects,
  validateOciConfig,
  { ociVersion: '1.0.2', hooks: { createContainer: [{ path: 42 }] } },
  /^hooks\.createContainer\[0\]\.path: must be string$/,
);

test('OCI state with an unknown status', rejects, validateOciState, { ...minimalState, status: 'paused' }, /^status: must be equal to one of the allowed values$/);
test('OCI state without bundle', rejects, validateOciState, without(minimalState, 'bundle'), /^bundle: is required$/);
