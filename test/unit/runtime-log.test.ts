import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { writeRuntimeLog } from '../../src/runtime/main.js';

// Docker and containerd read a failed runtime's error from its --log file: the wrapper's line goes there.
const dir = mkdtempSync(path.join(tmpdir(), 'oci-gpu-runtime-log-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));
const LINE = 'oci-gpu-runtime: NVIDIA_VISIBLE_DEVICES asks for GPU "7", which does not exist\n';

test('JSON with --log-format json, after global flags that take values (as containerd passes them)', (t) => {
  const log = path.join(dir, 'a.json');
  writeRuntimeLog(['--root', '/run/runc', '--log', log, '--log-format', 'json', 'create', '--bundle', '/b', 'id'], LINE);
  const entry = JSON.parse(readFileSync(log, 'utf8')) as Record<string, string>;
  t.like(entry, { level: 'error', msg: LINE.trimEnd() });
  t.regex(entry.time!, /^\d{4}-\d\d-\d\dT/);
});

test('text without a format; --log=FILE spelled inline', (t) => {
  const log = path.join(dir, 'b.log');
  writeRuntimeLog([`--log=${log}`, 'run', 'id'], LINE);
  t.is(readFileSync(log, 'utf8'), LINE);
});

test('no --log before the subcommand, a relative one, or an unwritable one: nothing written, no throw', (t) => {
  const after = path.join(dir, 'c.log');
  writeRuntimeLog(['create', '--log', after], LINE);
  t.throws(() => readFileSync(after), { code: 'ENOENT' }, 'a --log after the subcommand is not the runtime\'s');
  t.notThrows(() => writeRuntimeLog(['--log', 'relative.log', 'create'], LINE));
  t.notThrows(() => writeRuntimeLog(['--log', path.join(dir, 'missing-folder/x.log'), 'create'], LINE));
});
