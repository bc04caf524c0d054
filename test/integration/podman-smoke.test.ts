// Proves the integration environment works, with crun and runc: containers start, a hooks.d precreate
// hook fires only for annotated containers, and a fake /dev/nvidia0 passed with --device is allowed by
// the device cgroup (ENXIO: no driver behind it) while the same node bind-mounted without a rule is not
// (EPERM). Needs root and scripts/setup-host.sh: skipped with the reason without them, except under
// test:all, where a missing prerequisite fails.
import test from 'ava';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RUNTIMES, mknodFake, podmanRun, podmanTests, podmanUnavailableReason, type RunResult, type Runtime } from '../helpers/podman.js';
import { validateOciConfig } from '../helpers/schema.js';

const { test: podmanTest, why, skipped } = podmanTests();

test.before('environment', (t) => {
  if (skipped) return;
  // Nothing may be missing here: say what to run instead of failing every container.
  t.is(podmanUnavailableReason(), undefined);
});

async function tempDir(t: { teardown(fn: () => Promise<void>): void }, prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), `oci-gpu-${prefix}-`));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function show(r: RunResult): string {
  return `exit ${r.exitCode}${r.timedOut ? ' (timed out)' : ''}\n$ ${r.command}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

const startsTrue = test.macro({
  async exec(t, runtime: Runtime, rootfs: boolean) {
    const r = await podmanRun({ runtime, args: ['/bin/true'], ...(rootfs ? { rootfs: true as const } : {}) });
    t.is(r.exitCode, 0, show(r));
  },
  title: (_ = '', runtime: Runtime, rootfs: boolean) => `${runtime}: /bin/true runs from ${rootfs ? '--rootfs (overlay)' : 'the test image'}${why}`,
});

/** A hooks.d dir whose precreate hook passes config.json through and records each run in dir/ran.log. */
async function recordingHooksDir(dir: string): Promise<{ hooksDir: string; ranLog: string; lastConfig: string }> {
  const hooksDir = path.join(dir, 'hooks.d');
  const script = path.join(dir, 'record-hook.sh');
  const ranLog = path.join(dir, 'ran.log');
  const lastConfig = path.join(dir, 'config.json');
  await writeFile(
    script,
    // Hooks get only the env of their hooks.d entry: absolute paths, RECORD_DIR from the entry.
    '#!/bin/sh\nset -eu\n/bin/cat | /usr/bin/tee "$RECORD_DIR/config.json"\necho ran >> "$RECORD_DIR/ran.log"\n',
  );
  await chmod(script, 0o755);
  await mkdir(hooksDir);
  const entry = {
    version: '1.0.0',
    hook: { path: script, env: ['PATH=/usr/bin:/bin', `RECORD_DIR=${dir}`] },
    when: { annotations: { '^oci-gpu/devices$': '.+' } },
    stages: ['precreate'],
  };
  await writeFile(path.join(hooksDir, 'oci-gpu-record.json'), JSON.stringify(entry, null, 2));
  return { hooksDir, ranLog, lastConfig };
}

async function runCount(ranLog: string): Promise<number> {
  try {
    return (await readFile(ranLog, 'utf8')).split('\n').filter((l) => l === 'ran').length;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
}

const hookFiresOnAnnotation = test.macro({
  async exec(t, runtime: Runtime, rootfs: boolean) {
    const dir = await tempDir(t, `hook-${runtime}`);
    const { hooksDir, ranLog, lastConfig } = await recordingHooksDir(dir);
    const source = rootfs ? { rootfs: true as const } : {};

    const plain = await podmanRun({ runtime, hooksDir, args: ['/bin/true'], ...source });
    t.is(plain.exitCode, 0, show(plain));
    t.is(await runCount(ranLog), 0, 'hook ran for a container without the annotation');

    const annotated = await podmanRun({ runtime, hooksDir, annotations: { 'oci-gpu/devices': '0' }, args: ['/bin/true'], ...source });
    t.is(annotated.exitCode, 0, show(annotated));
    t.is(await runCount(ranLog), 1, 'hook did not run exactly once for the annotated container');

    // What the hook saw on stdin is the bundle config.json, with the annotation, valid per the OCI schema.
    const config = JSON.parse(await readFile(lastConfig, 'utf8')) as { annotations?: Record<string, string>; root?: { path?: string } };
    t.is(config.annotations?.['oci-gpu/devices'], '0');
    t.deepEqual(validateOciConfig(config), []);
    t.log(`${runtime}: precreate root.path = ${config.root?.path ?? '(none)'}`);
  },
  title: (_ = '', runtime: Runtime, rootfs: boolean) =>
    `${runtime}: precreate hook fires only with the oci-gpu/devices annotation (${rootfs ? '--rootfs' : 'image'})${why}`,
});

const fakeDeviceOpens = test.macro({
  async exec(t, runtime: Runtime, minor: number) {
    const dir = await tempDir(t, `dev-${runtime}`);
    const node = path.join(dir, `nvidia${minor}`);
    await mknodFake(node, 195, minor);
    const dd = ['dd', `if=/dev/nvidia${minor}`, 'of=/dev/null', 'count=1'];

    // --device: podman adds the node and a cgroup allow rule; the open reaches the (absent) driver.
    const allowed = await podmanRun({ runtime, devices: [`${node}:/dev/nvidia${minor}`], args: dd });
    t.not(allowed.exitCode, 0, show(allowed));
    t.regex(allowed.stderr, /No such device or address/, show(allowed));
    t.notRegex(allowed.stderr, /Operation not permitted/, show(allowed));

    // Control: the same node bind-mounted without a rule is denied by the device cgroup.
    const denied = await podmanRun({ runtime, volumes: [`${node}:/dev/nvidia${minor}`], args: dd });
    t.not(denied.exitCode, 0, show(denied));
    t.regex(denied.stderr, /Operation not permitted/, show(denied));
  },
  title: (_ = '', runtime: Runtime, minor: number) =>
    `${runtime}: fake 195:${minor} via --device opens with ENXIO (bind mount without a rule: EPERM)${why}`,
});

for (const [i, runtime] of RUNTIMES.entries()) {
  podmanTest(startsTrue, runtime, false);
  podmanTest(startsTrue, runtime, true);
  podmanTest(hookFiresOnAnnotation, runtime, false);
  podmanTest(hookFiresOnAnnotation, runtime, true);
  podmanTest(fakeDeviceOpens, runtime, i);
}
