import test from 'ava';
import { spawnSync } from 'node:child_process';
import { HOOK_ENV, ldcacheHook } from '../../src/core/plan/post-mount.js';

// The post-mount step's shell reads the runtime state and must find the container's pid and nothing
// a container could plant: run it for real with /bin/echo standing in for nsenter.
const hook = ldcacheHook({ ldconfig: '/sbin/ldconfig.real', nsenter: '/bin/echo', sh: '/bin/sh' }, '/rootfs', ['/usr/lib64', '/usr/local/nvidia/lib64'])!;

function runWith(state: string) {
  const r = spawnSync(hook.path, hook.args!.slice(1), { input: state, argv0: hook.args![0], env: { PATH: '/usr/bin:/bin' } });
  return { code: r.status, out: String(r.stdout).trim(), err: String(r.stderr).trim() };
}

const finds = test.macro({
  exec(t, state: string, pid: number) {
    const r = runWith(state);
    t.is(r.code, 0, r.err);
    t.is(r.out, `--target ${pid} --mount -- /sbin/ldconfig.real -r /rootfs /usr/lib64 /usr/local/nvidia/lib64`);
  },
  title: (_, state: string) => `finds the pid in ${state.slice(0, 90)}`,
});

test(finds, '{"ociVersion":"1.0.2","id":"c1","status":"created","pid":4242,"bundle":"/b"}', 4242);
test(finds, '{\n  "ociVersion": "1.0.2",\n  "pid" :\t 77,\n  "bundle": "/b"\n}', 77);
test(finds, '{"ociVersion":"1.0.2","id":"\\"pid\\":1","status":"created","pid":55,"bundle":"/b"}', 55);
test(finds, '{"ociVersion":"1.0.2","pid":56,"bundle":"/b","annotations":{"\\"pid":"1","x":"\\"pid\\": 1"}}', 56);
test(finds, '{"ociVersion":"1.0.2","annotations":{"\\"pid":"1","pid":"2"},"pid":57,"bundle":"/b"}', 57);

const refuses = test.macro({
  exec(t, state: string) {
    const r = runWith(state);
    t.is(r.code, 1);
    t.is(r.out, '', 'nsenter never ran');
    t.is(r.err, 'oci-gpu: no container pid in the runtime state');
  },
  title: (_, state: string) => `refuses ${state.slice(0, 90) || 'an empty state'}`,
});

test(refuses, '');
test(refuses, '{"ociVersion":"1.0.2","pid":"12","bundle":"/b"}');
test(refuses, '{"ociVersion":"1.0.2","pid":0,"bundle":"/b"}');
test(refuses, '{"annotations":{"a":"\\"pid\\":9"},"bundle":"/b"}');

test('the step runs with only the minimal PATH, whatever the container sets', (t) => {
  t.deepEqual(hook.env, HOOK_ENV);
  t.deepEqual(HOOK_ENV, ['PATH=/usr/sbin:/usr/bin:/sbin:/bin']);
  t.is(hook.hookName, 'createRuntime');
});
