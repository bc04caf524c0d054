// The post-mount step (sh, no JS runtime). From the runtime's namespace (createRuntime: a CDI spec,
// a read-only rootfs) one awk reads the container's pid from the runtime state and its rootfs from
// <bundle>/config.json. Both files carry container-controlled strings (annotations, env, args): run
// the real step, with a stand-in nsenter that prints the pid and runs the rest and /bin/echo for
// ldconfig, against compact and pretty-printed files, relative and absolute root.path, hostile
// strings, huge configs, and every awk this machine has (mawk is Debian's and Ubuntu's default;
// gawk; busybox). Inside the container's namespaces (createContainer: precreate and the wrapper on
// a writable rootfs) the same step runs with the rootfs it was given and reads nothing.
import test from 'ava';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { HOOK_ENV, postMountHook, type PostMountOptions } from '../../src/core/plan/post-mount.js';
import { IS_ROOT } from '../helpers/root.js';
import type { Hook } from '../../src/model/edits.js';

const DIRS = ['/usr/lib64', '/usr/local/nvidia/lib64'];
const AWKS = [
  { name: 'mawk', argv: '/usr/bin/mawk' },
  { name: 'gawk', argv: '/usr/bin/gawk' },
  { name: 'busybox awk', argv: '/usr/bin/busybox' },
];
// Under `npm run test:all` the setup installs all three: a missing one must fail, not skip.
const REQUIRED = process.env.OCI_GPU_TEST_ALL === '1';

const work = mkdtempSync(path.join(tmpdir(), 'oci-gpu-post-mount-'));
test.after.always(() => rmSync(work, { recursive: true, force: true }));
let seq = 0;

/** A bundle folder holding `config` as its config.json (text as given). */
function bundle(config: string): string {
  const dir = path.join(work, `b${++seq}`);
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'config.json'), config);
  return dir;
}

/** An executable shell script in the work folder. */
function script(name: string, body: string): string {
  const file = path.join(work, name);
  writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return file;
}
// nsenter's stand-in: prints the pid it was given, drops `--target N --mount --`, runs the rest here.
const NSENTER = script('fake-nsenter', 'echo "pid $2"\nshift 4\nexec "$@"');
// ldconfig's stand-in: the compat probe (-n -X) goes to the real one, the cache write is echoed.
const LDCONFIG = script('fake-ldconfig', 'case " $* " in *" -X "*) exec /sbin/ldconfig "$@" ;; esac\necho ldconfig "$@"');

function hookFor(awk: string): Hook {
  return postMountHook({ ldconfig: LDCONFIG, nsenter: NSENTER, sh: '/bin/sh', awk, mount: '/usr/bin/mount' }, DIRS)!;
}

function runStep(awk: (typeof AWKS)[number], state: string) {
  // busybox picks its applet by argv[0]: run it through a link named awk, as a host would have it.
  let program = awk.argv;
  if (awk.name === 'busybox awk') {
    program = path.join(work, 'awk');
    if (!existsSync(program)) spawnSync('ln', ['-s', awk.argv, program]);
  }
  const hook = hookFor(program);
  const r = spawnSync(hook.path, hook.args!.slice(1), { input: state, argv0: hook.args![0], env: { PATH: '/usr/bin:/bin' }, maxBuffer: 64 << 20 });
  return { code: r.status, out: String(r.stdout).trim(), err: String(r.stderr).trim() };
}

const expected = (pid: number, rootfs: string) => `pid ${pid}\nldconfig -r ${rootfs} ${DIRS.join(' ')}`;
const state = (pid: unknown, b: string, extra = '') => `{"ociVersion":"1.0.2","id":"c1","status":"created","pid":${JSON.stringify(pid)},"bundle":${JSON.stringify(b)}${extra}}`;

