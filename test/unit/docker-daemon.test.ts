// daemon.json edits: our runtime entry in, other keys and runtimes kept, formatting kept, unparsable
// files refused with one line naming the file, removal only of an entry still as we wrote it.
import test from 'ava';
import { addDockerRuntime, parseDaemonJson, removeDockerRuntime } from '../../src/core/install/docker-daemon.js';
import { ParseError } from '../../src/errors.js';

const FILE = '/etc/docker/daemon.json';
const ENTRY = { path: '/usr/bin/oci-gpu-runtime' };
const WITH_ARGS = { path: '/opt/x/usr/bin/oci-gpu-runtime', runtimeArgs: ['--config', '/opt/x/etc/oci-gpu/config.json5'] };

const EXISTING = `{
    "log-driver": "json-file",
    "log-opts": { "max-size": "10m" },
    "runtimes": {
        "nvidia": { "path": "nvidia-container-runtime", "runtimeArgs": [] }
    },
    "default-runtime": "runc"
}
`;

test('no file: creates one holding only our runtime', (t) => {
  const r = addDockerRuntime(null, FILE, 'oci-gpu', ENTRY);
  t.true(r.changed);
  t.deepEqual(JSON.parse(r.text), { runtimes: { 'oci-gpu': ENTRY } });
  t.true(r.text.endsWith('}\n'));
});

test('existing file: other keys, other runtimes, key order and 4-space indentation kept', (t) => {
  const r = addDockerRuntime(EXISTING, FILE, 'oci-gpu', WITH_ARGS);
  t.true(r.changed);
  const parsed = JSON.parse(r.text) as Record<string, any>;
  t.deepEqual(Object.keys(parsed), ['log-driver', 'log-opts', 'runtimes', 'default-runtime']);
  t.deepEqual(parsed['log-opts'], { 'max-size': '10m' });
  t.is(parsed['default-runtime'], 'runc', 'never changes the default runtime');
  t.deepEqual(parsed.runtimes.nvidia, { path: 'nvidia-container-runtime', runtimeArgs: [] });
  t.deepEqual(parsed.runtimes['oci-gpu'], WITH_ARGS);
  t.regex(r.text, /^ {4}"log-driver"/m);
  t.notRegex(r.text, /^ {2}"log-driver"/m);
});

test('tab indentation kept', (t) => {
  const r = addDockerRuntime('{\n\t"debug": true\n}\n', FILE, 'oci-gpu', ENTRY);
  t.regex(r.text, /^\t"debug": true,$/m);
  t.regex(r.text, /^\t\t"oci-gpu": \{$/m);
});

test('adding again: unchanged, text returned as it was', (t) => {
  const once = addDockerRuntime(EXISTING, FILE, 'oci-gpu', WITH_ARGS).text;
  const twice = addDockerRuntime(once, FILE, 'oci-gpu', WITH_ARGS);
  t.false(twice.changed);
  t.is(twice.text, once);
  // Key order inside the entry does not count as a change.
  const reordered = once.replace(/"path": "([^"]+oci-gpu-runtime)",\s*"runtimeArgs": (\[[^\]]*\])/, '"runtimeArgs": $2, "path": "$1"');
  t.not(reordered, once);
  t.false(addDockerRuntime(reordered, FILE, 'oci-gpu', WITH_ARGS).changed);
});

test('an older entry of ours is replaced', (t) => {
  const old = addDockerRuntime(null, FILE, 'oci-gpu', ENTRY).text;
  const r = addDockerRuntime(old, FILE, 'oci-gpu', WITH_ARGS);
  t.true(r.changed);
  t.deepEqual(JSON.parse(r.text).runtimes['oci-gpu'], WITH_ARGS);
});

test('empty or blank file counts as {}', (t) => {
  t.deepEqual(parseDaemonJson('', FILE), {});
  t.deepEqual(JSON.parse(addDockerRuntime(' \n', FILE, 'oci-gpu', ENTRY).text), { runtimes: { 'oci-gpu': ENTRY } });
});

const refused = test.macro({
  exec(t, text: string, want: RegExp) {
    const error = t.throws(() => addDockerRuntime(text, FILE, 'oci-gpu', ENTRY), { instanceOf: ParseError });
    t.regex(error!.message, /^docker config "\/etc\/docker\/daemon\.json": /);
    t.regex(error!.message, want);
    t.false(error!.message.includes('\n'), 'one line');
  },
  title: (name = '') => `refused: ${name}`,
});

test('comments (JSON has none)', refused, '{\n  // our runtimes\n  "debug": true\n}\n', /not valid JSON .*no comments/);
test('trailing comma', refused, '{ "debug": true, }', /not valid JSON/);
test('not an object', refused, '[1, 2]', /must be a JSON object/);
test('runtimes not an object', refused, '{ "runtimes": [] }', /runtimes: must be an object/);

test('remove: only our entry goes, the rest stays as it was', (t) => {
  const added = addDockerRuntime(EXISTING, FILE, 'oci-gpu', WITH_ARGS).text;
  const r = removeDockerRuntime(added, FILE, 'oci-gpu', WITH_ARGS, false);
  t.is(r.outcome, 'removed');
  t.deepEqual(JSON.parse(r.text!), JSON.parse(EXISTING));
});

test('remove: runtimes emptied → key dropped; file we created → null', (t) => {
  const added = addDockerRuntime('{ "debug": true }', FILE, 'oci-gpu', ENTRY).text;
  t.deepEqual(JSON.parse(removeDockerRuntime(added, FILE, 'oci-gpu', ENTRY, false).text!), { debug: true });
  const created = addDockerRuntime(null, FILE, 'oci-gpu', ENTRY).text;
  t.deepEqual(removeDockerRuntime(created, FILE, 'oci-gpu', ENTRY, true), { outcome: 'removed', text: null });
  t.deepEqual(JSON.parse(removeDockerRuntime(created, FILE, 'oci-gpu', ENTRY, false).text!), {});
});

test('remove: absent entry, or one edited since, is left alone', (t) => {
  t.deepEqual(removeDockerRuntime(EXISTING, FILE, 'oci-gpu', ENTRY, false), { outcome: 'absent', text: EXISTING });
  const edited = addDockerRuntime(EXISTING, FILE, 'oci-gpu', { path: '/somewhere/else' }).text;
  t.deepEqual(removeDockerRuntime(edited, FILE, 'oci-gpu', ENTRY, false), { outcome: 'changed', text: edited });
});
