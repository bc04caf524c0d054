import { createHostFs } from '../adapters/host-fs.js';
import { writeFileAtomic } from '../adapters/atomic-write.js';
import { loadConfig } from '../adapters/config-file.js';
import { withParamsMask } from '../core/manifest/driver-params.js';
import { buildCdiSpec } from '../core/plan/cdi-spec.js';
import { scanHost } from '../discover/scan.js';
import { UsageError } from '../errors.js';
import { HOST_FLAGS, parseFlags } from './args.js';
import type { Io } from './io.js';

export const CDI_HELP = `Usage: oci-gpu cdi generate [--root DIR] [--output FILE] [--kind nvidia.com/gpu]

Scans the host and prints a CDI spec (JSON, valid YAML too): one device per GPU named by index
and by UUID, plus "all"; control nodes, every driver file and an ld cache step as shared edits.
Written at the lowest cdiVersion that expresses it. Engines that read CDI specs (Podman
--device nvidia.com/gpu=0, Docker >= 25, containerd >= 1.7, CRI-O) use it from /etc/cdi or
/var/run/cdi. \`oci-gpu watch\` keeps one up to date by itself.

  --root DIR        scan the host tree under DIR
  --output FILE     write the spec to FILE atomically
  --kind KIND       CDI kind (default from config: nvidia.com/gpu)
  --config FILE     configuration (default /etc/oci-gpu/config.json5)
`;

/** `oci-gpu cdi generate`. */
export function runCdi(argv: string[], io: Io): number {
  const { values, positionals } = parseFlags(
    'oci-gpu cdi',
    argv,
    { ...HOST_FLAGS, output: { type: 'string', short: 'o' }, kind: { type: 'string' } },
    true,
  );
  if (values.help) return io.out(CDI_HELP), 0;
  if (positionals[0] !== 'generate' || positionals.length > 1) {
    throw new UsageError(`oci-gpu cdi: expected "generate"${positionals.length ? `, got "${positionals.join(' ')}"` : ''} (see \`oci-gpu cdi --help\`)`);
  }
  const config = loadConfig(values);
  // The masked params file the watcher keeps beside the configured manifest (skipped at start when absent).
  const manifest = withParamsMask(scanHost(createHostFs(config.root)), config.manifest);
  const spec = buildCdiSpec(manifest, { kind: values.kind ?? config.cdi.kind, container: config.container });
  const json = JSON.stringify(spec, null, 2) + '\n';
  for (const w of manifest.warnings) io.err(`oci-gpu: warning: ${w}\n`);
  if (values.output) {
    writeFileAtomic(values.output, json);
    io.err(`wrote ${values.output} (${spec.kind}, ${manifest.gpus.length} GPU${manifest.gpus.length === 1 ? '' : 's'}, cdiVersion ${spec.cdiVersion})\n`);
  } else io.out(json);
  if (!manifest.driver) io.err(`oci-gpu: no NVIDIA driver is loaded under ${config.root}: the spec has no devices\n`);
  return 0;
}
