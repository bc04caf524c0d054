// packaging/kubernetes/: every object of oci-gpu.yaml validated offline against the Kubernetes API
// schema (strict: a typo'd field fails), the DaemonSet's design (GPU nodes only, tolerations, not
// privileged, the mounts the watcher needs, a readiness probe running `oci-gpu status`), its config,
// the Containerfile it relies on, the CRI-O hooks.d entry, and the image's private loader layout.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { parseConfig } from '../../src/core/config.js';
import { cliBinary } from '../helpers/hook-env.js';
import { KINDS, validateK8sObject } from '../helpers/k8s-schema.js';
import { REPO_ROOT } from '../helpers/paths.js';

const DIR = path.join(REPO_ROOT, 'packaging/kubernetes');
type Obj = Record<string, any>;

function documents(): Obj[] {
  const docs = parseAllDocuments(fs.readFileSync(path.join(DIR, 'oci-gpu.yaml'), 'utf8'));
  for (const d of docs) if (d.errors.length) throw new Error(`oci-gpu.yaml: ${d.errors[0]!.message}`);
  return docs.map((d) => d.toJS() as Obj);
}
const byKind = (kind: string) => documents().find((d) => d.kind === kind)!;
const daemonSet = () => byKind('DaemonSet');

test('every object of oci-gpu.yaml is valid against the Kubernetes API schema', async (t) => {
  const docs = documents();
  t.deepEqual(docs.map((d) => `${d.apiVersion} ${d.kind}`), [
    'v1 Namespace',
    'v1 ConfigMap',
    'v1 ServiceAccount',
    'rbac.authorization.k8s.io/v1 ClusterRole',
    'rbac.authorization.k8s.io/v1 ClusterRoleBinding',
    'admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy',
    'admissionregistration.k8s.io/v1 ValidatingAdmissionPolicyBinding',
    'resource.k8s.io/v1 DeviceClass',
    'apps/v1 DaemonSet',
  ]);
  for (const d of docs) t.deepEqual(await validateK8sObject(d), [], `${d.kind} ${d.metadata?.name}`);
});

const invalid = test.macro({
  async exec(t, edit: (ds: Obj) => void, want: string) {
    const ds = daemonSet();
    edit(ds);
    const problems = await validateK8sObject(ds);
    t.true(problems.includes(want), `expected "${want}" in: ${problems.join('; ')}`);
  },
  title: (name = '') => `the schema catches ${name}`,
});

test('a typo in a pod field', invalid, (ds) => {
  ds.spec.template.spec.toleration = ds.spec.template.spec.tolerations;
  delete ds.spec.template.spec.tolerations;
}, 'spec.template.spec: unknown field "toleration"');
test('a typo deep in a container', invalid, (ds) => {
  ds.spec.template.spec.containers[0].securityContext.privilged = false;
}, 'spec.template.spec.containers[0].securityContext: unknown field "privilged"');
test('a typo in a volume', invalid, (ds) => {
  ds.spec.template.spec.volumes[0].hostPath.pth = '/usr';
}, 'spec.template.spec.volumes[0].hostPath: unknown field "pth"');
test('a wrong type', invalid, (ds) => {
  ds.spec.template.spec.terminationGracePeriodSeconds = 'ten';
}, 'spec.template.spec.terminationGracePeriodSeconds: must be integer');
test('a missing required field', invalid, (ds) => {
  delete ds.spec.template.spec.containers[0].name;
}, 'spec.template.spec.containers[0]: missing required field "name"');
test('a wrong apiVersion', invalid, (ds) => {
  ds.apiVersion = 'extensions/v1beta1';
}, `apiVersion/kind: "extensions/v1beta1" "DaemonSet" is not one of ${Object.keys(KINDS).join(', ')}`);

test('the DaemonSet: GPU nodes only, tolerates nvidia.com/gpu taints, not privileged, resources, no API token', (t) => {
  const pod = daemonSet().spec.template.spec;
  const terms = pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms as Obj[];
  t.deepEqual(terms.map((term) => term.matchExpressions[0].key), ['nvidia.com/gpu.present', 'feature.node.kubernetes.io/pci-10de.present', 'oci-gpu/gpu-node']);
  t.deepEqual(pod.tolerations.map((x: Obj) => `${x.key} ${x.operator} ${x.effect}`), ['nvidia.com/gpu Exists NoSchedule', 'nvidia.com/gpu Exists NoExecute']);
  t.false(pod.automountServiceAccountToken);
  for (const c of [...pod.initContainers, ...pod.containers] as Obj[]) {
    t.not(c.securityContext.privileged, true, c.name);
    t.false(c.securityContext.allowPrivilegeEscalation, c.name);
    t.deepEqual(c.securityContext.capabilities.drop, ['ALL'], c.name);
    t.truthy(c.resources.requests.cpu && c.resources.limits.memory, c.name);
  }
});

test('the watcher mounts what it reads and writes, each from a declared volume at the same path as on the host', (t) => {
  const pod = daemonSet().spec.template.spec;
  const volumes = new Map((pod.volumes as Obj[]).map((v) => [v.name, v]));
  const watch = (pod.containers as Obj[]).find((c) => c.name === 'watch')!;
  const mounts = new Map((watch.volumeMounts as Obj[]).map((m) => [m.mountPath, m]));
  // /etc as a folder: a host ldconfig replaces /etc/ld.so.cache by rename, which a file mount never shows.
  for (const [at, readOnly] of [['/usr', true], ['/etc', true], ['/dev', undefined], ['/run/oci-gpu', undefined], ['/var/run/cdi', undefined]] as const) {
    const m = mounts.get(at);
    t.truthy(m, `${at} is not mounted`);
    t.is(m?.readOnly, readOnly, at);
    t.is(volumes.get(m?.name)?.hostPath?.path, at, `${at} comes from the host's ${at}`);
  }
  for (const c of [...pod.initContainers, ...pod.containers] as Obj[]) {
    for (const m of c.volumeMounts as Obj[]) t.true(volumes.has(m.name), `${c.name}: volume ${m.name} is not declared`);
  }
  t.deepEqual(watch.args, ['watch', '--config', '/opt/oci-gpu/etc/config.json5']);
});

