// Manifest faults on the start path: the manifest missing, empty, truncated at several lengths,
// not JSON, valid JSON of the wrong shape, of a newer or foreign schema, from another driver
// version, or a folder. For each, the container must not start and the hook must say, in one line,
// which file and what to run. precreate through Podman (crun and runc): podman run fails and the
// command never ran. oci-gpu-runtime: a recorder stands in for the real runtime and must never run;
// config.json stays byte for byte. The legacy createRuntime stage on a bare bundle (crun and runc):
// the container never runs. hook-podman.test.ts already covers precreate with a missing manifest
// and another driver version; this file covers every fault on every path. Needs root.
import test from 'ava';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fixtureManifest, hookBinary, makeBundle, RUNTIME_BIN, show, tempDir } from '../helpers/hook-env.js';
import { gateOf, LEGACY_GATE, limiter, PODMAN_GATE, startContainer, type StartPath } from '../helpers/hostile.js';
import { podmanUnavailableReason, run, RUNTIMES } from '../helpers/podman.js';

const slot = limiter(6);

test.before('environment, binary, fixtures', async (t) => {
  if (PODMAN_GATE.skipped) return;
  t.is(podmanUnavailableReason(), undefined);
  await hookBinary();
  await fixtureManifest('h200');
});

interface Fault {
  title: string;
  /** Writes the faulty manifest; returns its path. */
  make: (good: string) => string;
  /** What the line says about it (after the file name). */
  says: RegExp;
}

function write(content: string | Buffer): string {
  const file = path.join(tempDir('bad-manifest'), 'manifest.json');
  writeFileSync(file, content);
  return file;
}

function edited(good: string, edit: (m: Record<string, any>) => unknown): string {
  const m = JSON.parse(good) as Record<string, any>;
  edit(m);
  return write(JSON.stringify(m));
}

const NOT_JSON = /is not valid JSON \(truncated or corrupt\)/;

const FAULTS: Fault[] = [
  { title: 'missing', make: () => path.join(tempDir('no-manifest'), 'manifest.json'), says: /does not exist/ },
  { title: 'empty', make: () => write(''), says: NOT_JSON },
  ...[1, 0.1, 0.5, 0.99].map((f) => ({ title: `truncated to ${f === 1 ? '1 byte' : `${f * 100}%`}`, make: (g: string) => write(g.slice(0, f === 1 ? 1 : Math.floor(g.length * f))), says: NOT_JSON })),
  { title: 'truncated inside a string', make: (g: string) => write(g.slice(0, g.indexOf('"/usr/local/nvidia/lib64') + 10)), says: NOT_JSON },
  { title: 'not JSON', make: () => write('driver=580.159.04\n'), says: NOT_JSON },
  { title: 'binary garbage', make: () => write(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2, 0xff, 0xfe])), says: NOT_JSON },
  { title: 'a JSON array', make: () => write('[]'), says: /is not a JSON object/ },
  { title: 'JSON null', make: () => write('null'), says: /is not a JSON object/ },
  { title: 'an empty object', make: () => write('{}'), says: /has schema undefined, expected oci-gpu\.manifest\/v2/ },
  { title: 'of the right schema but the wrong shape (gpus a string, driver.version a number)', make: (g) => edited(g, (m) => ((m.gpus = 'all'), (m.driver.version = 580))), says: /driver\.version: must be a string; gpus: must be an array/ },
  { title: 'of the right schema with nothing else', make: () => write('{"schema":"oci-gpu.manifest/v2"}'), says: /generatedAt: must be a string/ },
  { title: 'of a newer schema (oci-gpu.manifest/v3)', make: (g) => edited(g, (m) => (m.schema = 'oci-gpu.manifest/v3')), says: /has schema oci-gpu\.manifest\/v3, newer than this oci-gpu reads \(oci-gpu\.manifest\/v2\)/ },
  { title: 'of the previous schema (oci-gpu.manifest/v1: the watcher was not restarted after an upgrade)', make: (g) => edited(g, (m) => (m.schema = 'oci-gpu.manifest/v1')), says: /has schema oci-gpu\.manifest\/v1, older than this oci-gpu reads \(oci-gpu\.manifest\/v2\): restart oci-gpu-watch/ },
  { title: 'of a foreign schema', make: (g) => edited(g, (m) => (m.schema = 'nvidia.cdi/v1')), says: /has schema nvidia\.cdi\/v1, expected oci-gpu\.manifest\/v2/ },
  { title: 'from another driver version', make: (g) => edited(g, (m) => (m.driver.version = '570.86.10')), says: /was written for driver 570\.86\.10 but driver 580\.159\.04 is loaded now/ },
  { title: 'a folder', make: () => tempDir('manifest-dir'), says: /cannot read manifest|EISDIR/ },
];

