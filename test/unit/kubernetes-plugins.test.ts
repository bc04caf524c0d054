// packaging/kubernetes for the plugins: the device-plugin install, the kustomizations and the
// examples validate offline against the Kubernetes API schema (as oci-gpu.yaml does in
// kubernetes.test.ts); the plugin containers' args, mounts and identity agree with the RBAC, the
// DeviceClass and the plugins' own defaults; the watcher is the same in both installs.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { DEFAULT_DRIVER_NAME, DEFAULT_RESOURCE_NAME } from '../../src/core/k8s/names.js';
import { validateK8sObject } from '../helpers/k8s-schema.js';
import { REPO_ROOT } from '../helpers/paths.js';

const DIR = path.join(REPO_ROOT, 'packaging/kubernetes');
type Obj = Record<string, any>;

function documents(file: string): Obj[] {
  const docs = parseAllDocuments(fs.readFileSync(path.join(DIR, file), 'utf8'));
  for (const d of docs) if (d.errors.length) throw new Error(`${file}: ${d.errors[0]!.message}`);
  return docs.map((d) => d.toJS() as Obj);
}
const dra = () => documents('oci-gpu.yaml');
const dp = () => documents('device-plugin/oci-gpu-device-plugin.yaml');
const pod = (docs: Obj[]) => docs.find((d) => d.kind === 'DaemonSet')!.spec.template.spec;
const container = (docs: Obj[], name: string) => (pod(docs).containers as Obj[]).find((c) => c.name === name)!;
const flag = (args: string[], name: string) => args[args.indexOf(name) + 1];

for (const file of ['device-plugin/oci-gpu-device-plugin.yaml', 'examples/dra-gpu-pod.yaml', 'examples/device-plugin-gpu-pod.yaml']) {
  test(`every object of ${file} is valid against the Kubernetes API schema`, async (t) => {
    const docs = documents(file);
    t.true(docs.length > 0);
    for (const d of docs) t.deepEqual(await validateK8sObject(d), [], `${d.kind} ${d.metadata?.name}`);
  });
}

test('each kustomization lists files that exist, and together they cover both installs', (t) => {
  for (const [k, want] of [['kustomization.yaml', ['oci-gpu.yaml']], ['device-plugin/kustomization.yaml', ['oci-gpu-device-plugin.yaml']]] as const) {
    const kz = parse(fs.readFileSync(path.join(DIR, k), 'utf8')) as Obj;
    t.is(kz.apiVersion, 'kustomize.config.k8s.io/v1beta1');
    t.deepEqual(kz.resources, want);
    for (const r of kz.resources as string[]) t.true(fs.existsSync(path.join(DIR, path.dirname(k), r)), r);
  }
});

test('the watcher container and its volumes are the same in the DRA and the device-plugin installs', (t) => {
  t.deepEqual(container(dp(), 'watch'), container(dra(), 'watch'));
  t.deepEqual(pod(dp()).initContainers, pod(dra()).initContainers);
  const vols = (docs: Obj[]) => new Map((pod(docs).volumes as Obj[]).map((v) => [v.name, v]));
  for (const m of container(dra(), 'watch').volumeMounts as Obj[]) t.deepEqual(vols(dp()).get(m.name), vols(dra()).get(m.name), m.name);
  t.deepEqual(dp().find((d) => d.kind === 'ConfigMap'), dra().find((d) => d.kind === 'ConfigMap'));
});

test('driver-root mounts follow the host (HostToContainer); the ld cache comes as its folder', (t) => {
  const mounts = new Map((container(dra(), 'watch').volumeMounts as Obj[]).map((m) => [m.mountPath, m]));
  for (const at of ['/usr', '/etc']) t.is(mounts.get(at)?.mountPropagation, 'HostToContainer', at);
  t.false(mounts.has('/etc/ld.so.cache'));
  t.false((pod(dra()).volumes as Obj[]).some((v) => v.hostPath?.type === 'File'), 'no single-file hostPath');
});

