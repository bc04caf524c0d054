import { SETTINGS } from '../core/config.js';
import { UsageError } from '../errors.js';
import type { Logger } from '../model/logger.js';

/** The logging flags of the long-running commands (watch and the Kubernetes plugins). */
export const LOG_FLAGS = { 'log-level': { type: 'string' }, 'log-format': { type: 'string' } } as const;

/** Refuses a --log-level or --log-format value the configuration file would refuse, with the same words. */
export function checkLogFlags(command: string, values: { 'log-level'?: string | undefined; 'log-format'?: string | undefined }): void {
  for (const [flag, key] of [['log-level', 'log.level'], ['log-format', 'log.format']] as const) {
    const problem = values[flag] === undefined ? null : SETTINGS.find((s) => s.key === key)!.check(values[flag]);
    if (problem) throw new UsageError(`${command}: --${flag} ${problem}`);
  }
}

/** Resolves with 0 once the first SIGTERM or SIGINT has been logged and `stop` has finished; later signals are ignored. */
export function untilStopSignal(log: Logger, stop: () => Promise<void>): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info(`${signal}: stopping`);
      void stop().then(() => resolve(0));
    };
    // `on`, not `once`: while an execa child runs (udevadm monitor), signal-exit also listens and
    // re-raises the signal when it finds itself the only listener, which a `once` handler is no longer when it runs.
    process.on('SIGTERM', () => onSignal('SIGTERM'));
    process.on('SIGINT', () => onSignal('SIGINT'));
  });
}

/**
 * For a process that runs for days (the watcher, the Kubernetes plugins): JavaScriptCore's normal
 * tier-up policy. The binary starts with its thresholds scaled up (scripts/build.sh:
 * --compile-jit-policy), which suits the container-start programs that live milliseconds. A no-op
 * under Node.
 */
export function useFullJit(): void {
  (globalThis as { Bun?: { unsafe?: { setJITPolicy?: (scale: number) => void } } }).Bun?.unsafe?.setJITPolicy?.(1);
}