for (const awk of AWKS) {
  const present = existsSync(awk.argv);
  const t_ = present || REQUIRED ? test : test.skip;
  const title = (s: string) => `${awk.name}: ${s}${present || REQUIRED ? '' : ` (skipped: ${awk.argv} is not installed)`}`;

  t_(title('compact state and config, absolute root.path (Podman, Docker)'), (t) => {
    t.true(present, `${awk.argv} is missing: scripts/setup-host.sh installs it`);
    const b = bundle('{"ociVersion":"1.0.2","process":{"args":["sh"]},"root":{"path":"/var/lib/containers/storage/overlay/x/merged","readonly":true},"hostname":"h"}');
    const r = runStep(awk, state(4242, b));
    t.is(r.code, 0, r.err);
    t.is(r.out, expected(4242, '/var/lib/containers/storage/overlay/x/merged'));
  });

  t_(title('pretty-printed state and config, relative root.path (containerd)'), (t) => {
    const b = bundle('{\n  "ociVersion": "1.1.0",\n  "root" : {\n\t"readonly": false,\n    "path" :\t"rootfs"\n  },\n  "annotations": {}\n}\n');
    const s = `{\n  "ociVersion": "1.0.2",\n  "pid" :\t 77,\n  "bundle": ${JSON.stringify(b)}\n}\n`;
    const r = runStep(awk, s);
    t.is(r.code, 0, r.err);
    t.is(r.out, expected(77, `${b}/rootfs`));
  });

  t_(title('crun in a user namespace: the rootfs from the state\'s own "root" (its bundle is "/"), no config read'), (t) => {
    const s = '{"ociVersion":"1.0","id":"b9","pid":30931,"root":"/var/lib/containers/storage/overlay/c2/merged","bundle":"/","status":"created","annotations":{"root":"/evil","oci-gpu/devices":"0"}}';
    const r = runStep(awk, s);
    t.is(r.code, 0, r.err);
    t.is(r.out, expected(30931, '/var/lib/containers/storage/overlay/c2/merged'));
  });

  t_(title('crun with a bare bundle: the state\'s "root" relative to the bundle'), (t) => {
    const r = runStep(awk, '{"ociVersion":"1.0","id":"c","pid":7,"root":"rootfs","bundle":"/srv/b","status":"created"}');
    t.is(r.code, 0, r.err);
    t.is(r.out, expected(7, '/srv/b/rootfs'));
  });

  t_(title('strings a container controls never pose as the pid, the bundle or root.path'), (t) => {
    const b = bundle(
      JSON.stringify({
        ociVersion: '1.0.2',
        process: { args: ['"root":{"path":"/evil"}', '\\', '\\"'], env: ['A=","root":{"path":"/evil2"},"x":"', 'B=\\\\"root\\\\":{"path":"/evil3"}'] },
        annotations: { root: '{"path":"/evil4"}', '"root': 'x', 'x"root"': '{', pid: '1' },
        linux: { root: { path: '/evil5' } },
        root: { path: '/real/rootfs' },
        mounts: [{ destination: '/root', source: '/path', options: ['"root":{"path":"/evil6"}'] }],
      }),
    );
    const s = state(55, b, ',"annotations":{"pid":"9","x":"\\"pid\\":8","\\"pid":"7","bundle":"/evil"}');
    const r = runStep(awk, s);
    t.is(r.code, 0, r.err);
    t.is(r.out, expected(55, '/real/rootfs'));
  });

  t_(title('a huge config (8 MB of env and annotations) is read whole, root.path last'), (t) => {
    const big = 'x'.repeat(1 << 20);
    const config = { ociVersion: '1.0.2', process: { env: Array.from({ length: 4 }, (_, i) => `V${i}=${big}"root":{"path":"/evil"}`) }, annotations: Object.fromEntries(Array.from({ length: 4 }, (_, i) => [`a${i}`, big])), root: { path: '/real/big' } };
    const r = runStep(awk, state(9, bundle(JSON.stringify(config))));
    t.is(r.code, 0, r.err);
    t.is(r.out, expected(9, '/real/big'));
  });

  const refuses = (what: string, make: () => string, says: RegExp) =>
    t_(title(`refuses ${what}`), (t) => {
      const r = runStep(awk, make());
      t.is(r.code, 1, r.out);
      t.is(r.out, '', 'nsenter never ran');
      t.regex(r.err, says);
      t.is(r.err.split('\n').length, 1, 'one line');
    });
  const good = () => bundle('{"root":{"path":"/r"}}');
  refuses('an empty state', () => '', /^oci-gpu: no container pid in the runtime state$/);
  refuses('a pid given as a string', () => state('12', good()), /no container pid/);
  refuses('pid 0', () => state(0, good()), /no container pid/);
  refuses('a pid only inside an annotation', () => `{"annotations":{"a":"\\"pid\\":9"},"bundle":${JSON.stringify(good())}}`, /no container pid/);
  refuses('a second top-level pid', () => `{"pid":5,"pid":6,"bundle":${JSON.stringify(good())}}`, /^oci-gpu: pid appears twice in the runtime state$/);
  refuses('a relative bundle', () => state(5, 'b1'), /no absolute bundle path/);
  refuses('a bundle without config.json', () => state(5, path.join(work, 'none')), /^oci-gpu: cannot read .*\/none\/config\.json$/);
  refuses('a config without root.path', () => state(5, bundle('{"ociVersion":"1.0.2","root":{"readonly":true}}')), /no root\.path in /);
  refuses('a root.path holding an escape', () => state(5, bundle('{"root":{"path":"/a\\u003cb"}}')), /root\.path in .* holds an escape or a control character/);
  refuses('two top-level roots', () => state(5, bundle('{"root":{"path":"/a"},"root":{"path":"/b"}}')), /root\.path appears twice/);
  refuses('a root.path with ".."', () => state(5, bundle('{"root":{"path":"../../etc"}}')), /^oci-gpu: the rootfs ".*\/\.\.\/\.\.\/etc" in .*config\.json has a "\." or "\.\." component$/);
  refuses('a relative "root" in the state without an absolute bundle', () => '{"pid":5,"root":"merged","bundle":"b"}', /^oci-gpu: the rootfs "merged" is relative and there is no absolute bundle path in the runtime state$/);

  t_(title('property: any strings in annotations and env leave pid and rootfs as they are'), (t) => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.string(), { maxKeys: 6 }), fc.array(fc.string(), { maxLength: 6 }), fc.boolean(), (annotations, env, pretty) => {
        const config = { ociVersion: '1.0.2', annotations, process: { env }, root: { path: 'rootfs' } };
        const b = bundle(JSON.stringify(config, null, pretty ? 2 : undefined));
        const s = JSON.stringify({ ociVersion: '1.0.2', id: 'c', status: 'created', annotations, pid: 31, bundle: b }, null, pretty ? 1 : undefined);
        const r = runStep(awk, s);
        return r.code === 0 && r.out === expected(31, `${b}/rootfs`);
      }),
      { numRuns: 60 },
    );
    t.pass('60 random configs gave the same pid and rootfs');
  });
}

