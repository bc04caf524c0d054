// The pure checks of `oci-gpu doctor` on plain fact values, and the parsers they rely on.
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { buildCdiSpec } from '../../src/core/plan/cdi-spec.js';
import { exitStatusOf, formatDiagnosis, summarize } from '../../src/core/diagnose/diagnose.js';
import { checkContainerCgroup, diagnoseContainer, type HostView } from '../../src/core/diagnose/diagnose-container.js';
import { checkCdi, checkHooks, checkManifest, checkNodes, diagnoseHost, expectedNodes } from '../../src/core/diagnose/diagnose-host.js';
import { containerIdOfCgroup, parseDevicesList, parseProcCgroup } from '../../src/core/parse/parse-cgroup.js';
import { parseHooksDEntry } from '../../src/core/parse/parse-hooks-d.js';
import { parseMountInfo } from '../../src/core/parse/parse-mountinfo.js';
import { ParseError } from '../../src/errors.js';
import type { ContainerFacts, Finding, HookFileFact, HostFacts, MountInfo, NodeFact } from '../../src/model/diagnosis.js';
import { buildManifest, DRIVER_VERSION, UVM_MAJOR } from '../helpers/manifests.js';
import { REPO_ROOT } from '../helpers/paths.js';

const HOOK = '/usr/libexec/oci-gpu/oci-gpu-hook';
const char = (path: string, major: number, minor: number): NodeFact => ({ path, kind: 'char', major, minor });
const HOST_NODES = [char('/dev/nvidia0', 195, 0), char('/dev/nvidiactl', 195, 255), char('/dev/nvidia-uvm', UVM_MAJOR, 0), char('/dev/nvidia-uvm-tools', UVM_MAJOR, 1)];

/** A healthy host with one GPU; `change` edits a copy. */
function host(change: (h: HostFacts) => void = () => {}): HostFacts {
  const manifest = buildManifest({ gpus: 1 });
  const spec = buildCdiSpec(manifest, { kind: 'nvidia.com/gpu' });
  const h: HostFacts = {
    root: '/',
    driver: { version: DRIVER_VERSION, source: '/sys/module/nvidia/version' },
    majors: { nvidia: 195, nvidiactl: 195, 'nvidia-uvm': UVM_MAJOR },
    modules: ['nvidia', 'nvidia_uvm'],
    scan: structuredClone(manifest),
    nodes: structuredClone(HOST_NODES),
    persistence: { sockets: ['/run/nvidia-persistenced/socket'], pids: [], keepWarm: [] },
    manifest: { file: '/run/oci-gpu/manifest.json', state: 'ok', manifest },
    cdi: {
      enabled: true,
      kind: 'nvidia.com/gpu',
      ours: '/var/run/cdi/oci-gpu.json',
      dirs: ['/etc/cdi', '/var/run/cdi'],
      files: [{ file: '/var/run/cdi/oci-gpu.json', dirIndex: 1, kind: 'nvidia.com/gpu', spec: JSON.parse(JSON.stringify(spec)) }],
    },
    hooks: { dirs: ['/usr/share/containers/oci/hooks.d', '/etc/containers/oci/hooks.d'], podmanDirs: ['/usr/share/containers/oci/hooks.d'], files: [ourHook(0)] },
    cgroup: { version: 'v2', evidence: '/sys/fs/cgroup/cgroup.controllers exists' },
  };
  change(h);
  return h;
}

function ourHook(dirIndex: number, name = 'oci-gpu.json', path = HOOK): HookFileFact {
  const dir = ['/usr/share/containers/oci/hooks.d', '/etc/containers/oci/hooks.d'][dirIndex]!;
  return {
    file: `${dir}/${name}`,
    name,
    dirIndex,
    entry: { version: '1.0.0', hook: { path, args: ['oci-gpu-hook', 'precreate'] }, when: { annotations: { '^oci-gpu/devices$': '.*' } }, stages: ['precreate'] },
    binary: path,
    executable: true,
  };
}

const failures = (fs: Finding[]) => fs.filter((f) => f.level === 'fail');
const levels = (fs: Finding[], check: string) => fs.filter((f) => f.check === check).map((f) => f.level);

