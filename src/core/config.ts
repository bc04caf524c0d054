import JSON5 from 'json5';
import { ParseError } from '../errors.js';
import type { Config } from '../model/config.js';
import { isObject } from './check.js';

export const DEFAULT_CONFIG_PATH = '/etc/oci-gpu/config.json5';

type Leaf = string | number | boolean;
/** One setting: its default, what it means, and the values it accepts. */
export interface Setting {
  key: string;
  default: Leaf;
  description: string;
  check: (v: unknown) => string | null;
}

const abs = (v: unknown) => (typeof v === 'string' && v.startsWith('/') ? null : 'must be an absolute path');
const bool = (v: unknown) => (typeof v === 'boolean' ? null : 'must be true or false');
const int = (min: number, max: number) => (v: unknown) =>
  Number.isInteger(v) && (v as number) >= min && (v as number) <= max ? null : `must be an integer from ${min} to ${max}`;
const oneOf = (...values: string[]) => (v: unknown) =>
  typeof v === 'string' && values.includes(v) ? null : `must be one of ${values.map((x) => `"${x}"`).join(', ')}`;

/** Every setting with its default and description: the single source for validation, defaults and docs. */
export const SETTINGS: Setting[] = [
  { key: 'manifest', default: '/run/oci-gpu/manifest.json', description: 'Where the watcher writes and the hook reads the manifest.', check: abs },
  { key: 'root', default: '/', description: 'Host root to scan; a folder holding a simulated host for tests and demos.', check: abs },
  { key: 'cdi.enabled', default: true, description: 'Also write a CDI spec (for Docker ≥ 25, containerd, CRI-O and Podman --device).', check: bool },
  { key: 'cdi.path', default: '/var/run/cdi/oci-gpu.json', description: 'Where the CDI spec is written.', check: abs },
  { key: 'cdi.kind', default: 'nvidia.com/gpu', description: 'CDI kind of the devices (vendor/class).', check: (v) => (typeof v === 'string' && /^[A-Za-z0-9][A-Za-z0-9_.-]*\/[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(v) ? null : 'must look like vendor.com/class') },
  { key: 'hook.onDriverMismatch', default: 'fail', description: 'When the manifest was written for another driver than the loaded one: "fail" refuses the container, "rescan" runs one inline scan first.', check: oneOf('fail', 'rescan') },
  { key: 'hook.scanCommand', default: '/usr/bin/oci-gpu', description: 'The oci-gpu CLI that an inline rescan runs.', check: abs },
  { key: 'runtime.path', default: '/usr/bin/runc', description: 'The OCI runtime that oci-gpu-runtime runs after editing the bundle.', check: abs },
  { key: 'container.maskDriverParams', default: true, description: 'Show containers /proc/driver/nvidia/params with ModifyDeviceFiles: 0, so NVML in a container never tries to create device nodes (as NVIDIA\'s toolkit does).', check: bool },
  { key: 'container.cudaCompat', default: true, description: 'CUDA forward compatibility: when an image\'s /usr/local/cuda/compat holds a libcuda of a newer driver branch than the host\'s, put that folder first in the container\'s ld cache.', check: bool },
  { key: 'watch.debounceMs', default: 200, description: 'Quiet time after the last event before a rescan (a driver upgrade touches hundreds of files).', check: int(0, 60_000) },
  { key: 'watch.safetyRescanSeconds', default: 60, description: 'Rescan this often even without events, for /proc and /sys which inotify cannot see (0 turns it off).', check: int(0, 86_400) },
  { key: 'watch.stableScans', default: 2, description: 'Equal consecutive scans needed before a changed manifest is written, so a half-done upgrade is never published.', check: int(1, 10) },
  { key: 'watch.udev', default: true, description: 'Listen to `udevadm monitor` when udevadm exists.', check: bool },
  { key: 'watch.charLinks', default: true, description: 'Keep /dev/char/<major>:<minor> links for NVIDIA nodes; systemd resolves device rules through them on daemon-reload.', check: bool },
  { key: 'watch.keepWarm', default: false, description: 'Hold the GPU nodes open while no nvidia-persistenced runs, so containers skip the driver\'s cold start.', check: bool },
  { key: 'log.level', default: 'info', description: 'Log level of the watcher.', check: oneOf('error', 'warn', 'info', 'debug') },
  { key: 'log.format', default: 'text', description: 'Log lines as text (journald) or JSON.', check: oneOf('text', 'json') },
  { key: 'log.syslog', default: '/dev/log', description: 'The syslog socket the hook and the runtime wrapper send each refused container start to (`journalctl -t oci-gpu-hook`); "" sends none.', check: (v) => (v === '' || abs(v) === null ? null : 'must be an absolute path or ""') },
];

/** Returns the configuration with every default. */
export function defaultConfig(): Config {
  return resolve({});
}

/**
 * Parses config.json5 text: unknown keys and bad values are errors with dot-paths; missing keys
 * take their defaults. Throws ParseError naming `source`.
 */
export function parseConfig(text: string, source: string): Config {
  // json5 prints a console warning for these inside a string: stray output from a hook whose
  // stderr must stay empty on success. Refused instead; `\u2028` escapes still work.
  const separator = /[\u2028\u2029]/.exec(text);
  if (separator) {
    const line = text.slice(0, separator.index).split('\n').length;
    throw new ParseError(`config "${source}"`, [`line ${line}: a raw U+${separator[0].charCodeAt(0).toString(16).toUpperCase()} character; write it as an escape`]);
  }
  let value: unknown;
  try {
    value = JSON5.parse(text);
  } catch (error) {
    throw new ParseError(`config "${source}"`, [(error as Error).message.replace(/^JSON5: /, '')], { cause: error });
  }
  if (!isObject(value)) throw new ParseError(`config "${source}"`, ['must be an object']);
  const problems: string[] = [];
  const flat = flatten(value, '', problems);
  for (const [key, v] of flat) {
    const setting = SETTINGS.find((s) => s.key === key);
    if (!setting) problems.push(`${key}: unknown setting`);
    else {
      const problem = setting.check(v);
      if (problem) problems.push(`${key}: ${problem}`);
    }
  }
  if (problems.length) throw new ParseError(`config "${source}"`, problems);
  return resolve(Object.fromEntries(flat));
}

function flatten(obj: Record<string, unknown>, prefix: string, problems: string[]): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    const isSection = SETTINGS.some((s) => s.key.startsWith(`${key}.`));
    if (isSection) {
      if (!isObject(v)) problems.push(`${key}: must be an object`);
      else for (const [kk, vv] of flatten(v, key, problems)) out.set(kk, vv);
    } else out.set(key, v);
  }
  return out;
}

function resolve(values: Record<string, unknown>): Config {
  const config: Record<string, unknown> = {};
  for (const s of SETTINGS) {
    const parts = s.key.split('.');
    let at = config;
    for (const p of parts.slice(0, -1)) at = (at[p] ??= {}) as Record<string, unknown>;
    at[parts.at(-1)!] = s.key in values ? values[s.key] : s.default;
  }
  // Sections too: a shallow freeze would let `config.watch.debounceMs = 0` through.
  for (const section of Object.values(config)) if (typeof section === 'object' && section !== null) Object.freeze(section);
  return Object.freeze(config) as unknown as Config;
}