test('the step runs with only the minimal PATH, as createRuntime, with a timeout; nothing to do means no step', (t) => {
  const hook = hookFor('/usr/bin/awk');
  t.deepEqual(hook.env, HOOK_ENV);
  t.deepEqual(HOOK_ENV, ['PATH=/usr/sbin:/usr/bin:/sbin:/bin']);
  t.is(hook.hookName, 'createRuntime');
  t.is(hook.path, '/bin/sh');
  t.true((hook.timeout ?? 0) > 0);
  t.is(postMountHook({ ldconfig: '/sbin/ldconfig', nsenter: '/usr/bin/nsenter', sh: '/bin/sh', awk: '/usr/bin/awk', mount: '/usr/bin/mount' }, []), null);
  t.is(postMountHook({ ldconfig: '/sbin/ldconfig', nsenter: '/usr/bin/nsenter', sh: '/bin/sh', awk: '', mount: '/usr/bin/mount' }, DIRS), null, 'no awk: no step');
});

// --- the two forms, params masking and CUDA forward compatibility (the step's other two jobs) ---

const TOOLS = { ldconfig: LDCONFIG, nsenter: NSENTER, sh: '/bin/sh', awk: '/usr/bin/mawk', mount: '/bin/echo' };
const OFF: PostMountOptions = { paramsMask: null, compatDriverVersion: null };