test('a healthy host: every check ok, exit status 0', (t) => {
  const findings = diagnoseHost(host());
  t.deepEqual(findings.filter((f) => f.level !== 'ok'), [], JSON.stringify(findings, null, 1));
  for (const check of ['host.driver', 'host.nodes', 'host.persistence', 'host.manifest', 'host.cdi', 'host.hooks', 'host.cgroup']) t.deepEqual(levels(findings, check), ['ok'], check);
  t.is(exitStatusOf(summarize(findings)), 0);
});

test('no driver: host.driver fails first and the driver-bound checks are skipped', (t) => {
  const findings = diagnoseHost(host((h) => ((h.driver = null), (h.scan = buildManifest({ driver: null })))));
  t.is(summarize(findings).firstBroken?.check, 'host.driver');
  t.deepEqual(levels(findings, 'host.nodes'), []);
  t.deepEqual(levels(findings, 'host.persistence'), []);
});

test('uvm loaded but its nodes missing: says nvidia-modprobe makes them, not devtmpfs', (t) => {
  const h = host((x) => (x.nodes = x.nodes.filter((n) => !n.path.startsWith('/dev/nvidia-uvm'))));
  const f = failures(checkNodes(h));
  t.is(f.length, 2);
  t.regex(f[0]!.message, /^\/dev\/nvidia-uvm is missing, but the nvidia-uvm module is loaded \(major 511 in \/proc\/devices\): uvm nodes are made by nvidia-modprobe, not by devtmpfs/);
  t.regex(f[0]!.fix!, /nvidia-modprobe -u -c=0/);
});

test('uvm not loaded at all: a warning, with the command that loads it', (t) => {
  const h = host((x) => {
    delete x.majors!['nvidia-uvm'];
    x.nodes = x.nodes.filter((n) => !n.path.startsWith('/dev/nvidia-uvm'));
  });
  const f = checkNodes(h);
  t.deepEqual(f.map((x) => x.level), ['warn']);
  t.regex(f[0]!.message, /nvidia-uvm module is not loaded/);
  t.deepEqual(expectedNodes(h).map((e) => e.path), ['/dev/nvidia0', '/dev/nvidiactl']);
});

test('wrong numbers, wrong type, leftover node', (t) => {
  const h = host((x) => {
    x.nodes[0] = char('/dev/nvidia0', 10, 0);
    x.nodes[1] = { path: '/dev/nvidiactl', kind: 'file', major: 0, minor: 0 };
    x.nodes.push(char('/dev/nvidia7', 195, 7));
  });
  const f = checkNodes(h);
  t.is(f[0]!.message, '/dev/nvidia0 is 10:0, expected character device 195:0 (GPU 0 (0000:18:00.0))');
  t.regex(f[0]!.fix!, /mknod -m 666 \/dev\/nvidia0 c 195 0/);
  t.regex(f[1]!.message, /^\/dev\/nvidiactl is a regular file, expected character device 195:255/);
  t.like(f[2], { level: 'warn' });
  t.regex(f[2]!.message, /^\/dev\/nvidia7 belongs to no GPU/);
});

test('manifest: missing, invalid, stale, for another root, behind a scan', (t) => {
  t.regex(checkManifest(host((h) => (h.manifest = { file: '/m.json', state: 'missing' })))[0]!.message, /"\/m\.json" does not exist/);
  t.like(checkManifest(host((h) => (h.manifest = { file: '/m.json', state: 'invalid', error: 'manifest "/m.json" is not valid JSON' })))[0], { level: 'fail', message: 'manifest "/m.json" is not valid JSON' });
  const stale = checkManifest(host((h) => (h.driver = { version: '580.172.08', source: 'x' })))[0]!;
  t.like(stale, { level: 'fail' });
  t.regex(stale.message, /is stale: written for driver 580\.159\.04, but driver 580\.172\.08 is loaded/);
  t.regex(checkManifest(host((h) => (h.root = '/other')))[0]!.message, /written for root \/, not \/other/);
  const behind = checkManifest(host((h) => (h.scan = buildManifest({ gpus: 2 }))))[0]!;
  t.like(behind, { level: 'warn' });
  t.regex(behind.message, /differs from a scan made now: GPUs: now also GPU-/);
});

