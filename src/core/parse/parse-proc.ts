import { ParseError } from '../../errors.js';

/** What /proc/driver/nvidia/gpus/<bus>/information says about one GPU. */
export interface GpuInformation {
  model: string;
  uuid: string;
  pciBusId: string;
  minor: number;
}

/** One line of /proc/devices: a major number and the driver that owns it. */
export interface ProcDevice {
  major: number;
  name: string;
}

// Linux dev_t: 12-bit major, 20-bit minor.
const MAX_MAJOR = 0xfff;
const MAX_MINOR = 0xfffff;
const GPU_UUID = /^GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PCI_BUS_ID = /^([0-9a-f]{4,8}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/i;
const VERSION = /^\d+(?:\.\d+)+$/;

const FIELDS = {
  model: 'Model',
  uuid: 'GPU UUID',
  pciBusId: 'Bus Location',
  minor: 'Device Minor',
} as const;
type Field = keyof typeof FIELDS;

/** Normalises a PCI bus id (also nvidia-smi's "00000000:3B:00.0") to lower-case "dddd:bb:dd.f"; returns null if it is not one. */
export function normalizePciBusId(id: string): string | null {
  const m = PCI_BUS_ID.exec(id.trim());
  if (!m) return null;
  const [, domain, bus, device, fn] = m as unknown as [string, string, string, string, string];
  if (Number.parseInt(device, 16) > 0x1f) return null;
  const domainHex = Number.parseInt(domain, 16).toString(16).padStart(4, '0');
  return `${domainHex}:${bus}:${device}.${fn}`.toLowerCase();
}

/** Parses /proc/driver/nvidia/gpus/<bus>/information; throws ParseError listing every missing, repeated or invalid field. */
export function parseGpuInformation(text: string, source: string): GpuInformation {
  const seen = new Map<Field, string[]>();
  const byKey = new Map<string, Field>(Object.entries(FIELDS).map(([field, key]) => [key, field as Field]));
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const field = byKey.get(line.slice(0, colon).trim());
    if (field === undefined) continue;
    const values = seen.get(field) ?? [];
    values.push(line.slice(colon + 1).trim());
    seen.set(field, values);
  }

  const problems: string[] = [];
  const value = (field: Field): string | undefined => {
    const values = seen.get(field);
    if (values === undefined) {
      problems.push(`${FIELDS[field]}: missing`);
      return undefined;
    }
    if (values.length > 1) {
      problems.push(`${FIELDS[field]}: given ${values.length} times`);
      return undefined;
    }
    return values[0];
  };

  const model = value('model');
  if (model === '') problems.push(`${FIELDS.model}: empty`);
  const uuid = value('uuid');
  if (uuid !== undefined && !GPU_UUID.test(uuid)) problems.push(`${FIELDS.uuid}: ${JSON.stringify(uuid)} is not a GPU UUID`);
  const bus = value('pciBusId');
  const pciBusId = bus === undefined ? null : normalizePciBusId(bus);
  if (bus !== undefined && pciBusId === null) problems.push(`${FIELDS.pciBusId}: ${JSON.stringify(bus)} is not a PCI bus id`);
  const minorText = value('minor');
  const minor = minorText !== undefined && /^\d{1,7}$/.test(minorText) ? Number(minorText) : Number.NaN;
  if (minorText !== undefined && !(Number.isInteger(minor) && minor <= MAX_MINOR)) {
    problems.push(`${FIELDS.minor}: ${JSON.stringify(minorText)} is not an integer in 0..${MAX_MINOR}`);
  }

  if (problems.length > 0) throw new ParseError(`gpu information "${source}"`, problems);
  return { model: model!, uuid: uuid!, pciBusId: pciBusId!, minor };
}

/** Parses /proc/devices into its character and block sections; malformed lines are skipped. */
export function parseProcDevices(text: string): { character: ProcDevice[]; block: ProcDevice[] } {
  const character: ProcDevice[] = [];
  const block: ProcDevice[] = [];
  let section: ProcDevice[] | undefined;
  for (const line of text.split(/\r?\n/)) {
    const trimmed = line.trim();
    if (/^character devices:$/i.test(trimmed)) section = character;
    else if (/^block devices:$/i.test(trimmed)) section = block;
    else {
      const m = /^(\d{1,4})\s+(\S.*)$/.exec(trimmed);
      if (section === undefined || m === null) continue;
      const major = Number(m[1]);
      if (major <= MAX_MAJOR) section.push({ major, name: m[2]! });
    }
  }
  return { character, block };
}

/** Returns the version ("580.159.04") in /sys/module/nvidia/version or /proc/driver/nvidia/version; throws ParseError if none. */
export function parseDriverVersion(text: string, source: string): string {
  const lines = text.split(/\r?\n/).map((line) => line.trim());
  const nvrm = lines.find((line) => line.startsWith('NVRM version:'));
  // The NVRM line also carries "x86_64" and a build date; the version is its only dotted all-digit word.
  const candidates = nvrm !== undefined ? nvrm.split(/\s+/) : lines.filter((line) => line !== '').slice(0, 1);
  const version = candidates.find((word) => VERSION.test(word));
  if (version === undefined) {
    const problem =
      nvrm !== undefined ? 'no version number on the "NVRM version:" line' : 'no version number (major.minor[.patch])';
    throw new ParseError(`driver version "${source}"`, [problem]);
  }
  return version;
}

/** A MIG capability as /proc/driver/nvidia/capabilities/…/access describes its device node. */
export interface CapabilityAccess {
  /** N of /dev/nvidia-caps/nvidia-cap<N>. */
  minor: number;
  /** Permission bits of the node (DeviceFileMode, decimal in the file). */
  mode: number;
}

/**
 * Parses a capability access file ("DeviceFileMinor: 12\nDeviceFileMode: 292\n…"). Throws
 * ParseError naming `source` when the minor is missing or out of range; a missing mode is 0o444.
 */
export function parseCapabilityAccess(text: string, source: string): CapabilityAccess {
  const field = (name: string) => new RegExp(`^${name}:\\s*(\\d{1,7})\\s*$`, 'm').exec(text)?.[1];
  const minor = field('DeviceFileMinor');
  if (minor === undefined || Number(minor) > 1048575) throw new ParseError(source, ['DeviceFileMinor: missing or not a minor number']);
  const mode = field('DeviceFileMode');
  return { minor: Number(minor), mode: mode === undefined ? 0o444 : Number(mode) & 0o777 };
}