/** Runs the step as the runtime would: from its namespace (rootfs null) with `state` on stdin, or inside the container's with nothing on stdin. */
function runWith(options: PostMountOptions, root: string, inside: boolean, tools = TOOLS) {
  const hook = postMountHook(tools, DIRS, options, inside ? root : null)!;
  const input = inside ? '' : state(11, bundle(JSON.stringify({ root: { path: root } })));
  const r = spawnSync(hook.path, hook.args!.slice(1), { input, argv0: hook.args![0], env: { PATH: '/usr/bin:/bin' } });
  return { hook, code: r.status, out: String(r.stdout).trim(), err: String(r.stderr).trim() };
}
const FORMS = [
  { inside: false, name: 'createRuntime (awk + nsenter)', pid: 'pid 11\n' },
  { inside: true, name: 'createContainer (in the namespace)', pid: '' },
];

test('given a writable rootfs the step is a createContainer hook that reads nothing and needs neither nsenter nor awk', (t) => {
  const hook = postMountHook({ ...TOOLS, nsenter: '', awk: '' }, DIRS, OFF, '/var/lib/containers/storage/overlay/x/merged')!;
  t.like(hook, { hookName: 'createContainer', path: '/bin/sh', env: HOOK_ENV });
  t.true((hook.timeout ?? 0) > 0);
  t.deepEqual(hook.args!.slice(3), ['oci-gpu-post-mount', LDCONFIG, '/bin/echo', '', '', '/var/lib/containers/storage/overlay/x/merged', ...DIRS]);
  const r = spawnSync(hook.path, hook.args!.slice(1), { input: '', argv0: 'sh', env: { PATH: '/usr/bin:/bin' } });
  t.is(r.status, 0, String(r.stderr));
  t.is(String(r.stdout), `ldconfig -r /var/lib/containers/storage/overlay/x/merged ${DIRS.join(' ')}\n`);
  t.is(postMountHook({ ...TOOLS, ldconfig: '' }, DIRS, OFF, '/r'), null, 'no ldconfig: no step');
  t.is(postMountHook({ ...TOOLS, nsenter: '' }, DIRS, OFF), null, 'from the runtime\'s namespace without nsenter: no step');
});

for (const form of FORMS) {
  test(`${form.name}: masking binds the masked file read-only over the container's params only when its procfs has them and the file is there`, (t) => {
    const mask = path.join(work, `nvidia-params-${form.inside}`);
    const root = path.join(work, `ns-root-${form.inside}`);
    mkdirSync(path.join(root, 'proc/driver/nvidia'), { recursive: true });
    const run = () => runWith({ paramsMask: mask, compatDriverVersion: null }, root, form.inside);
    let r = run();
    t.is(r.code, 0, r.err);
    t.is(r.out, `${form.pid}ldconfig -r ${root} ${DIRS.join(' ')}`, 'no params file in the container: no mount');
    writeFileSync(path.join(root, 'proc/driver/nvidia/params'), 'ModifyDeviceFiles: 1\n');
    r = run();
    t.is(r.out, `${form.pid}ldconfig -r ${root} ${DIRS.join(' ')}`, 'the masked file is not there (no watcher wrote it): no mount, the container still starts');
    writeFileSync(mask, 'ModifyDeviceFiles: 0\n');
    r = run();
    t.is(r.out, `${form.pid}--bind -o ro,nosuid,nodev,noexec ${mask} ${root}/proc/driver/nvidia/params\nldconfig -r ${root} ${DIRS.join(' ')}`);
    const failing = runWith({ paramsMask: mask, compatDriverVersion: null }, root, form.inside, { ...TOOLS, mount: '/bin/false' });
    t.is(failing.code, 1, 'a failed bind fails the step (and the start), ldconfig never runs');
    t.false(failing.out.includes('ldconfig'));
    const noMount = runWith({ paramsMask: mask, compatDriverVersion: null }, root, form.inside, { ...TOOLS, mount: '' });
    t.is(noMount.out, `${form.pid}ldconfig -r ${root} ${DIRS.join(' ')}`, 'a host without mount: no masking, still an ld cache');
  });
}