test('CDI: missing spec warns, stale spec fails, disabled is fine', (t) => {
  t.like(checkCdi(host((h) => (h.cdi.files = [])))[0], { level: 'warn' });
  t.like(checkCdi(host((h) => ((h.cdi.files = []), (h.cdi.enabled = false))))[0], { level: 'ok' });
  const stale = checkCdi(host((h) => ((h.cdi.files[0]!.spec as { devices: unknown[] }).devices.pop())));
  t.like(stale[0], { level: 'fail' });
  t.regex(stale[0]!.message, /does not match the manifest: devices differ \(missing all\)/);
  const otherEdits = checkCdi(host((h) => ((h.cdi.files[0]!.spec as { containerEdits: { env: string[] } }).containerEdits.env = ['X=1'])));
  t.regex(otherEdits[0]!.message, /the devices are the same but their edits .* differ/);
});

test('CDI: a second spec of the same kind: same folder fails, other folder warns; both files named', (t) => {
  const same = checkCdi(host((h) => h.cdi.files.push({ file: '/var/run/cdi/nvidia.yaml', dirIndex: 1, kind: 'nvidia.com/gpu', spec: null })));
  t.like(same[1], { level: 'fail' });
  t.true(same[1]!.message.includes('"/var/run/cdi/oci-gpu.json" and "/var/run/cdi/nvidia.yaml"'), same[1]!.message);
  const other = checkCdi(host((h) => h.cdi.files.push({ file: '/etc/cdi/nvidia.yaml', dirIndex: 0, kind: 'nvidia.com/gpu', spec: null })));
  t.like(other[1], { level: 'warn' });
  t.true(other[1]!.message.includes('"/etc/cdi/nvidia.yaml"') && other[1]!.message.includes('"/var/run/cdi/oci-gpu.json"'));
  t.regex(other[1]!.fix!, /remove "\/etc\/cdi\/nvidia\.yaml"/);
  const otherKind = checkCdi(host((h) => h.cdi.files.push({ file: '/etc/cdi/amd.json', dirIndex: 0, kind: 'amd.com/gpu', spec: {} })));
  t.is(otherKind.length, 1);
});

