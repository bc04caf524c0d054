// Subprocesses go only through src/adapters/exec.ts (absolute path, no shell, minimal environment):
// no other module imports execa or node:child_process; startCommand runs a monitor the way the
// watcher's udev listener uses it (here a fake udevadm that prints two event blocks).
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startCommand } from '../../src/adapters/exec.js';
import { startUdevMonitor } from '../../src/adapters/udev.js';
import type { Logger } from '../../src/model/logger.js';
import { REPO_ROOT } from '../helpers/paths.js';

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

// The runtime wrapper must exec(2)-like hand its stdio to runc: a plain spawn with stdio inherited, not execa.
const ALLOWED: Record<string, RegExp> = {
  'src/adapters/exec.ts': /^execa$/,
  'src/runtime/main.ts': /^node:child_process$/,
};

test('only src/adapters/exec.ts imports execa; nothing else starts processes on its own', (t) => {
  const offenders: string[] = [];
  for (const file of sources(path.join(REPO_ROOT, 'src'))) {
    const rel = path.relative(REPO_ROOT, file);
    const text = fs.readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:from\s+|import\(\s*)'(execa|node:child_process|child_process)'/g)) {
      if (!ALLOWED[rel]?.test(m[1]!)) offenders.push(`${rel}: ${m[1]}`);
    }
  }
  t.deepEqual(offenders, []);
});

function fakeProgram(t: { teardown(fn: () => void): void }, body: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oci-gpu-exec-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'prog');
  fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return file;
}

test('startCommand: output as it comes, the exit code, a minimal environment', async (t) => {
  const prog = fakeProgram(t, 'echo "PATH=$PATH HOME=${HOME:-unset}"; exit 7');
  let out = '';
  const child = startCommand(prog, [], { onStdout: (c) => (out += c) });
  t.deepEqual(await child.exited, { exitCode: 7, signal: undefined });
  t.is(out, 'PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=unset\n');
});

test('startCommand: kill ends a monitor that never exits on its own', async (t) => {
  const prog = fakeProgram(t, 'echo started; exec sleep 600');
  let out = '';
  const child = startCommand(prog, [], { onStdout: (c) => (out += c) });
  while (!out.includes('started')) await new Promise((r) => setTimeout(r, 10));
  child.kill('SIGTERM');
  t.is((await child.exited).signal, 'SIGTERM');
});

const quiet: Logger = { error() {}, warn() {}, info() {}, debug() {} };

test('udev monitor: one event per property block, through startCommand', async (t) => {
  const args = fakeProgram(t, '').replace(/prog$/, 'args');
  const udevadm = fakeProgram(
    t,
    `echo "$*" >'${args}'
printf 'monitor will print the received events for:\\nUDEV - the event which udev sends out after rule processing\\n\\n'
printf 'UDEV  [1.0] add      /module/nvidia (module)\\nACTION=add\\nDEVPATH=/module/nvidia\\nSUBSYSTEM=module\\n\\n'
printf 'ACTION=change\\nDEVPATH=/devices/pci0000:00/0000:00:06.0\\nSUBSYSTEM=pci\\n\\n'
exec sleep 600`,
  );
  const events: string[] = [];
  const monitor = startUdevMonitor(udevadm, (e) => events.push(e), quiet);
  t.teardown(() => monitor.stop());
  const deadline = Date.now() + 20_000;
  while (events.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  t.deepEqual(events, ['add /module/nvidia', 'change /devices/pci0000:00/0000:00:06.0']);
  t.regex(fs.readFileSync(args, 'utf8'), /^monitor --udev --property --subsystem-match=module /);
});
