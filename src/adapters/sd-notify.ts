// systemd's notify protocol (sd_notify(3)) without the systemd-notify binary: one datagram per
// message to $NOTIFY_SOCKET, sent by the daemon itself, so the unit needs neither NotifyAccess=all
// nor CAP_SYS_ADMIN (systemd-notify needed it to send on behalf of our pid).
import { errnoName, loadLibc } from './libc.js';

/** What the watcher tells its service manager; every call is a no-op when not run by systemd. */
export interface ServiceNotifier {
  /** READY=1: the files match the host (also after a reload). */
  ready(status: string): void;
  /** RELOADING=1: SIGHUP received, the configuration is being re-read. */
  reloading(status: string): void;
  /** STATUS=: one line, what the last scan found (`systemctl status`, `systemctl show -p StatusText`). */
  status(status: string): void;
  /** WATCHDOG=1. */
  watchdog(): void;
  /** How often to send WATCHDOG=1 (half of WatchdogSec), or null when the unit has no watchdog for us. */
  readonly watchdogMs: number | null;
}

export const NO_SERVICE_MANAGER: ServiceNotifier = { ready() {}, reloading() {}, status() {}, watchdog() {}, watchdogMs: null };

/** The text of one notification: "KEY=value" lines; a value never spans lines. */
export function notifyMessage(fields: Record<string, string>): string {
  return Object.entries(fields)
    .map(([k, v]) => `${k}=${v.replace(/[\r\n]+/g, ' ')}`)
    .join('\n');
}

/**
 * The WATCHDOG=1 interval in ms from the environment systemd gives (WATCHDOG_USEC, and WATCHDOG_PID
 * when set must be `pid`): half the timeout, as sd_watchdog_enabled(3) advises; null without one.
 */
export function watchdogInterval(env: NodeJS.ProcessEnv, pid: number): number | null {
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.WATCHDOG_USEC || !Number.isSafeInteger(usec) || usec <= 0) return null;
  if (env.WATCHDOG_PID !== undefined && Number(env.WATCHDOG_PID) !== pid) return null;
  return Math.max(1, Math.floor(usec / 2000));
}

/**
 * Returns a notifier for $NOTIFY_SOCKET, or NO_SERVICE_MANAGER when it is unset. Under Node (no
 * datagram sockets) it warns once and does nothing. A failed send is warned about once, never thrown.
 */
export async function createNotifier(env: NodeJS.ProcessEnv, log: { warn(m: string): void }): Promise<ServiceNotifier> {
  const socket = env.NOTIFY_SOCKET;
  if (!socket) return NO_SERVICE_MANAGER;
  const libc = await loadLibc();
  if (!libc) {
    log.warn(`NOTIFY_SOCKET is set but this is not the compiled oci-gpu: systemd will not hear READY=1 (run /usr/bin/oci-gpu)`);
    return NO_SERVICE_MANAGER;
  }
  let warned = false;
  const send = (fields: Record<string, string>) => {
    const errno = libc.sendDatagram(socket, Buffer.from(notifyMessage(fields)));
    if (errno && !warned) {
      warned = true;
      log.warn(`cannot notify systemd on "${socket}": ${errnoName(errno)}`);
    }
  };
  return {
    ready: (status) => send({ READY: '1', STATUS: status }),
    // systemd ≥ 253 wants the time of the reload request with RELOADING=1; older ones ignore it.
    reloading: (status) => send({ RELOADING: '1', MONOTONIC_USEC: String(process.hrtime.bigint() / 1000n), STATUS: status }),
    status: (status) => send({ STATUS: status }),
    watchdog: () => send({ WATCHDOG: '1' }),
    watchdogMs: watchdogInterval(env, process.pid),
  };
}