test('hooks: missing binary, not executable, masked, legacy NVIDIA hook, folder Podman does not read', (t) => {
  const missing = checkHooks(host((h) => (h.hooks.files[0] = { ...ourHook(0), binary: null })), true);
  t.like(missing[0], { level: 'fail' });
  t.regex(missing[0]!.message, /which does not exist: Podman silently skips the entry/);
  t.regex(checkHooks(host((h) => (h.hooks.files[0]!.executable = false)), true)[0]!.message, /is not executable/);

  const maskedByOther = checkHooks(host((h) => h.hooks.files.push({ ...ourHook(1, 'oci-gpu.json', '/bin/true'), entry: { ...ourHook(1).entry!, hook: { path: '/bin/true' } } })), true);
  t.like(maskedByOther[0], { level: 'fail' });
  t.regex(maskedByOther[0]!.message, /"\/etc\/containers\/oci\/hooks\.d\/oci-gpu\.json" masks "\/usr\/share\/containers\/oci\/hooks\.d\/oci-gpu\.json"/);
  const maskedByOurs = checkHooks(host((h) => h.hooks.files.push(ourHook(1))), true);
  t.deepEqual(maskedByOurs.map((f) => f.level), ['warn', 'warn']); // masked, and the /etc one is not read by Podman here

  const legacy: HookFileFact = { file: '/usr/share/containers/oci/hooks.d/oci-nvidia-hook.json', name: 'oci-nvidia-hook.json', dirIndex: 0, entry: { version: '1.0.0', hook: { path: '/usr/bin/nvidia-container-runtime-hook', args: ['nvidia-container-runtime-hook', 'prestart'] }, when: { always: true }, stages: ['prestart'] }, binary: '/usr/bin/nvidia-container-runtime-hook', executable: true };
  const both = checkHooks(host((h) => h.hooks.files.push(legacy)), true);
  t.like(both[1], { level: 'warn' });
  t.regex(both[1]!.message, /NVIDIA's legacy hook .* injected twice/);

  t.like(checkHooks(host((h) => (h.hooks.files = [])), true)[0], { level: 'warn' });
  t.like(checkHooks(host((h) => (h.hooks.files = [])), false)[0], { level: 'fail' });
});

test('summary: first failure is the first broken link; the human report has ok/warn/FAIL lines and fix lines', (t) => {
  const d = summarize([
    { check: 'a', level: 'ok', message: 'fine' },
    { check: 'b', level: 'warn', message: 'hmm', fix: 'look' },
    { check: 'c', level: 'fail', message: 'broken', fix: 'mend' },
    { check: 'd', level: 'fail', message: 'also broken', fix: 'mend too' },
  ]);
  t.is(d.worst, 'fail');
  t.is(d.firstBroken?.check, 'c');
  t.is(exitStatusOf(d), 1);
  t.is(
    formatDiagnosis(d, ['head']),
    ['head', 'ok    a: fine', 'warn  b: hmm', '      fix: look', 'FAIL  c: broken', '      fix: mend', 'FAIL  d: also broken', '      fix: mend too', '', 'first broken link: c: broken', 'fix: mend', '1 ok, 1 warning, 2 failures', ''].join('\n'),
  );
  t.is(exitStatusOf(summarize([{ check: 'b', level: 'warn', message: 'x' }])), 0);
});

// ------------------------------------------------------------------------------------- containers

const VIEW: HostView = { driverVersion: DRIVER_VERSION, expectedNodes: expectedNodes(host()), cdiKind: 'nvidia.com/gpu' };
const lib = (p: string): MountInfo => ({ root: p, mountPoint: p, options: ['ro'], fsType: 'ext4', source: '/dev/vda1', superOptions: ['rw'] });
const LIBDIR = '/usr/lib/x86_64-linux-gnu';

/** A healthy GPU container (cgroup v1); `change` edits a copy. */
function container(change: (c: ContainerFacts) => void = () => {}): ContainerFacts {
  const c: ContainerFacts = {
    pid: 4242,
    id: 'a'.repeat(64),
    runtime: 'crun',
    rootPath: '/proc/4242/root',
    env: ['PATH=/usr/bin:/bin'],
    annotations: { 'oci-gpu/devices': 'all' },
    nodes: structuredClone(HOST_NODES),
    cgroup: { version: 'v1', path: '/libpod_parent/libpod-aaa', devicesList: ['c 1:3 rwm', 'c 195:0 rwm', 'c 195:255 rwm', `c ${UVM_MAJOR}:* rwm`], devicesListFile: '/sys/fs/cgroup/devices/libpod_parent/libpod-aaa/devices.list' },
    config: {
      file: '/bundle/config.json',
      devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 195, minor: 0, access: 'rwm' }, { allow: true, type: 'c', major: 195, minor: 255, access: 'rwm' }, { allow: true, type: 'c', major: UVM_MAJOR, access: 'rwm' }],
      linuxDevices: [],
    },
    mounts: [lib(`${LIBDIR}/libcuda.so.${DRIVER_VERSION}`), lib(`${LIBDIR}/libnvidia-ml.so.${DRIVER_VERSION}`), lib('/usr/bin/nvidia-smi')],
    ldCache: {
      file: '/proc/4242/root/etc/ld.so.cache',
      entries: [
        { name: 'libnvidia-ml.so.1', path: `${LIBDIR}/libnvidia-ml.so.1`, arch: 'x86_64', resolved: `${LIBDIR}/libnvidia-ml.so.${DRIVER_VERSION}` },
        { name: 'libcuda.so.1', path: `${LIBDIR}/libcuda.so.1`, arch: 'x86_64', resolved: `${LIBDIR}/libcuda.so.${DRIVER_VERSION}` },
      ],
    },
    pathDirs: ['/usr/bin', '/bin'],
    nvidiaSmi: '/usr/bin/nvidia-smi',
  };
  change(c);
  return c;
}

const broken = (c: ContainerFacts) => summarize(diagnoseContainer(c, VIEW)).firstBroken;

test('a healthy container: every link ok', (t) => {
  const f = diagnoseContainer(container(), VIEW);
  t.deepEqual(f.filter((x) => x.level !== 'ok'), [], JSON.stringify(f, null, 1));
  t.deepEqual([...new Set(f.map((x) => x.check))], ['container.process', 'container.nodes', 'container.cgroup', 'container.libraries', 'container.ldcache', 'container.nvidia-smi']);
});