/** The line must name the file and say what to run. */
function assertLine(t: import('ava').ExecutionContext, stderr: string, program: string, file: string, says: RegExp, ctx: string): void {
  const lines = stderr.split('\n').filter(Boolean);
  t.is(lines.length, 1, `not one line:\n${ctx}`);
  const line = lines[0] ?? '';
  t.true(line.startsWith(`${program}: `), ctx);
  t.true(line.includes(`manifest "${file}"`), `the line does not name the file:\n${line}`);
  t.regex(line, says, line);
  t.regex(line, new RegExp(`oci-gpu scan --output ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}|upgrade oci-gpu`), `the line does not say what to run:\n${line}`);
}

const startFails = test.macro({
  async exec(t, fault: Fault, startPath: Exclude<StartPath, 'wrapper' | 'cdi'>) {
    const good = readFileSync((await fixtureManifest('h200')).file, 'utf8');
    const manifest = fault.make(good);
    for (const runtime of RUNTIMES) {
      const s = await slot(() => startContainer({ path: startPath, runtime, manifest, script: 'echo RAN' }));
      t.false(s.ran, `${runtime}: the container ran\n${s.ctx}`);
      t.not(s.r.exitCode, 0, s.ctx);
      assertLine(t, s.hookErr, 'oci-gpu-hook', manifest, fault.says, s.ctx);
      if (startPath === 'legacy') t.true(s.configAfter?.equals(s.configBefore!), 'the bundle config changed');
    }
  },
  title: (_ = '', fault: Fault, startPath: StartPath) => `${startPath}: a manifest ${fault.title} stops the start with one line naming it and what to run${gateOf(startPath).why}`,
});

const wrapperFails = test.macro({
  async exec(t, fault: Fault) {
    const good = readFileSync((await fixtureManifest('h200')).file, 'utf8');
    const manifest = fault.make(good);
    const dir = tempDir('fake-runtime');
    const fake = path.join(dir, 'runc');
    writeFileSync(fake, `#!/bin/sh\necho "$*" >>'${dir}/ran'\n`);
    chmodSync(fake, 0o755);
    const b = await makeBundle('runc', { args: ['sh', '-c', 'echo RAN'], annotations: { 'oci-gpu/devices': 'all' } });
    mkdirSync(path.join(b.dir, 'unused'), { recursive: true });
    const before = { bytes: readFileSync(b.config), ino: statSync(b.config).ino, mtime: statSync(b.config).mtimeMs };
    const r = await run(RUNTIME_BIN, ['--runtime', fake, '--manifest', manifest, 'run', '--bundle', b.dir, 'x']);
    t.not(r.exitCode, 0, show(r));
    t.false(existsSync(path.join(dir, 'ran')), 'the real runtime was invoked');
    assertLine(t, r.stderr, 'oci-gpu-runtime', manifest, fault.says, show(r));
    t.true(readFileSync(b.config).equals(before.bytes), 'config.json changed');
    t.is(statSync(b.config).ino, before.ino);
    t.is(statSync(b.config).mtimeMs, before.mtime);
  },
  title: (_ = '', fault: Fault) => `oci-gpu-runtime: a manifest ${fault.title} stops it before the runtime, config.json untouched, one line${PODMAN_GATE.why}`,
});

for (const f of FAULTS) {
  if (f.title !== 'missing' && f.title !== 'from another driver version') PODMAN_GATE.test(startFails, f, 'precreate');
  LEGACY_GATE.test(startFails, f, 'legacy');
  PODMAN_GATE.test(wrapperFails, f);
}
