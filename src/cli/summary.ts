import type { Manifest } from '../model/manifest.js';

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
    }
    lines.push(`control nodes: ${m.controlNodes.map((n) => n.path).join(' ') || 'none'}`);
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
