import winston from 'winston';
import type { Logger } from '../model/logger.js';

/**
 * Returns a winston logger writing to stderr: "level: message" lines for journald (which adds
 * the time), or one JSON object per line with a timestamp.
 */
export function createLogger(options: { level: string; format: 'text' | 'json' }): Logger {
  const format =
    options.format === 'json'
      ? winston.format.combine(winston.format.timestamp(), winston.format.json())
      : winston.format.printf(({ level, message }) => `${level}: ${String(message)}`);
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