const HOST_BIN = '/var/lib/oci-gpu/bin';

test('the config parses; the init container puts the binary, and its hook and runtime links, in the host folder CRI-O\'s entry names', (t) => {
  const config = parseConfig(byKind('ConfigMap').data['config.json5'], 'ConfigMap oci-gpu-config');
  t.false(config.watch.udev);
  const init = daemonSet().spec.template.spec.initContainers[0] as Obj;
  const hostBin = (daemonSet().spec.template.spec.volumes as Obj[]).find((v) => v.name === init.volumeMounts[0].name)!.hostPath.path;
  t.is(hostBin, HOST_BIN);
  // The init container's command, run here against a temp folder standing in for the host's.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oci-gpu-init-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'opt/oci-gpu/bin'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'opt/oci-gpu/bin/oci-gpu'), 'binary');
  fs.mkdirSync(path.join(dir, 'host/bin'), { recursive: true });
  const command = (init.command as string[]).map((a) => a.replaceAll('/opt/oci-gpu', `${dir}/opt/oci-gpu`).replaceAll('/host/bin', `${dir}/host/bin`));
  const r = spawnSync(command[0]!, command.slice(1), { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  t.is(fs.readFileSync(path.join(dir, 'host/bin/oci-gpu'), 'utf8'), 'binary');
  t.is(fs.readlinkSync(path.join(dir, 'host/bin/oci-gpu-hook')), 'oci-gpu');
  t.is(fs.readlinkSync(path.join(dir, 'host/bin/oci-gpu-runtime')), 'oci-gpu');
});

test('the readiness and liveness probes run `oci-gpu status --max-scan-age` the way the image\'s entrypoint runs the binary', (t) => {
  const containerfile = fs.readFileSync(path.join(DIR, 'Containerfile'), 'utf8');
  const entrypoint = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(containerfile)![1]!) as string[];
  const watch = daemonSet().spec.template.spec.containers[0];
  for (const [kind, age] of [['readinessProbe', '180'], ['livenessProbe', '600']] as const) {
    const probe = watch[kind].exec.command as string[];
    t.deepEqual(probe.slice(0, entrypoint.length), entrypoint, kind);
    t.deepEqual(probe.slice(entrypoint.length), ['status', '--config', '/opt/oci-gpu/etc/config.json5', '--max-scan-age', age], kind);
  }
  t.regex(containerfile, /^FROM debian:bookworm-slim$/m);
  t.regex(containerfile, /^COPY build\/linux-\$\{TARGETARCH\}\/oci-gpu \/opt\/oci-gpu\/bin\/oci-gpu$/m);
  t.notRegex(containerfile, /FROM node|\/node\b|nodejs/i, 'no Node.js in the image');
});

test('the image layout: the binary run through its own loader loads every library from /opt/oci-gpu/lib, none from /usr', async (t) => {
  // The Containerfile's RUN step, on this machine with the binary built here, into a temp folder.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oci-gpu-image-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const containerfile = fs.readFileSync(path.join(DIR, 'Containerfile'), 'utf8');
  fs.mkdirSync(path.join(dir, 'bin'));
  fs.copyFileSync(await cliBinary(), path.join(dir, 'bin/oci-gpu'));
  fs.chmodSync(path.join(dir, 'bin/oci-gpu'), 0o755);
  const run = /^RUN (set -eu;[\s\S]*?--version)$/m.exec(containerfile)![1]!.replace(/\\\n/g, '\n').replaceAll('/opt/oci-gpu', dir);
  const r = spawnSync('/bin/sh', ['-c', run], { encoding: 'utf8', env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /^oci-gpu \d+\.\d+\.\d+$/m);
  t.is(fs.readlinkSync(path.join(dir, 'bin/oci-gpu-hook')), 'oci-gpu');
  const loaded = spawnSync(`${dir}/lib/ld.so`, ['--inhibit-cache', '--library-path', `${dir}/lib`, `${dir}/bin/oci-gpu`, '--version'], { encoding: 'utf8', env: { LD_DEBUG: 'libs' } });
  t.is(loaded.status, 0, loaded.stderr);
  const inits = [...loaded.stderr.matchAll(/calling init: (\S+)/g)].map((m) => m[1]!);
  t.true(inits.length >= 1, loaded.stderr.slice(0, 2000));
  for (const lib of inits) t.true(lib.startsWith(`${dir}/lib/`), `${lib} is not from the private folder`);
});

test('the CRI-O hooks.d entry: createRuntime (CRI-O applies OCI stages, not Podman\'s precreate), the hook the DaemonSet installs, annotation-gated', (t) => {
  const entry = JSON.parse(fs.readFileSync(path.join(DIR, 'crio/oci-gpu-crio.json'), 'utf8')) as Obj;
  t.is(entry.version, '1.0.0');
  t.deepEqual(entry.stages, ['createRuntime']);
  t.deepEqual(entry.hook.args, ['oci-gpu-hook', 'createRuntime']);
  t.is(entry.hook.path, `${HOST_BIN}/oci-gpu-hook`);
  t.deepEqual(entry.hook.env, ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], 'an explicit environment, never the runtime\'s');
  t.deepEqual(Object.keys(entry.when.annotations), ['^oci-gpu/devices$']);
});
