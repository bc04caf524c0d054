// `oci-gpu kubelet-plugin` and `oci-gpu device-plugin`: the Kubernetes plugins, loaded only when
// one of them runs (they pull in gRPC and the Kubernetes client).
import path from 'node:path';
import { loadConfig } from '../adapters/config-file.js';
import { createLogger } from '../adapters/logger.js';
import { checkDriverName, checkResourceName, DEFAULT_DRIVER_NAME, DEFAULT_RESOURCE_NAME } from '../core/k8s/names.js';
import { UsageError } from '../errors.js';
import { CAPABILITIES, type Capability } from '../model/manifest.js';
import type { Logger } from '../model/logger.js';
import { COMMON_FLAGS, parseFlags } from './args.js';
import { checkLogFlags, LOG_FLAGS, untilStopSignal, useFullJit } from './daemon.js';
import type { Io } from './io.js';

export const KUBELET_PLUGIN_HELP = `Usage: oci-gpu kubelet-plugin --node-name NODE [options]

A Dynamic Resource Allocation (resource.k8s.io/v1, Kubernetes >= 1.34) driver fed by the
watcher's manifest. Registers with the kubelet (plugin watcher), serves the DRA v1 gRPC service,
publishes one ResourceSlice for the node (one device per GPU, republished when the manifest
changes), and prepares each claim by writing one CDI spec (kind <driver>/claim) from the
manifest. A checkpoint keeps prepare and unprepare idempotent across restarts. Talks to the API
server with the pod's service account ($KUBECONFIG outside a pod).

  --node-name NODE       this node (default $NODE_NAME)
  --driver-name NAME     DRA driver name (default ${DEFAULT_DRIVER_NAME})
  --manifest FILE        the watcher's manifest (default /run/oci-gpu/manifest.json, or as configured)
  --cdi-dir DIR          where claim specs go (default /var/run/cdi)
  --plugin-dir DIR       DRA socket and checkpoint (default /var/lib/kubelet/plugins/<driver>)
  --registry-dir DIR     the kubelet's plugin registry (default /var/lib/kubelet/plugins_registry)
  --capabilities LIST    driver capabilities claims get (default utility,compute; or all)
  --check-interval-ms N  how often sockets and the manifest are checked (default 5000)
  --config FILE          configuration (default /etc/oci-gpu/config.json5)
  --log-level LEVEL      error, warn, info (default) or debug
  --log-format FORMAT    text (default) or json
Runs until SIGTERM or SIGINT.
`;

export const DEVICE_PLUGIN_HELP = `Usage: oci-gpu device-plugin [options]

A kubelet device plugin (deviceplugin/v1beta1, Kubernetes >= 1.31 for CDI names) fed by the
watcher's manifest. Registers the extended resource with the kubelet, streams the GPUs (by UUID)
with health that follows the manifest (a GPU that disappears, or whose device node does, turns
Unhealthy), answers Allocate with CDI names of the watcher's CDI spec (and the cdi.k8s.io/
annotation for runtimes that read only annotations), and prefers GPUs that are PCI neighbours.
Registers again when the kubelet restarts.

  --resource-name NAME   extended resource (default ${DEFAULT_RESOURCE_NAME})
  --manifest FILE        the watcher's manifest (default /run/oci-gpu/manifest.json, or as configured)
  --plugin-dir DIR       the kubelet's device-plugins folder (default /var/lib/kubelet/device-plugins)
  --socket-name NAME     this plugin's socket in it (default oci-gpu.sock)
  --cdi-kind KIND        the kind of the watcher's CDI spec (default from config: nvidia.com/gpu)
  --check-interval-ms N  how often the kubelet socket and device nodes are checked (default 5000)
  --config FILE          configuration (default /etc/oci-gpu/config.json5)
  --log-level LEVEL      error, warn, info (default) or debug
  --log-format FORMAT    text (default) or json
Runs until SIGTERM or SIGINT.
`;

const PLUGIN_FLAGS = { ...COMMON_FLAGS, ...LOG_FLAGS, 'check-interval-ms': { type: 'string' } } as const;

function logger(command: string, values: { 'log-level'?: string; 'log-format'?: string }, config: { log: { level: string; format: string } }): Logger {
  checkLogFlags(command, values);
  return createLogger({ level: values['log-level'] ?? config.log.level, format: (values['log-format'] ?? config.log.format) as 'text' | 'json' });
}

