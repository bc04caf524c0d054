import path from 'node:path';
import { loadConfig } from '../adapters/config-file.js';
import { createLogger } from '../adapters/logger.js';
import { runCommand } from '../adapters/exec.js';
import { SETTINGS } from '../core/config.js';
import { formatError, UsageError } from '../errors.js';
import type { Config } from '../model/config.js';
import type { Logger } from '../model/logger.js';
import { WatchDaemon } from '../watch/daemon.js';
import { COMMON_FLAGS, parseFlags } from './args.js';
import type { Io } from './io.js';

export const WATCH_HELP = `Usage: oci-gpu watch [--root DIR] [--config FILE] [--manifest FILE] [--cdi FILE] [options]

Runs until stopped, keeping the manifest (default /run/oci-gpu/manifest.json) and the CDI spec
(default /var/run/cdi/oci-gpu.json) true: a full scan at start, then one on every relevant change
(inotify on /dev, the driver folders and /etc/ld.so.cache; udev events where udevadm exists; a
slow safety rescan for /proc and /sys). Files are written atomically and only when their content
changes. Meant to run as the systemd service oci-gpu-watch (Type=notify).

  --root DIR            watch the host tree under DIR (default /)
  --config FILE         configuration (default /etc/oci-gpu/config.json5); SIGHUP reloads it
  --manifest FILE       where to write the manifest
  --cdi FILE            where to write the CDI spec
  --no-cdi              do not write a CDI spec
  --log-level LEVEL     error, warn, info (default) or debug
  --log-format FORMAT   text (default, for journald) or json
Signals: SIGHUP reloads the configuration and rescans; SIGTERM and SIGINT stop cleanly.
`;

const FLAGS = {
  ...COMMON_FLAGS,
  cdi: { type: 'string' },
  'no-cdi': { type: 'boolean' },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
} as const;

/** `oci-gpu watch`: resolves when the daemon has stopped after SIGTERM/SIGINT. */
export async function runWatch(argv: string[], io: Io): Promise<number> {
  const { values } = parseFlags('oci-gpu watch', argv, FLAGS);
  if (values.help) return io.out(WATCH_HELP), 0;
  for (const [flag, key] of [['log-level', 'log.level'], ['log-format', 'log.format']] as const) {
    const problem = values[flag] === undefined ? null : SETTINGS.find((s) => s.key === key)!.check(values[flag]);
    if (problem) throw new UsageError(`oci-gpu watch: --${flag} ${problem}`);
  }
  const load = (): Config => {
    const c = loadConfig(values);
    return Object.freeze({
      ...c,
      cdi: { ...c.cdi, ...(values.cdi ? { path: path.resolve(values.cdi) } : {}), ...(values['no-cdi'] ? { enabled: false } : {}) },
      log: { level: (values['log-level'] as Config['log']['level']) ?? c.log.level, format: (values['log-format'] as Config['log']['format']) ?? c.log.format },
    });
  };
  const config = load();
  // The daemon keeps this logger; SIGHUP swaps what is behind it, so log.level and log.format reload too.
  let current = createLogger(config.log);
  let currentLog = config.log;
  const log: Logger = {
    error: (m) => current.error(m),
    warn: (m) => current.warn(m),
    info: (m) => current.info(m),
    debug: (m) => current.debug(m),
  };
  const daemon = new WatchDaemon(config, log, () => void notifyReady(log));
  daemon.start();
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info(`${signal}: stopping`);
      void daemon.stop().then(() => resolve(0));
    };
    // \`on\`, not \`once\`: while an execa child runs (udevadm monitor, systemd-notify), signal-exit also listens and
    // re-raises the signal when it finds itself the only listener, which a \`once\` handler is no longer when it runs.
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => {
      try {
        const next = load();
        if (next.log.level !== currentLog.level || next.log.format !== currentLog.format) {
          current = createLogger(next.log);
          currentLog = next.log;
        }
        daemon.reload(next);
      } catch (error) {
        log.error(`SIGHUP: keeping the current configuration: ${formatError(error)}`);
      }
    });
  });
}

// Type=notify readiness: Node cannot send to the notify socket itself, so systemd-notify does (NotifyAccess=all).
async function notifyReady(log: { warn(m: string): void }): Promise<void> {
  const socket = process.env.NOTIFY_SOCKET;
  if (!socket) return;
  try {
    await runCommand('/usr/bin/systemd-notify', ['--ready', `--pid=${process.pid}`], { env: { NOTIFY_SOCKET: socket } });
  } catch (error) {
    log.warn(`cannot tell systemd we are ready: ${formatError(error)}`);
  }
}