test('no nodes: "asked for nothing" without a request, "hook not triggered" with one', (t) => {
  const nothing = broken(container((c) => ((c.nodes = []), (c.annotations = {}), (c.env = []))));
  t.is(nothing?.check, 'container.nodes');
  t.regex(nothing!.message, /it asked for nothing/);
  const asked = broken(container((c) => ((c.nodes = []), (c.annotations = {}), (c.env = ['NVIDIA_VISIBLE_DEVICES=all']))));
  const file = broken(container((c) => ((c.nodes = [{ path: '/dev/nvidia0', kind: 'file', major: 0, minor: 0 }]), (c.annotations = {}), (c.env = []))));
  t.regex(file!.message, /it asked for nothing/, 'a regular file at /dev/nvidia0 is no node');
  t.regex(asked!.message, /although it asked for all GPUs .* via NVIDIA_VISIBLE_DEVICES: the hook was not triggered/);
});

test('nodes bind-mounted without a cgroup rule: the cgroup link breaks, EPERM / NVML Unknown Error', (t) => {
  const b = broken(
    container((c) => {
      c.cgroup.devicesList = ['c 1:3 rwm', 'c 136:* rwm'];
      c.mounts.push(lib('/dev/nvidia0'));
    }),
  );
  t.is(b?.check, 'container.cgroup');
  t.regex(b!.message, /denies \/dev\/nvidia0 \(195:0\), .*EPERM.*"Failed to initialize NVML: Unknown Error".*\/dev\/nvidia0 is bind-mounted/);
  t.regex(b!.fix!, /precreate hook/);
});

test('cgroup v2: the config decides (linux.resources.devices), and says so', (t) => {
  const v2 = (devices: ContainerFacts['config']) => container((c) => ((c.cgroup = { version: 'v2', path: '/x', devicesList: null, devicesListFile: null }), (c.config = devices)));
  t.regex(checkContainerCgroup(v2(container().config))[0]!.message, /linux\.resources\.devices in \/bundle\/config\.json \(cgroup v2: the runtime built its eBPF device filter from it\)/);
  const denied = checkContainerCgroup(v2({ file: '/b/config.json', devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }], linuxDevices: [] }));
  t.like(denied[0], { level: 'fail' });
  t.like(checkContainerCgroup(v2(null))[0], { level: 'warn' });
});

test('cgroup v1 rule written from outside the spec: a warning (daemon-reload, v2)', (t) => {
  const f = checkContainerCgroup(container((c) => (c.config!.devices = [{ allow: false, access: 'rwm' }])));
  t.deepEqual(f.map((x) => x.level), ['ok', 'warn']);
  t.regex(f[1]!.message, /allowed only by a rule written into devices\.allow from outside/);
});