function interval(command: string, text: string | undefined): number {
  if (text === undefined) return 5000;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 10 || n > 600_000) throw new UsageError(`${command}: --check-interval-ms must be an integer from 10 to 600000`);
  return n;
}

/** `oci-gpu kubelet-plugin`. */
export async function runKubeletPlugin(argv: string[], io: Io): Promise<number> {
  const command = 'oci-gpu kubelet-plugin';
  const { values } = parseFlags(command, argv, {
    ...PLUGIN_FLAGS,
    'node-name': { type: 'string' },
    'driver-name': { type: 'string' },
    'cdi-dir': { type: 'string' },
    'plugin-dir': { type: 'string' },
    'registry-dir': { type: 'string' },
    capabilities: { type: 'string' },
  });
  if (values.help) return io.out(KUBELET_PLUGIN_HELP), 0;
  const nodeName = values['node-name'] ?? process.env['NODE_NAME'] ?? '';
  if (!nodeName) throw new UsageError(`${command}: --node-name (or $NODE_NAME) is required`);
  const badNode = checkDriverName(nodeName);
  if (badNode) throw new UsageError(`${command}: --node-name ${badNode}`);
  const driver = values['driver-name'] ?? DEFAULT_DRIVER_NAME;
  const problem = checkDriverName(driver);
  if (problem) throw new UsageError(`${command}: --driver-name ${problem}`);
  const capabilities = parseCapabilities(command, values.capabilities ?? 'utility,compute');
  const checkIntervalMs = interval(command, values['check-interval-ms']);
  useFullJit(); // runs for days: the normal JIT policy
  const config = loadConfig(values);
  const log = logger(command, values, config);
  const [{ DraPlugin }, { createClusterApi }] = await Promise.all([import('../k8s/dra-plugin.js'), import('../adapters/k8s-api.js')]);
  const plugin = new DraPlugin({
    driver,
    nodeName,
    manifestPath: config.manifest,
    cdiDir: path.resolve(values['cdi-dir'] ?? '/var/run/cdi'),
    pluginDir: path.resolve(values['plugin-dir'] ?? `/var/lib/kubelet/plugins/${driver}`),
    registryDir: path.resolve(values['registry-dir'] ?? '/var/lib/kubelet/plugins_registry'),
    capabilities,
    checkIntervalMs,
    api: await createClusterApi(),
    log,
  });
  await plugin.start();
  return untilStopSignal(log, () => plugin.stop());
}

/** `oci-gpu device-plugin`. */
export async function runDevicePlugin(argv: string[], io: Io): Promise<number> {
  const command = 'oci-gpu device-plugin';
  const { values } = parseFlags(command, argv, {
    ...PLUGIN_FLAGS,
    'resource-name': { type: 'string' },
    'plugin-dir': { type: 'string' },
    'socket-name': { type: 'string' },
    'cdi-kind': { type: 'string' },
  });
  if (values.help) return io.out(DEVICE_PLUGIN_HELP), 0;
  const resourceName = values['resource-name'] ?? DEFAULT_RESOURCE_NAME;
  const problem = checkResourceName(resourceName);
  if (problem) throw new UsageError(`${command}: --resource-name ${problem}`);
  const socketName = values['socket-name'] ?? 'oci-gpu.sock';
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\.sock$/.test(socketName) || socketName === 'kubelet.sock') {
    throw new UsageError(`${command}: --socket-name must be a file name ending in .sock (not kubelet.sock)`);
  }
  const checkIntervalMs = interval(command, values['check-interval-ms']);
  useFullJit(); // runs for days: the normal JIT policy
  const config = loadConfig(values);
  const log = logger(command, values, config);
  const { DevicePlugin } = await import('../k8s/device-plugin.js');
  const plugin = new DevicePlugin({
    resourceName,
    pluginDir: path.resolve(values['plugin-dir'] ?? '/var/lib/kubelet/device-plugins'),
    socketName,
    manifestPath: config.manifest,
    cdiKind: values['cdi-kind'] ?? config.cdi.kind,
    checkIntervalMs,
    log,
  });
  await plugin.start();
  return untilStopSignal(log, () => plugin.stop());
}

function parseCapabilities(command: string, text: string): Capability[] {
  const list = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (list.includes('all')) return [...CAPABILITIES];
  const bad = list.filter((c) => !(CAPABILITIES as readonly string[]).includes(c));
  if (bad.length || !list.length) throw new UsageError(`${command}: --capabilities: "${bad.join(',') || text}" is not a list of ${CAPABILITIES.join(', ')} or all`);
  return list as Capability[];
}
