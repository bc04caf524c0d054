import type { Refusal } from '../core/refusal/refusal.js';
import type { Gpu, Manifest } from '../model/manifest.js';

/** The lines of a GPU's MIG devices ("  MIG 0:1  MIG-…  1g.10gb  gi 2 ci 0  /dev/nvidia-caps/nvidia-cap21 …"); none for a whole GPU. */
export function migLines(g: Gpu, indent = '  '): string[] {
  if (g.mig === null) return [];
  if (!g.mig.length) return [`${indent}split into MIG instances, but none could be enumerated (see the warnings): not offered whole either`];
  return g.mig.map((m) => `${indent}MIG ${g.index}:${m.index}  ${m.uuid}  ${m.profile || '?'}  gi ${m.gpuInstance} ci ${m.computeInstance}  ${(m.edits.deviceNodes ?? []).map((n) => n.path).join(' ')}`);
}

/** Returns a readable multi-line summary of a manifest, for terminals. */
export function summarizeManifest(m: Manifest): string {
  const lines: string[] = [];
  if (!m.driver) {
    lines.push(`no NVIDIA driver is loaded under ${m.root} (no /sys/module/nvidia/version or /proc/driver/nvidia/version): nothing to inject`);
  } else {
    lines.push(`driver ${m.driver.version} (CUDA ${m.driver.cudaVersion || 'unknown'}), read from ${m.driver.source}`);
    if (!m.gpus.length) lines.push('no GPUs listed under /proc/driver/nvidia/gpus');
    for (const g of m.gpus) {
      const nodes = [...(g.edits.deviceNodes ?? []), ...g.driNodes].map((n) => n.path).join(' ');
      lines.push(`GPU ${g.index}  ${g.model}  ${g.uuid}  ${g.pciBusId}  ${nodes || '(no device node!)'}`);
      lines.push(...migLines(g));
    }
    lines.push(`control nodes: ${m.controlNodes.map((n) => n.path).join(' ') || 'none'}`);
    if (m.imexChannels.length) lines.push(`IMEX channels: ${m.imexChannels.map((n) => n.path).join(' ')}`);
    for (const [cap, edits] of Object.entries(m.capabilities)) {
      const nodes = (edits.deviceNodes ?? []).map((n) => n.path);
      const files = edits.mounts?.length ?? 0;
      lines.push(`${cap}: ${files} file${files === 1 ? '' : 's'}${nodes.length ? `, nodes ${nodes.join(' ')}` : ''}`);
    }
    const odd = m.files.filter((f) => f.capability === 'unclassified');
    if (odd.length) lines.push(`unclassified (injected only with capability "all"): ${odd.map((f) => f.containerPath).join(' ')}`);
    lines.push(`library folders for the ld cache: ${m.libraryDirs.join(' ') || 'none'}`);
  }
  for (const w of m.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n') + '\n';
}

/** The "last refusals" block of `oci-gpu status` and `oci-gpu doctor`, oldest first; no lines when there are none. */
export function refusalLines(refusals: readonly Refusal[], file: string): string[] {
  if (!refusals.length) return [];
  return [`last refusals (${file}; also \`journalctl -t oci-gpu-hook -t oci-gpu-runtime\`):`, ...refusals.map((r) => `  ${r.time} container ${r.container}: ${r.reason} (${r.program})`)];
}
