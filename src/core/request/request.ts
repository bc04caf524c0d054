import { RequestError } from '../../errors.js';
import { CAPABILITIES, type Capability } from '../../model/manifest.js';

/** Annotation that asks for GPUs: "all", "none" or a comma list of indexes, UUIDs, PCI bus ids. */
export const DEVICES_ANNOTATION = 'oci-gpu/devices';
/** Annotation that names the driver capabilities (comma list; default utility,compute). */
export const CAPABILITIES_ANNOTATION = 'oci-gpu/capabilities';
/** Prefix of the annotations where CRI runtimes put fully-qualified CDI device names. */
export const CDI_ANNOTATION_PREFIX = 'cdi.k8s.io/';
/** Annotation that asks for IMEX channels: "all", "none" or a comma list of channel numbers. */
export const IMEX_ANNOTATION = 'oci-gpu/imex-channels';
/** The CDI class of IMEX channels (the kind is "<vendor of cdi.kind>/imex-channel", as NVIDIA names it). */
export const IMEX_CDI_CLASS = 'imex-channel';

export const DEFAULT_CAPABILITIES: Capability[] = ['utility', 'compute'];

// Limits that keep a hostile value from costing time or memory: real requests are tiny.
const MAX_VALUE_LENGTH = 4096;
const MAX_SELECTORS = 256;

/** What a container asked for, before it is checked against the manifest. */
export interface GpuRequest {
  /** Where the device list came from, for messages: `annotation "oci-gpu/devices"`, `NVIDIA_VISIBLE_DEVICES`. */
  source: string;
  /**
   * "all", or selectors in the order given: GPU index, UUID or PCI bus id, MIG device UUID
   * ("MIG-…") or "<gpu>:<mig index>"; [] means driver only, no GPU ("none").
   */
  devices: 'all' | string[];
  /** IMEX channels: "all", or channel numbers in the order given ([] for none). */
  imexChannels: 'all' | number[];
  /** Where the IMEX channels came from, for messages. */
  imexSource: string;
  capabilities: Capability[];
  /** NVIDIA_REQUIRE_* expressions (each var is ANDed with the others), empty when disabled. */
  requirements: { name: string; expression: string }[];
}

/**
 * Returns the GPU request of a container from its annotations and process env, or null when it
 * asks for nothing (no annotation; NVIDIA_VISIBLE_DEVICES unset, empty or "void"). Annotations
 * win over env. Throws RequestError (one line) for a malformed value.
 */
export function parseRequest(annotations: Record<string, string>, env: string[], cdiKind: string): GpuRequest | null {
  const vars = envMap(env);
  const devicesAnnotation = annotations[DEVICES_ANNOTATION];
  let source: string;
  let devices: 'all' | string[] | null;
  if (devicesAnnotation !== undefined) {
    source = `annotation "${DEVICES_ANNOTATION}"`;
    devices = parseDeviceList(devicesAnnotation, source, false);
  } else {
    const cdi = cdiDevices(annotations, cdiKind);
    if (cdi) {
      source = `annotation "${cdi.key}"`;
      devices = cdi.devices;
    } else {
      source = 'NVIDIA_VISIBLE_DEVICES';
      const value = vars.get('NVIDIA_VISIBLE_DEVICES');
      devices = value === undefined ? null : parseDeviceList(value, source, true);
    }
  }
  if (devices === null) return null;

  const capsAnnotation = annotations[CAPABILITIES_ANNOTATION];
  const capabilities =
    capsAnnotation !== undefined
      ? parseCapabilities(capsAnnotation, `annotation "${CAPABILITIES_ANNOTATION}"`)
      : parseCapabilities(vars.get('NVIDIA_DRIVER_CAPABILITIES') ?? '', 'NVIDIA_DRIVER_CAPABILITIES');

  return { source, devices, capabilities, requirements: requirementsOf(vars), ...imexChannelsOf(annotations, vars, cdiKind) };
}

// IMEX channels: the annotation, else CDI names of the imex-channel kind, else NVIDIA_IMEX_CHANNELS.
function imexChannelsOf(annotations: Record<string, string>, vars: Map<string, string>, cdiKind: string): { imexChannels: 'all' | number[]; imexSource: string } {
  const annotation = annotations[IMEX_ANNOTATION];
  if (annotation !== undefined) {
    const source = `annotation "${IMEX_ANNOTATION}"`;
    return { imexChannels: parseChannels(annotation, source), imexSource: source };
  }
  const cdi = cdiDevices(annotations, `${cdiKind.slice(0, cdiKind.indexOf('/'))}/${IMEX_CDI_CLASS}`);
  if (cdi) {
    const source = `annotation "${cdi.key}"`;
    return { imexChannels: cdi.devices === 'all' ? 'all' : parseChannels(cdi.devices.join(','), source), imexSource: source };
  }
  const env = vars.get('NVIDIA_IMEX_CHANNELS');
  return { imexChannels: env === undefined ? [] : parseChannels(env, 'NVIDIA_IMEX_CHANNELS'), imexSource: 'NVIDIA_IMEX_CHANNELS' };
}

function parseChannels(raw: string, source: string): 'all' | number[] {
  const value = checkValue(raw, source);
  if (value === 'all') return 'all';
  if (value === '' || value === 'none' || value === 'void') return [];
  const items = checkSelectors(value.split(',').map((s) => s.trim()), source, value, 'IMEX channel');
  return items.map((item) => {
    if (!/^\d{1,7}$/.test(item)) throw new RequestError(`${source}: "${shorten(item)}" is not an IMEX channel number (use "all", "none" or numbers like 0,1)`);
    return Number(item);
  });
}

