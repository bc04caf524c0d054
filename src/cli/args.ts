import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Parses argv strictly: an unknown flag or a missing value is a UsageError that names it and points at --help. */
export function parseFlags<O extends Options>(command: string, argv: string[], options: O, positionals = false) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: positionals });
  } catch (error) {
    const message = (error as Error).message.split('\n')[0]!.replace(/\.$/, '');
    throw new UsageError(`${command}: ${message.charAt(0).toLowerCase()}${message.slice(1)} (see \`${command} --help\`)`, { cause: error });
  }
}

/** Flags every command but install and uninstall takes. */
export const COMMON_FLAGS = {
  help: { type: 'boolean', short: 'h' },
  debug: { type: 'boolean' },
  config: { type: 'string' },
  manifest: { type: 'string' },
} as const;

/** COMMON_FLAGS and --root DIR, for the commands that read the host (scan, cdi generate, watch, doctor). */
export const HOST_FLAGS = { ...COMMON_FLAGS, root: { type: 'string' } } as const;
