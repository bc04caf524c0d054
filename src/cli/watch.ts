import path from 'node:path';
import { loadConfig } from '../adapters/config-file.js';
import { createLogger } from '../adapters/logger.js';
import { createNotifier } from '../adapters/sd-notify.js';
import { lockManifest } from '../adapters/watch-lock.js';
import { formatError } from '../errors.js';
import type { Config } from '../model/config.js';
import type { Logger } from '../model/logger.js';
import { WatchDaemon } from '../watch/daemon.js';
import { HOST_FLAGS, parseFlags } from './args.js';
import { checkLogFlags, LOG_FLAGS, untilStopSignal, useFullJit } from './daemon.js';
import type { Io } from './io.js';

export const WATCH_HELP = `Usage: oci-gpu watch [--root DIR] [--config FILE] [--manifest FILE] [--cdi FILE] [options]

Runs until stopped, keeping the manifest (default /run/oci-gpu/manifest.json) and the CDI spec
(default /var/run/cdi/oci-gpu.json) true: a full scan at start, then one on every relevant change
(inotify on /dev, the driver folders and /etc/ld.so.cache; udev events where udevadm exists; a
slow safety rescan for /proc and /sys). Files are written atomically and only when their content
changes. Meant to run as the systemd service oci-gpu-watch (Type=notify): it sends READY=1,
STATUS= (what the last scan found) and WATCHDOG=1 to $NOTIFY_SOCKET itself. One watcher per
manifest: a second one is refused, naming the pid of the first (lock: <manifest>.lock).

  --root DIR            watch the host tree under DIR (default /)
  --config FILE         configuration (default /etc/oci-gpu/config.json5); SIGHUP reloads it
  --manifest FILE       where to write the manifest
  --cdi FILE            where to write the CDI spec
  --no-cdi              do not write a CDI spec
  --log-level LEVEL     error, warn, info (default) or debug
  --log-format FORMAT   text (default, for journald) or json
Signals: SIGHUP reloads the configuration and rescans (a broken file is refused, the running
configuration kept); SIGTERM and SIGINT stop cleanly.
`;

const FLAGS = {
  ...HOST_FLAGS,
  cdi: { type: 'string' },
  'no-cdi': { type: 'boolean' },
  ...LOG_FLAGS,
} as const;

/** `oci-gpu watch`: resolves when the daemon has stopped after SIGTERM/SIGINT. */
export async function runWatch(argv: string[], io: Io): Promise<number> {
  const { values } = parseFlags('oci-gpu watch', argv, FLAGS);
  if (values.help) return io.out(WATCH_HELP), 0;
  checkLogFlags('oci-gpu watch', values);
  useFullJit();
  const load = (): Config => {
    const c = loadConfig(values);
    return Object.freeze({
      ...c,
      cdi: { ...c.cdi, ...(values.cdi ? { path: path.resolve(values.cdi) } : {}), ...(values['no-cdi'] ? { enabled: false } : {}) },
      log: { ...c.log, level: (values['log-level'] as Config['log']['level']) ?? c.log.level, format: (values['log-format'] as Config['log']['format']) ?? c.log.format },
    });
  };
  let config = load();
  // Before anything is written: a second watcher of the same manifest is refused with the pid of the first.
  const locked = await lockManifest(config.manifest);
  // The daemon keeps this logger; SIGHUP swaps what is behind it, so log.level and log.format reload too.
  let current = createLogger(config.log);
  let currentLog = config.log;
  const log: Logger = {
    error: (m) => current.error(m),
    warn: (m) => current.warn(m),
    info: (m) => current.info(m),
    debug: (m) => current.debug(m),
  };
  if (locked === null) log.warn(`not locked against a second watcher of ${config.manifest}: flock needs the compiled oci-gpu, not Node.js`);
  const notifier = await createNotifier(process.env, log);
  const daemon = new WatchDaemon(config, log, notifier);
  daemon.start();
  // SIGHUP: RELOADING=1, re-read the file, rescan, READY=1; a refused file keeps the running
  // configuration and says so in the log and in STATUS=.
  const reload = async () => {
    // Before the first READY=1 systemd expects no reload notifications: the daemon's own READY=1 comes later.
    const ready = daemon.isReady;
    if (ready) notifier.reloading('reloading the configuration');
    try {
      const next = load();
      if (next.manifest !== config.manifest) await lockManifest(next.manifest);
      if (next.log.level !== currentLog.level || next.log.format !== currentLog.format) {
        current = createLogger(next.log);
        currentLog = next.log;
      }
      config = next;
      daemon.reload(next);
    } catch (error) {
      log.error(`SIGHUP: keeping the current configuration: ${formatError(error)}`);
      daemon.configRejected(formatError(error));
    }
    if (ready) notifier.ready(daemon.statusText());
  };
  let reloading = Promise.resolve();
  // One reload at a time, in the order the signals came.
  process.on('SIGHUP', () => void (reloading = reloading.then(reload)));
  return untilStopSignal(log, () => daemon.stop());
}
