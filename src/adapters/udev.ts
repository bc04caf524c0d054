import fs from 'node:fs';
import type { Logger } from '../model/logger.js';
import { startCommand, type RunningCommand } from './exec.js';

const UDEVADM = ['/usr/bin/udevadm', '/bin/udevadm', '/sbin/udevadm', '/usr/sbin/udevadm'];
// Subsystems whose events can change what the manifest says.
const SUBSYSTEMS = ['module', 'pci', 'drm', 'nvidia-caps', 'nvidia-caps-imex-channels', 'misc'];
const RESTART_DELAY_MS = 5000;

/** A running `udevadm monitor`; `stop` ends it for good. */
export interface UdevMonitor {
  stop(): void;
}

/** Returns the udevadm binary, or null on hosts without udev (such as the GPU test host). */
export function findUdevadm(): string | null {
  return UDEVADM.find((p) => fs.existsSync(p)) ?? null;
}

/**
 * Runs `udevadm monitor --udev --property` for the relevant subsystems and calls `onEvent` once
 * per event block; restarts it after a pause if it dies.
 */
export function startUdevMonitor(udevadm: string, onEvent: (summary: string) => void, log: Logger): UdevMonitor {
  let child: RunningCommand | null = null;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const start = () => {
    let block: string[] = [];
    let partial = '';
    const onStdout = (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (line.trim() === '') {
          const action = block.find((l) => l.startsWith('ACTION='));
          if (action) onEvent(`${action.slice(7)} ${block.find((l) => l.startsWith('DEVPATH='))?.slice(8) ?? ''}`.trim());
          block = [];
        } else block.push(line);
      }
    };
    child = startCommand(udevadm, ['monitor', '--udev', '--property', ...SUBSYSTEMS.map((s) => `--subsystem-match=${s}`)], { onStdout });
    void child.exited.then((result) => {
      if (stopped) return;
      log.warn(`udevadm monitor exited (${result.exitCode ?? result.signal ?? 'unknown'}); restarting in ${RESTART_DELAY_MS / 1000} s`);
      timer = setTimeout(start, RESTART_DELAY_MS);
    });
  };
  start();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      child?.kill('SIGTERM');
    },
  };
}
