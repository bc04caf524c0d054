import { isObject } from '../check.js';

/** One refused container start, as the refusal log keeps it and `oci-gpu status` shows it. */
export interface Refusal {
  /** ISO 8601, UTC. */
  time: string;
  /** oci-gpu-hook or oci-gpu-runtime. */
  program: string;
  /** The container id, or "unknown" when the input named none. */
  container: string;
  /** The one line the program printed on stderr, without its "program: " prefix. */
  reason: string;
}

/** The longest line the refusal log holds (an O_APPEND write of this size is never interleaved). */
export const REFUSAL_LINE_MAX = 1024;

const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
// Podman (overlay-containers/<id>/userdata/) and Docker (containers/<id>/) bind their per-container files from these.
const ID_IN_MOUNT = /\/(?:overlay-)?containers\/([0-9a-f]{64})\//;

/**
 * Returns the container id an OCI runtime state (its `id`) or a config.json names: CRI-O's
 * ContainerID annotation, else the id in the source of Podman's or Docker's per-container mounts
 * (/etc/hostname, /etc/hosts: precreate gets no id of its own); null when it names none.
 */
export function containerIdOf(input: unknown): string | null {
  if (!isObject(input)) return null;
  if (typeof input.id === 'string' && CONTAINER_ID.test(input.id)) return input.id;
  const annotations = isObject(input.annotations) ? input.annotations : {};
  const crio = annotations['io.kubernetes.cri-o.ContainerID'];
  if (typeof crio === 'string' && CONTAINER_ID.test(crio)) return crio;
  for (const m of Array.isArray(input.mounts) ? input.mounts : []) {
    const id = isObject(m) && typeof m.source === 'string' ? ID_IN_MOUNT.exec(m.source)?.[1] : undefined;
    if (id) return id;
  }
  return null;
}

/** Returns an id fit to print: itself when it looks like one, else "unknown". */
export function printableContainerId(id: string | null | undefined): string {
  return id && CONTAINER_ID.test(id) ? id : 'unknown';
}

/** The refusal log's line: "<time> <program> container <id>: <reason>", cut to REFUSAL_LINE_MAX bytes with its newline. */
export function formatRefusal(r: Refusal): string {
  const line = `${r.time} ${r.program} container ${printableContainerId(r.container)}: ${r.reason.replace(/[\r\n]+/g, ' ')}`;
  const bytes = Buffer.from(line, 'utf8');
  if (bytes.length < REFUSAL_LINE_MAX) return `${line}\n`;
  // Cut on a character boundary, marked as cut.
  return `${bytes.subarray(0, REFUSAL_LINE_MAX - 4).toString('utf8').replace(/\uFFFD$/, '')}…\n`;
}

/** Parses one refusal log line; null for a line that is not one (a torn or foreign line). */
export function parseRefusal(line: string): Refusal | null {
  const m = /^(\d{4}-\d\d-\d\dT[\d:.]+Z) (\S+) container (\S+): (.*)$/.exec(line);
  return m ? { time: m[1]!, program: m[2]!, container: m[3]!, reason: m[4]! } : null;
}

/** LOG_DAEMON | LOG_ERR */
export const SYSLOG_DAEMON_ERR = 3 * 8 + 3;

/**
 * The datagram for /dev/log: "<PRI>TAG[PID]: MSG". No timestamp: journald and rsyslog (imuxsock)
 * stamp local messages themselves, and local time would cost the hook a time zone load (~4 ms).
 */
export function syslogMessage(tag: string, pid: number, text: string, priority = SYSLOG_DAEMON_ERR): string {
  return `<${priority}>${tag}[${pid}]: ${text.replace(/[\r\n]+/g, ' ')}`;
}