/** Parses a device list; returns null for "void"/empty when `voidAllowed` (the NVIDIA env contract). */
function parseDeviceList(raw: string, source: string, emptyIsNothing: boolean): 'all' | string[] | null {
  const value = checkValue(raw, source);
  if (value === 'void' || (emptyIsNothing && value === '')) return null;
  if (value === 'all') return 'all';
  if (value === 'none') return [];
  if (value === '') throw new RequestError(`${source} is empty: use "all", "none" or a comma list of GPU indexes, UUIDs or PCI bus ids`);
  return checkSelectors(value.split(',').map((s) => s.trim()), source, value);
}

/** Returns the selectors; throws RequestError for too many, an empty one, all/none/void among others, or a repeat. */
function checkSelectors(items: string[], source: string, value: string, what = 'GPU'): string[] {
  if (items.length > MAX_SELECTORS) throw new RequestError(`${source} lists ${items.length} devices; at most ${MAX_SELECTORS} are accepted`);
  for (const item of items) {
    if (item === '') throw new RequestError(`${source} has an empty entry in "${shorten(value)}"`);
    if (item === 'all' || item === 'none' || item === 'void') {
      throw new RequestError(`${source}: "${item}" cannot be combined with other devices in "${shorten(value)}"`);
    }
  }
  const seen = new Set<string>();
  for (const item of items) {
    if (seen.has(item)) throw new RequestError(`${source} lists ${what} "${shorten(item)}" twice`);
    seen.add(item);
  }
  return items;
}

function parseCapabilities(raw: string, source: string): Capability[] {
  const value = checkValue(raw, source);
  if (value === '') return [...DEFAULT_CAPABILITIES];
  const items = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (!items.length) return [...DEFAULT_CAPABILITIES];
  if (items.includes('all')) return [...CAPABILITIES];
  const unknown = items.filter((c) => !(CAPABILITIES as readonly string[]).includes(c));
  if (unknown.length) {
    throw new RequestError(`${source}: unknown capability "${shorten(unknown[0]!)}" (known: ${CAPABILITIES.join(', ')}, all)`);
  }
  return [...new Set(items as Capability[])];
}

function cdiDevices(annotations: Record<string, string>, kind: string): { key: string; devices: 'all' | string[] } | null {
  const names: string[] = [];
  let key = '';
  for (const [k, v] of Object.entries(annotations)) {
    // Other vendors' CDI annotations are not ours to judge: only values naming our kind are checked.
    if (!k.startsWith(CDI_ANNOTATION_PREFIX) || !v.includes(`${kind}=`)) continue;
    const value = checkValue(v, `annotation "${shorten(k)}"`);
    for (const qualified of value.split(',').map((s) => s.trim())) {
      const eq = qualified.indexOf('=');
      if (eq < 0 || qualified.slice(0, eq) !== kind) continue;
      key ||= k;
      names.push(qualified.slice(eq + 1));
    }
  }
  if (!names.length) return null;
  if (names.includes('all')) return { key, devices: 'all' };
  // Names from several annotations are one list: each value was checked, so judge the list, not its joined length.
  const source = `annotation "${key}"`;
  if (names.length === 1) return { key, devices: parseDeviceList(names[0]!, source, false) as string[] };
  return { key, devices: checkSelectors(names, source, names.join(',')) };
}

function requirementsOf(vars: Map<string, string>): { name: string; expression: string }[] {
  if (isTrue(vars.get('NVIDIA_DISABLE_REQUIRE'))) return [];
  const out: { name: string; expression: string }[] = [];
  for (const [name, value] of vars) {
    if (name.startsWith('NVIDIA_REQUIRE_')) out.push({ name, expression: checkValue(value, name) });
  }
  // Legacy CUDA images carry only CUDA_VERSION: they need at least that CUDA.
  const cuda = /^(\d+)\.(\d+)/.exec(vars.get('CUDA_VERSION') ?? '');
  if (!vars.has('NVIDIA_REQUIRE_CUDA') && cuda) out.push({ name: 'CUDA_VERSION', expression: `cuda>=${cuda[1]}.${cuda[2]}` });
  return out.sort((a, b) => (a.name < b.name ? -1 : 1));
}

function isTrue(v: string | undefined): boolean {
  return v !== undefined && ['1', 't', 'true', 'yes', 'on'].includes(v.trim().toLowerCase());
}

function envMap(env: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const kv of env) {
    const eq = kv.indexOf('=');
    if (eq > 0) m.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  return m;
}

function checkValue(raw: string, source: string): string {
  if (raw.length > MAX_VALUE_LENGTH) throw new RequestError(`${source} is ${raw.length} bytes long; at most ${MAX_VALUE_LENGTH} are accepted`);
  // C0/C1 controls, and the invisible ones that reorder or hide text in the one-line error an admin
  // reads (bidi overrides and isolates, zero-width marks): no GPU request has any of them.
  // eslint-disable-next-line no-control-regex, no-misleading-character-class
  if (/[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/.test(raw)) {
    throw new RequestError(`${source} contains control characters`);
  }
  return raw.trim();
}

/** Returns a value cut to 64 characters for a message. */
export function shorten(s: string): string {
  return s.length > 64 ? `${s.slice(0, 61)}...` : s;
}
