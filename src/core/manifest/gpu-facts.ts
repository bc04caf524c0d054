// Facts derived without NVML: CUDA version from the driver version, brand and compute capability from the model name.

// Minimum Linux driver for each CUDA release (CUDA release notes, table 3), newest first.
const CUDA_BY_DRIVER: [string, string][] = [
  ['580.65.06', '13.0'],
  ['575.51.03', '12.9'],
  ['570.26', '12.8'],
  ['560.28.03', '12.6'],
  ['555.42.02', '12.5'],
  ['550.54.14', '12.4'],
  ['545.23.06', '12.3'],
  ['535.54.03', '12.2'],
  ['530.30.02', '12.1'],
  ['525.60.13', '12.0'],
  ['520.61.05', '11.8'],
  ['515.43.04', '11.7'],
  ['510.39.01', '11.6'],
  ['495.29.05', '11.5'],
  ['470.42.01', '11.4'],
  ['465.19.01', '11.3'],
  ['460.27.03', '11.2'],
  ['455.23', '11.1'],
  ['450.36.06', '11.0'],
  ['440.33', '10.2'],
  ['418.39', '10.1'],
  ['410.48', '10.0'],
];

/** Compares dotted numeric versions ("550.54.15" vs "550.54.14"); missing parts count as 0. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/** Returns the newest CUDA version the driver supports ("13.0"), or "" for drivers older than CUDA 10. */
export function cudaVersionForDriver(driverVersion: string): string {
  for (const [minimum, cuda] of CUDA_BY_DRIVER) if (compareVersions(driverVersion, minimum) >= 0) return cuda;
  return '';
}

/** Returns the brand as NVIDIA_REQUIRE_BRAND spells it ("tesla", "geforce", …, "nvidia" by default). */
export function brandOfModel(model: string): string {
  const m = model.toLowerCase();
  if (m.includes('tesla')) return 'tesla';
  if (m.includes('quadro')) return m.includes('rtx') ? 'quadrortx' : 'quadro';
  if (m.includes('geforce')) return 'geforce';
  if (m.includes('titan')) return 'titan';
  if (/\bnvs\b/.test(m)) return 'nvs';
  if (/\bgrid\b/.test(m)) return 'grid';
  if (/\brtx a\d|\brtx \d+\b.*\bada\b|\brtx pro\b/.test(m)) return 'nvidiartx';
  return 'nvidia';
}

// Compute capability by model-name pattern; first match wins, so specific patterns come first.
// Consumer generations need "GeForce": Quadro RTX 4000/5000 are Turing and RTX 5000 Ada is Ada.
const ARCH_BY_MODEL: [RegExp, string][] = [
  [/\bg?b300\b/i, '10.3'],
  [/\bg?b(100|200)\b/i, '10.0'],
  [/geforce rtx 50\d\d|rtx pro \d+ blackwell/i, '12.0'],
  [/\bg?h(100|200|800|20)\b/i, '9.0'],
  [/\bl(4|20|40s?)\b|geforce rtx 40\d\d|\bada\b/i, '8.9'],
  [/\ba(100|800|30)\b/i, '8.0'],
  [/\ba(2|10g?|16|40)\b|rtx a\d+|geforce rtx 30\d\d/i, '8.6'],
  [/\bv100\b|titan v\b/i, '7.0'],
  [/\bt4\b|geforce rtx 20\d\d|quadro rtx|titan rtx/i, '7.5'],
  [/\bp100\b/i, '6.0'],
  [/\bp(4|40)\b|gtx 10\d\d/i, '6.1'],
];

/** Returns the CUDA compute capability ("9.0") for known models, "" otherwise. */
export function architectureOfModel(model: string): string {
  for (const [pattern, arch] of ARCH_BY_MODEL) if (pattern.test(model)) return arch;
  return '';
}
