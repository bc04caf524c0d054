import { createHostFs } from '../adapters/host-fs.js';
import { writeFileAtomic } from '../adapters/atomic-write.js';
import { loadConfig } from '../adapters/config-file.js';
import { withParamsMask } from '../core/manifest/driver-params.js';
import fs from 'node:fs';
import { buildCdiSpec, buildImexCdiSpec, imexCdiPath } from '../core/plan/cdi-spec.js';
import { scanHost } from '../discover/scan.js';
import { UsageError } from '../errors.js';
import { HOST_FLAGS, parseFlags } from './args.js';
import type { Io } from './io.js';

export const CDI_HELP = `Usage: oci-gpu cdi generate [--root DIR] [--output FILE] [--kind nvidia.com/gpu]

Scans the host and prints a CDI spec (JSON, valid YAML too): one device per GPU named by index
and by UUID, plus "all"; control nodes, every driver file and an ld cache step as shared edits.
A host with IMEX channels gets a second spec (kind <vendor>/imex-channel, a device per channel),
written with --output beside the first as <name>-imex-channel.json (removed there when the host
has none), as the watcher keeps them.
Written at the lowest cdiVersion that expresses it. Engines that read CDI specs (Podman
--device nvidia.com/gpu=0, Docker >= 25, containerd >= 1.7, CRI-O) use it from /etc/cdi or
/var/run/cdi. \`oci-gpu watch\` keeps one up to date by itself.

  --root DIR        scan the host tree under DIR
  --output FILE     write the spec to FILE atomically (and the IMEX channels' spec beside it)
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
  const imex = buildImexCdiSpec(manifest, spec.kind);
  const channels = `${manifest.imexChannels.length} IMEX channel${manifest.imexChannels.length === 1 ? '' : 's'}`;
  if (values.output) {
    const imexFile = imexCdiPath(values.output);
    writeFileAtomic(values.output, json);
    io.err(`wrote ${values.output} (${spec.kind}, ${manifest.gpus.length} GPU${manifest.gpus.length === 1 ? '' : 's'}, cdiVersion ${spec.cdiVersion})\n`);
    if (imex) {
      writeFileAtomic(imexFile, JSON.stringify(imex, null, 2) + '\n');
      io.err(`wrote ${imexFile} (${imex.kind}, ${channels}, cdiVersion ${imex.cdiVersion})\n`);
    } else if (fs.existsSync(imexFile)) {
      fs.rmSync(imexFile, { force: true });
      io.err(`removed ${imexFile}: this host has no IMEX channels\n`);
    }
  } else {
    io.out(json);
    if (imex) io.err(`oci-gpu: this host has ${channels}: their spec (${imex.kind}) is written only with --output, beside the GPUs' one\n`);
  }
  if (!manifest.driver) io.err(`oci-gpu: no NVIDIA driver is loaded under ${config.root}: the spec has no devices\n`);
  return 0;
}