test('libraries: none at all, another version mounted', (t) => {
  const none = broken(container((c) => ((c.mounts = []), (c.ldCache = { file: 'x', entries: [] }))));
  t.is(none?.check, 'container.libraries');
  t.regex(none!.message, /couldn't find libnvidia-ml\.so/);
  const old = broken(container((c) => c.mounts.push(lib(`${LIBDIR}/libcuda.so.570.86.15`))));
  t.is(old?.check, 'container.libraries');
  t.regex(old!.message, /libcuda\.so\.570\.86\.15 \(570\.86\.15\).*Driver\/library version mismatch/);
});

test('ld cache: missing entry, missing cache, an image library of another version', (t) => {
  const missing = broken(container((c) => (c.ldCache!.entries = c.ldCache!.entries.filter((e) => e.name !== 'libnvidia-ml.so.1'))));
  t.is(missing?.check, 'container.ldcache');
  t.regex(missing!.message, /does not list libnvidia-ml\.so\.1 although .*libnvidia-ml\.so\.580\.159\.04 is mounted: nvidia-smi says "NVIDIA-SMI couldn't find libnvidia-ml\.so library/);
  t.regex(missing!.fix!, /ldconfig/);
  t.regex(broken(container((c) => (c.ldCache = null)))!.message, /has no \/etc\/ld\.so\.cache/);
  const image = broken(container((c) => (c.ldCache!.entries[1]!.resolved = `${LIBDIR}/libcuda.so.570.86.15`)));
  t.regex(image!.message, /leads to .*libcuda\.so\.570\.86\.15 \(driver 570\.86\.15\) but driver 580\.159\.04 is loaded/);
});

test('nvidia-smi: not on PATH fails when utility was asked for, warns when it was not', (t) => {
  t.regex(broken(container((c) => (c.nvidiaSmi = null)))!.message, /nvidia-smi: command not found/);
  const computeOnly = diagnoseContainer(container((c) => ((c.nvidiaSmi = null), (c.annotations = { 'oci-gpu/devices': 'all', 'oci-gpu/capabilities': 'compute' }))), VIEW);
  t.deepEqual(levels(computeOnly, 'container.nvidia-smi'), ['warn']);
});

test('container nodes with other numbers than the host', (t) => {
  const b = broken(container((c) => (c.nodes[2] = char('/dev/nvidia-uvm', 238, 0))));
  t.is(b?.message, '/dev/nvidia-uvm is 238:0 in the container but 511:0 on the host: opens reach another device or none');
});

// ---------------------------------------------------------------------------------------- parsers

test('parseMountInfo: fields, optional fields, octal escapes', (t) => {
  const text = [
    '1500 1400 254:1 /tmp/oci-gpu-host/usr/lib/libcuda.so.580.159.04 /usr/lib/libcuda.so.580.159.04 ro,nosuid,nodev,relatime master:1 - ext4 /dev/vda1 rw,discard',
    '1501 1400 0:5 /null /dev/nvidia\\0400 rw,nosuid - devtmpfs udev rw,size=10k',
    'garbage',
  ].join('\n');
  t.deepEqual(parseMountInfo(text), [
    { root: '/tmp/oci-gpu-host/usr/lib/libcuda.so.580.159.04', mountPoint: '/usr/lib/libcuda.so.580.159.04', options: ['ro', 'nosuid', 'nodev', 'relatime'], fsType: 'ext4', source: '/dev/vda1', superOptions: ['rw', 'discard'] },
    { root: '/null', mountPoint: '/dev/nvidia 0', options: ['rw', 'nosuid'], fsType: 'devtmpfs', source: 'udev', superOptions: ['rw', 'size=10k'] },
  ]);
});

test('parseProcCgroup, containerIdOfCgroup, parseDevicesList', (t) => {
  const id = 'f'.repeat(64);
  const lines = parseProcCgroup(`5:devices:/libpod_parent/libpod-${id}\n0::/machine.slice/libpod-${id}.scope/container\n`);
  t.deepEqual(lines, [
    { id: 5, controllers: ['devices'], path: `/libpod_parent/libpod-${id}` },
    { id: 0, controllers: [], path: `/machine.slice/libpod-${id}.scope/container` },
  ]);
  t.is(containerIdOfCgroup(lines[1]!.path), id);
  t.is(containerIdOfCgroup('/user.slice'), null);
  t.deepEqual(parseDevicesList('c *:* m\nb 8:* rwm\na *:* rwm\nnonsense\n'), {
    rules: [
      { allow: true, type: 'c', major: -1, minor: -1, access: 'm' },
      { allow: true, type: 'b', major: 8, minor: -1, access: 'rwm' },
      { allow: true, type: 'a', major: -1, minor: -1, access: 'rwm' },
    ],
    bad: ['nonsense'],
  });
});

test('parseHooksDEntry: the repository entries pass; bad ones name their problems', (t) => {
  const dir = path.join(REPO_ROOT, 'hooks.d');
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  t.true(files.length >= 3);
  for (const f of files) t.is(parseHooksDEntry(readFileSync(path.join(dir, f), 'utf8'), f).hook.path, HOOK, f);
  const e = t.throws(() => parseHooksDEntry(JSON.stringify({ version: '1.0.0', hook: { path: 'rel' }, when: {}, stages: ['later'] }), 'bad.json'), { instanceOf: ParseError });
  t.deepEqual(e!.problems, ['hook.path: must be an absolute path', 'when: needs at least one condition (always, annotations, commands, hasBindMounts)', 'stages[0]: unknown stage "later"']);
  t.throws(() => parseHooksDEntry('{"version": "2.0.0"}', 'v.json'), { message: /version: must be "1\.0\.0"/ });
  t.throws(() => parseHooksDEntry('{', 'j.json'), { message: /not valid JSON/ });
});
