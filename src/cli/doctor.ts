import path from 'node:path';
import { loadConfig } from '../adapters/config-file.js';
import { exitStatusOf, formatDiagnosis, summarize } from '../core/diagnose/diagnose.js';
import { diagnoseContainer } from '../core/diagnose/diagnose-container.js';
import { checkDriver, diagnoseHost, expectedNodes } from '../core/diagnose/diagnose-host.js';
import { probeContainer, resolveContainer, type ContainerTarget } from '../doctor/container-probe.js';
import { probeHost } from '../doctor/host-probe.js';
import { UsageError } from '../errors.js';
import type { Finding } from '../model/diagnosis.js';
import { readRefusals, refusalLogFor } from '../adapters/refusal-log.js';
import { HOST_FLAGS, parseFlags } from './args.js';
import type { Io } from './io.js';
import { refusalLines } from './summary.js';

export const DOCTOR_HELP = `Usage: oci-gpu doctor [--container ID|PID] [--json] [--root DIR] [--manifest FILE]

Finds why GPUs do not work and says what to do, one finding per line (ok / warn / FAIL, with
"fix:" below), then the first broken link.

On the host: the loaded driver; every /dev/nvidia* node with the numbers /proc/devices gives
(uvm nodes are made by nvidia-modprobe, not devtmpfs); persistence (nvidia-persistenced or
keep-warm); GSP firmware; the manifest (present, of the loaded driver, equal to a scan made now);
the CDI spec (equal to what the manifest gives, no second spec of the same kind); hooks.d entries
(present, executable, not masked by a same-named file in a later folder; NVIDIA's legacy hook
beside them); the cgroup version and which injection paths it allows.

With --container, inside a running container, in the order a GPU program meets them: device
nodes, the device cgroup (v1: its devices.list; v2: linux.resources.devices of the runtime's
config.json, from which the eBPF filter is built), driver libraries and their version, the ld
cache, nvidia-smi on PATH. The host's driver is checked first.

Then the last container starts the hook or the runtime wrapper refused, with why (Podman does not
show a precreate hook's message; see also \`journalctl -t oci-gpu-hook\`).

Exit status: 0 when nothing failed (warnings allowed), 1 when a check failed or doctor could not
look (a container that is not running), 2 for a bad command line.

  --container ID|PID  a running container: a Podman id or name, or a host pid
  --json              one JSON object: ok, worst, firstBroken, findings [{check, level, message, fix}]
  --root DIR          a simulated host under DIR (the host checks; a container is always real)
  --manifest FILE     the manifest (default /run/oci-gpu/manifest.json)
  --cdi FILE          the CDI spec oci-gpu writes (default from config: /var/run/cdi/oci-gpu.json)
  --cdi-dirs LIST     comma-separated CDI spec folders, lowest priority first
                      (default /etc/cdi,/var/run/cdi under --root)
  --hooks-dirs LIST   comma-separated hooks.d folders, lowest precedence first (default
                      /usr/share/containers/oci/hooks.d,/etc/containers/oci/hooks.d under --root)
  --config FILE       configuration (default /etc/oci-gpu/config.json5)
  --debug             show stack traces of errors
`;

const list = (v: string | undefined) => (v === undefined ? undefined : v.split(',').filter(Boolean).map((d) => path.resolve(d)));

/** `oci-gpu doctor`. */
export async function runDoctor(argv: string[], io: Io): Promise<number> {
  const { values } = parseFlags('oci-gpu doctor', argv, {
    ...HOST_FLAGS,
    json: { type: 'boolean' },
    container: { type: 'string' },
    cdi: { type: 'string' },
    'cdi-dirs': { type: 'string' },
    'hooks-dirs': { type: 'string' },
  });
  if (values.help) return io.out(DOCTOR_HELP), 0;
  if (values.container === '') throw new UsageError('oci-gpu doctor: --container needs a container id, name or pid (see `oci-gpu doctor --help`)');
  const config = loadConfig(values);
  const cdiDirs = list(values['cdi-dirs']);
  const hooksDirs = list(values['hooks-dirs']);
  const host = probeHost({
    root: config.root,
    manifest: config.manifest,
    cdi: { enabled: config.cdi.enabled, kind: config.cdi.kind, ours: values.cdi ?? config.cdi.path, container: config.container, ...(cdiDirs ? { dirs: cdiDirs } : {}) },
    ...(hooksDirs ? { hooksDirs } : {}),
  });
  let findings: Finding[];
  let target: ContainerTarget | null = null;
  if (values.container !== undefined) {
    target = await resolveContainer(values.container);
    const facts = probeContainer(target);
    findings = [...checkDriver(host), ...diagnoseContainer(facts, { driverVersion: host.driver?.version ?? null, expectedNodes: expectedNodes(host), cdiKind: config.cdi.kind })];
  } else findings = diagnoseHost(host);
  const d = summarize(findings);
  const refusalLog = refusalLogFor(config.manifest);
  const refusals = readRefusals(refusalLog);
  if (values.json) {
    const container = target && { target: values.container, pid: target.pid, id: target.id, runtime: target.runtime, config: target.configPath };
    io.out(JSON.stringify({ ok: d.worst !== 'fail', worst: d.worst, root: host.root, manifest: config.manifest, container, firstBroken: d.firstBroken, findings: d.findings, refusals }, null, 2) + '\n');
  } else {
    const heading = [`oci-gpu doctor: host ${host.root}${target ? `, container ${values.container} (pid ${target.pid})` : ''}`];
    io.out(formatDiagnosis(d, heading));
    const recent = refusalLines(refusals, refusalLog);
    if (recent.length) io.out(['', ...recent].join('\n') + '\n');
  }
  return exitStatusOf(d);
}
