// The Kubernetes .proto files: the embedded module matches them, and their field numbers are
// upstream's — each message below is encoded and compared with bytes written by hand from the
// upstream api.proto (Kubernetes 1.34), so a wrong number fails here even though the plugins and
// the test kubelet share these files.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import protobuf from 'protobufjs';
import { PROTOS } from '../../src/k8s/proto/protos.js';
import { PROTOS_MODULE, PROTO_DIR, renderProtos } from '../../scripts/gen-protos.js';
import { REPO_ROOT } from '../helpers/paths.js';

test('src/k8s/proto/protos.ts is what gen-protos renders from the .proto files', (t) => {
  t.is(fs.readFileSync(path.join(REPO_ROOT, PROTOS_MODULE), 'utf8'), renderProtos(path.join(REPO_ROOT, PROTO_DIR)), 'run node dist/scripts/gen-protos.js');
  t.deepEqual(Object.keys(PROTOS).sort(), ['deviceplugin-v1beta1.proto', 'dra-v1.proto', 'pluginregistration-v1.proto']);
});

const wire = test.macro({
  exec(t, file: string, type: string, value: Record<string, unknown>, hex: string) {
    const root = protobuf.parse(PROTOS[file]!, { keepCase: true }).root;
    const T = root.lookupType(type);
    t.is(Buffer.from(T.encode(T.fromObject(value)).finish()).toString('hex'), hex.replace(/ /g, ''));
  },
  title: (_ = '', file: string, type: string) => `${file}: ${type} has upstream's field numbers`,
});

test(wire, 'pluginregistration-v1.proto', 'pluginregistration.PluginInfo', { type: 't', name: 'n', endpoint: 'e', supported_versions: ['v'] }, '0a0174 12016e 1a0165 220176');
test(wire, 'pluginregistration-v1.proto', 'pluginregistration.RegistrationStatus', { plugin_registered: true, error: 'x' }, '0801 120178');
test(wire, 'dra-v1.proto', 'k8s.io.kubelet.pkg.apis.dra.v1.Claim', { namespace: 'n', uid: 'u', name: 'm' }, '0a016e 120175 1a016d');
test(wire, 'dra-v1.proto', 'k8s.io.kubelet.pkg.apis.dra.v1.Device', { request_names: ['r'], pool_name: 'p', device_name: 'd', cdi_device_ids: ['c'] }, '0a0172 120170 1a0164 220163');
// map<string, NodePrepareResourceResponse> claims = 1: an entry is {key = 1, value = 2}; error = 2 inside.
test(wire, 'dra-v1.proto', 'k8s.io.kubelet.pkg.apis.dra.v1.NodePrepareResourcesResponse', { claims: { u: { error: 'e' } } }, '0a08 0a0175 1203 120165');
test(wire, 'dra-v1.proto', 'k8s.io.kubelet.pkg.apis.dra.v1.NodeUnprepareResourcesResponse', { claims: { u: { error: 'e' } } }, '0a08 0a0175 1203 0a0165');
test(wire, 'deviceplugin-v1beta1.proto', 'v1beta1.RegisterRequest', { version: 'v', endpoint: 'e', resource_name: 'r', options: { get_preferred_allocation_available: true } }, '0a0176 120165 1a0172 2202 1001');
test(wire, 'deviceplugin-v1beta1.proto', 'v1beta1.Device', { ID: 'i', health: 'h', topology: { nodes: [{ ID: 1 }] } }, '0a0169 120168 1a04 0a02 0801');
test(wire, 'deviceplugin-v1beta1.proto', 'v1beta1.ContainerAllocateRequest', { devices_ids: ['d'] }, '0a0164');
test(wire, 'deviceplugin-v1beta1.proto', 'v1beta1.ContainerAllocateResponse', { envs: { k: 'v' }, annotations: { a: 'b' }, cdi_devices: [{ name: 'c' }] }, '0a06 0a016b 120176 2206 0a0161 120162 2a03 0a0163');
test(wire, 'deviceplugin-v1beta1.proto', 'v1beta1.ContainerPreferredAllocationRequest', { available_deviceIDs: ['a'], must_include_deviceIDs: ['m'], allocation_size: 2 }, '0a0161 12016d 1802');
test(wire, 'deviceplugin-v1beta1.proto', 'v1beta1.ContainerPreferredAllocationResponse', { deviceIDs: ['d'] }, '0a0164');