test('DRA: the kubelet-plugin container names the DeviceClass\'s driver, mounts what it serves and writes, and alone has the token', (t) => {
  const docs = dra();
  const c = container(docs, 'kubelet-plugin');
  const driver = flag(c.args, '--driver-name');
  t.is(driver, DEFAULT_DRIVER_NAME);
  t.is(c.args[0], 'kubelet-plugin');
  const deviceClass = docs.find((d) => d.kind === 'DeviceClass')!;
  t.is(deviceClass.metadata.name, driver);
  t.is(deviceClass.spec.selectors[0].cel.expression, `device.driver == "${driver}"`);
  t.deepEqual(c.env, [{ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }]);
  const volumes = new Map((pod(docs).volumes as Obj[]).map((v) => [v.name, v]));
  const mounts = new Map((c.volumeMounts as Obj[]).map((m) => [m.mountPath, m]));
  // Sockets and specs are used by the kubelet and the runtime on the host: same path inside and out.
  for (const [at, flagName] of [['/var/lib/kubelet/plugins/gpu.oci-gpu.io', '--plugin-dir'], ['/var/lib/kubelet/plugins_registry', '--registry-dir'], ['/var/run/cdi', '--cdi-dir']] as const) {
    t.is(flag(c.args, flagName), at);
    t.is(volumes.get(mounts.get(at)?.name)?.hostPath?.path, at, at);
    t.not(mounts.get(at)?.readOnly, true, at);
  }
  t.true(mounts.get('/run/oci-gpu')?.readOnly, 'the manifest is read-only for the plugin');
  t.is(mounts.get('/var/run/secrets/kubernetes.io/serviceaccount')?.name, 'api-token');
  t.truthy(volumes.get('api-token')?.projected?.sources?.[0]?.serviceAccountToken);
  t.false(pod(docs).automountServiceAccountToken);
  t.false((container(docs, 'watch').volumeMounts as Obj[]).some((m) => m.name === 'api-token'), 'the watcher has no token');
  t.is(pod(docs).serviceAccountName, 'oci-gpu-kubelet-plugin');
});

test('DRA RBAC: the plugin\'s account may change ResourceSlices, read claims and nodes, nothing else; a policy keeps it to its node', (t) => {
  const docs = dra();
  const role = docs.find((d) => d.kind === 'ClusterRole')!;
  t.deepEqual(role.rules, [
    { apiGroups: ['resource.k8s.io'], resources: ['resourceslices'], verbs: ['get', 'list', 'watch', 'create', 'update', 'delete'] },
    { apiGroups: ['resource.k8s.io'], resources: ['resourceclaims'], verbs: ['get'] },
    { apiGroups: [''], resources: ['nodes'], verbs: ['get'] },
  ]);
  const binding = docs.find((d) => d.kind === 'ClusterRoleBinding')!;
  t.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: pod(docs).serviceAccountName, namespace: 'oci-gpu' }]);
  t.is(binding.roleRef.name, role.metadata.name);
  const policy = docs.find((d) => d.kind === 'ValidatingAdmissionPolicy')!;
  t.is(policy.spec.matchConditions[0].expression, `request.userInfo.username == "system:serviceaccount:oci-gpu:${pod(docs).serviceAccountName}"`);
  t.deepEqual(docs.find((d) => d.kind === 'ValidatingAdmissionPolicyBinding')!.spec, { policyName: policy.metadata.name, validationActions: ['Deny'] });
});

test('device plugin: its container registers the resource the example asks for, in the kubelet\'s folder, without API access', (t) => {
  const docs = dp();
  const c = container(docs, 'device-plugin');
  t.is(c.args[0], 'device-plugin');
  t.is(flag(c.args, '--resource-name'), DEFAULT_RESOURCE_NAME);
  const dir = flag(c.args, '--plugin-dir');
  t.is(dir, '/var/lib/kubelet/device-plugins');
  const volumes = new Map((pod(docs).volumes as Obj[]).map((v) => [v.name, v]));
  const mounts = new Map((c.volumeMounts as Obj[]).map((m) => [m.mountPath, m]));
  t.is(volumes.get(mounts.get(dir)?.name)?.hostPath?.path, dir);
  t.true(mounts.get('/dev')?.readOnly);
  t.false(docs.some((d) => /Role|ServiceAccount|DeviceClass|Policy/.test(d.kind)));
  t.is(pod(docs).serviceAccountName, undefined);
  const example = documents('examples/device-plugin-gpu-pod.yaml')[0]!;
  t.deepEqual(example.spec.containers[0].resources.limits, { [DEFAULT_RESOURCE_NAME]: '1' });
});

test('the DRA example: the pod\'s claim comes from the template, which asks the DeviceClass', (t) => {
  const [template, p] = documents('examples/dra-gpu-pod.yaml') as [Obj, Obj];
  t.is(template.spec.spec.devices.requests[0].exactly.deviceClassName, DEFAULT_DRIVER_NAME);
  t.deepEqual(p.spec.resourceClaims, [{ name: 'gpu', resourceClaimTemplateName: template.metadata.name }]);
  t.deepEqual(p.spec.containers[0].resources.claims, [{ name: 'gpu' }]);
});
