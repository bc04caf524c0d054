import { loadedDriverVersion } from '../adapters/manifest-file.js';
import { readFileIfExists } from '../adapters/atomic-write.js';
import { loadConfig } from '../adapters/config-file.js';
import { parseManifest } from '../core/manifest/manifest-codec.js';
import { formatError, UsageError } from '../errors.js';
import type { Manifest } from '../model/manifest.js';
import { readRefusals, refusalLogFor } from '../adapters/refusal-log.js';
import { processAlive, readWatchStatus } from '../watch/status.js';
import { COMMON_FLAGS, parseFlags } from './args.js';
import type { Io } from './io.js';
import { migLines, refusalLines } from './summary.js';

export const STATUS_HELP = `Usage: oci-gpu status [--manifest FILE] [--json]

Prints what the watcher last saw: the driver, the GPUs, when the manifest was generated, the
watcher's last scan and last error, and the last containers the hook or the runtime wrapper
refused, with why (the refusal log beside the manifest). Exits 0 when the manifest exists and matches the loaded
driver, 3 when it is missing, unreadable or stale, or when no NVIDIA driver is loaded
(containers asking for GPUs would be refused).

  --manifest FILE  the manifest (default /run/oci-gpu/manifest.json)
  --config FILE    configuration (default /etc/oci-gpu/config.json5), for the manifest's path
  --json           one JSON object, for scripts
  --max-scan-age S  a probe (Kubernetes liveness/readiness): exit 0 when the manifest exists and the
                   watcher scanned within S seconds, whatever the driver; 3 otherwise
`;

/** `oci-gpu status`. */
export function runStatus(argv: string[], io: Io): number {
  const { values } = parseFlags('oci-gpu status', argv, { ...COMMON_FLAGS, json: { type: 'boolean' }, 'max-scan-age': { type: 'string' } });
  if (values.help) return io.out(STATUS_HELP), 0;
  const config = loadConfig(values);
  const file = config.manifest;
  if (values['max-scan-age'] !== undefined) return probeScanAge(file, values['max-scan-age'], io);
  const problems: string[] = [];
  let manifest: Manifest | null = null;
  let loaded: string | null = null;
  try {
    const text = readFileIfExists(file);
    if (text === null) problems.push(`manifest "${file}" does not exist: is oci-gpu-watch running?`);
    else manifest = parseManifest(text, file);
  } catch (error) {
    problems.push(formatError(error));
  }
  if (manifest) {
    try {
      loaded = loadedDriverVersion(manifest.root);
    } catch (error) {
      problems.push(formatError(error));
    }
    const written = manifest.driver?.version ?? null;
    if (loaded !== written) {
      problems.push(`manifest is stale: written for ${written ? `driver ${written}` : 'no driver'}, but ${loaded ? `driver ${loaded} is` : 'no driver is'} loaded`);
    } else if (written === null) problems.push(NO_DRIVER);
  }
  const watcher = readWatchStatus(file);
  const refusalLog = refusalLogFor(file);
  const refusals = readRefusals(refusalLog);
  if (watcher?.lastError) problems.push(`watcher's last error (${watcher.lastErrorAt}): ${watcher.lastError}`);
  // A host without a driver is as unusable for GPU containers as a stale manifest.
  const stale = !manifest || problems.some((p) => p.startsWith('manifest is stale') || p === NO_DRIVER);
  if (!manifest && !values.json) {
    // Nothing to report but why: one line, as every other command's errors (and why containers were refused).
    io.err(`oci-gpu status: ${problems.join('; ')}\n`);
    if (refusals.length) io.err(refusalLines(refusals, refusalLog).join('\n') + '\n');
    return 3;
  }
  if (values.json) {
    io.out(JSON.stringify({ manifest: file, ok: !stale, problems, loadedDriver: loaded, driver: manifest?.driver ?? null, generatedAt: manifest?.generatedAt ?? null, gpus: manifest?.gpus.map(({ index, uuid, pciBusId, model, minor, mig }) => ({ index, uuid, pciBusId, model, minor, mig: mig?.map(({ index: i, uuid: u, profile, gpuInstance, computeInstance }) => ({ index: i, uuid: u, profile, gpuInstance, computeInstance })) ?? null })) ?? [], imexChannels: manifest?.imexChannels.map((n) => n.path) ?? [], warnings: manifest?.warnings ?? [], watcher, refusals }, null, 2) + '\n');
    return stale ? 3 : 0;
  }
  const lines: string[] = [`manifest: ${file}${manifest ? ` (generated ${manifest.generatedAt})` : ''}`];
  if (manifest) {
    lines.push(manifest.driver ? `driver: ${manifest.driver.version} (CUDA ${manifest.driver.cudaVersion || 'unknown'}); loaded now: ${loaded ?? 'none'}` : `driver: none loaded when scanned; loaded now: ${loaded ?? 'none'}`);
    for (const g of manifest.gpus) lines.push(`GPU ${g.index}: ${g.model}  ${g.uuid}  ${g.pciBusId}  /dev/nvidia${g.minor}`, ...migLines(g));
    if (manifest.imexChannels.length) lines.push(`IMEX channels: ${manifest.imexChannels.map((n) => n.path.slice(n.path.lastIndexOf('channel') + 7)).join(', ')}`);
    for (const w of manifest.warnings) lines.push(`warning: ${w}`);
  }
  if (watcher) {
    const alive = processAlive(watcher.pid);
    lines.push(`watcher: pid ${watcher.pid} ${alive ? 'running' : 'not running'}, started ${watcher.startedAt}, last scan ${watcher.lastScanAt ?? 'never'}, ${watcher.scans} scans, ${watcher.writes} writes, udev ${watcher.udev ? 'on' : 'off'}`);
    if (watcher.holdingOpen.length) lines.push(`keep-warm: holding ${watcher.holdingOpen.join(' ')} open`);
  } else lines.push('watcher: no status file (oci-gpu-watch has not run)');
  for (const p of problems) lines.push(`problem: ${p}`);
  lines.push(...refusalLines(refusals, refusalLog));
  lines.push(stale ? 'NOT OK: containers asking for GPUs will be refused' : 'OK');
  io.out(lines.join('\n') + '\n');
  return stale ? 3 : 0;
}

const NO_DRIVER = 'no NVIDIA driver is loaded';

// A node without a driver is healthy for the watcher (it has nothing to publish): only a watcher
// that stopped scanning, or never wrote the manifest, fails the probe.
function probeScanAge(file: string, text: string, io: Io): number {
  const seconds = Number(text);
  if (!Number.isInteger(seconds) || seconds < 1) throw new UsageError('oci-gpu status: --max-scan-age must be a whole number of seconds');
  const watcher = readWatchStatus(file);
  const age = watcher?.lastScanAt ? (Date.now() - Date.parse(watcher.lastScanAt)) / 1000 : Infinity;
  const problem = readFileIfExists(file) === null
    ? `manifest "${file}" does not exist`
    : !watcher?.lastScanAt
      ? 'the watcher has not scanned yet'
      : age > seconds
        ? `the watcher's last scan was ${Math.round(age)} s ago (more than ${seconds} s)`
        : null;
  if (problem) return io.err(`oci-gpu status: ${problem}\n`), 3;
  io.out(`OK: last scan ${Math.round(age)} s ago\n`);
  return 0;
}

