import { createHostFs } from '../adapters/host-fs.js';
import { writeManifest } from '../adapters/manifest-file.js';
import { withParamsMask } from '../core/manifest/driver-params.js';
import { loadConfig } from '../adapters/config-file.js';
import { serializeManifest } from '../core/manifest/manifest-codec.js';
import { scanHost } from '../discover/scan.js';
import { HOST_FLAGS, parseFlags } from './args.js';
import { summarizeManifest } from './summary.js';
import type { Io } from './io.js';

export const SCAN_HELP = `Usage: oci-gpu scan [--root DIR] [--output FILE] [--json]

Discovers the NVIDIA driver, GPUs, device nodes and driver files of the host (or of the
simulated host under --root) from /proc, /sys, /dev and the ld cache, without running any driver
binary (NVML is asked only to enumerate the MIG devices of a GPU that has MIG instances), and
prints the manifest: a readable summary on a terminal, JSON otherwise or with --json.

  --root DIR       scan the host tree under DIR (host paths in the output are real paths under
                   DIR, container paths are DIR-relative)
  --output FILE    write the manifest JSON to FILE atomically (and beside it nvidia-params, the
                   driver params containers see) and print the summary
  --json           print JSON even on a terminal
  --config FILE    configuration (default /etc/oci-gpu/config.json5)
  --debug          show stack traces of errors
`;

/** `oci-gpu scan`. */
export function runScan(argv: string[], io: Io): number {
  const { values } = parseFlags('oci-gpu scan', argv, { ...HOST_FLAGS, output: { type: 'string', short: 'o' }, json: { type: 'boolean' } });
  if (values.help) return io.out(SCAN_HELP), 0;
  const config = loadConfig(values);
  const scanned = scanHost(createHostFs(config.root));
  const manifest = values.output ? withParamsMask(scanned, values.output) : scanned;
  const json = serializeManifest(manifest);
  if (values.output) {
    writeManifest(values.output, manifest);
    io.err(summarizeManifest(manifest));
    io.err(`wrote ${values.output}\n`);
  } else if (values.json || !io.isTTY) io.out(json);
  else io.out(summarizeManifest(manifest));
  if (!manifest.driver) io.err(`oci-gpu: no NVIDIA driver is loaded under ${config.root}: the manifest is empty\n`);
  return 0;
}