/** A rootfs whose /usr/local/cuda (an absolute symlink through /etc/alternatives, as nvidia/cuda images have it) holds compat/libcuda.so.<version>. */
function compatRootfs(version: string | null): string {
  const root = path.join(work, `compat-${version ?? 'none'}-${++seq}`);
  mkdirSync(path.join(root, 'usr/local/cuda-12.8/compat'), { recursive: true });
  mkdirSync(path.join(root, 'etc/alternatives'), { recursive: true });
  symlinkSync('/etc/alternatives/cuda', path.join(root, 'usr/local/cuda'));
  symlinkSync('/usr/local/cuda-12.8', path.join(root, 'etc/alternatives/cuda'));
  if (version) {
    const src = path.join(work, 'empty.c');
    writeFileSync(src, 'int cuda_compat_stub(void) { return 0; }\n');
    const r = spawnSync('gcc', ['-shared', '-fPIC', '-Wl,-soname,libcuda.so.1', '-o', path.join(root, `usr/local/cuda-12.8/compat/libcuda.so.${version}`), src]);
    if (r.status !== 0) throw new Error(String(r.stderr));
  }
  return root;
}

const compat = test.macro({
  exec(t, imageVersion: string | null, first: boolean) {
    for (const form of FORMS) {
      const root = compatRootfs(imageVersion);
      const r = runWith({ paramsMask: null, compatDriverVersion: '550.90.07' }, root, form.inside);
      t.is(r.code, 0, r.err);
      t.is(r.out, `${form.pid}ldconfig -r ${root}${first ? ' /usr/local/cuda/compat' : ''} ${DIRS.join(' ')}`, form.name);
      t.false(existsSync(path.join(root, 'usr/local/cuda-12.8/compat/libcuda.so.1')), 'the probe wrote nothing into the image');
    }
  },
  title: (_, v: string | null, first: boolean) => `${rootTitle}CUDA compat on driver 550, both forms: an image with ${v ? `compat libcuda ${v}` : 'no compat libcuda'} → ${first ? 'its compat folder first in the ld cache' : 'left out'}`,
});
const rootTitle = IS_ROOT ? '' : '[skipped: needs root (ldconfig -r chroots)] ';
const rootTest_ = IS_ROOT ? test : test.skip;
rootTest_(compat, '570.124.06', true);
rootTest_(compat, '550.54.15', false);
rootTest_(compat, '535.183.01', false);
rootTest_(compat, null, false);

test('CUDA compat off: no probe; on: the driver\'s major version goes to the step', (t) => {
  const major = (o: PostMountOptions, rootfs: string | null) => {
    const args = postMountHook(TOOLS, DIRS, o, rootfs)!.args!;
    return args[args.indexOf('oci-gpu-post-mount') + (rootfs ? 4 : 9)];
  };
  for (const rootfs of [null, '/r']) {
    t.is(major(OFF, rootfs), '');
    t.is(major({ paramsMask: null, compatDriverVersion: '580.159.04' }, rootfs), '580');
  }
});
