import fs from 'node:fs';
import winston from 'winston';
import type { Logger } from '../model/logger.js';

/** syslog priorities journald reads from a "<N>" line prefix (sd-daemon(3)). */
export const JOURNAL_PRIORITY = { error: 3, warn: 4, info: 6, debug: 7 } as const;

/**
 * Returns true when stderr is the journal stream systemd connected (sd_journal_stream_fd): the
 * JOURNAL_STREAM device:inode pair is stderr's own. A child that inherited the variable but writes
 * elsewhere (a terminal, a pipe) must not print "<6>" prefixes.
 */
export function stderrIsJournal(journalStream: string | undefined, stderr: { dev: number; ino: number } | null): boolean {
  const m = /^(\d+):(\d+)$/.exec(journalStream ?? '');
  return !!m && !!stderr && Number(m[1]) === stderr.dev && Number(m[2]) === stderr.ino;
}

function stderrStat(): { dev: number; ino: number } | null {
  try {
    return fs.fstatSync(2);
  } catch {
    return null;
  }
}

/**
 * Returns a winston logger writing to stderr: "level: message" lines (journald adds the time), or
 * one JSON object per line with a timestamp. When stderr is the journal, each line starts with its
 * priority ("<4>warn: ..."), so `journalctl -p warning` selects warnings and errors.
 */
export function createLogger(options: { level: string; format: 'text' | 'json' }, journal = stderrIsJournal(process.env.JOURNAL_STREAM, stderrStat())): Logger {
  const prefix = (level: string) => (journal ? `<${JOURNAL_PRIORITY[level as keyof typeof JOURNAL_PRIORITY] ?? 6}>` : '');
  // Formats end by setting info[MESSAGE], the line the transport writes: the prefix goes in front of it.
  const MESSAGE = Symbol.for('message');
  const withPriority = winston.format((info) => {
    const record = info as unknown as Record<symbol, string>;
    record[MESSAGE] = `${prefix(info.level)}${record[MESSAGE]}`;
    return info;
  });
  const format =
    options.format === 'json'
      ? winston.format.combine(winston.format.timestamp(), winston.format.json(), withPriority())
      : winston.format.combine(winston.format.printf(({ level, message }) => `${level}: ${String(message)}`), withPriority());
  const logger = winston.createLogger({
    level: options.level,
    format,
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug'] })],
  });
  return {
    error: (m) => void logger.error(m),
    warn: (m) => void logger.warn(m),
    info: (m) => void logger.info(m),
    debug: (m) => void logger.debug(m),
  };
}
