import { ParseError } from '../../errors.js';
import type { HooksDEntry } from '../../model/diagnosis.js';
import { expect, expectStrings, isObject, optional, type Problems } from '../check.js';

const STAGES = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop', 'precreate'];

/**
 * Parses a hooks.d file (oci-hooks 1.0.0) strictly, as containers/common does: version first,
 * then an absolute hook.path, at least one `when` condition and known stages. Throws ParseError
 * with dot-path problems naming `source`.
 */
export function parseHooksDEntry(text: string, source: string): HooksDEntry {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ParseError(`hooks.d file "${source}"`, [`not valid JSON: ${(error as Error).message}`], { cause: error });
  }
  if (!isObject(value)) throw new ParseError(`hooks.d file "${source}"`, ['must be an object']);
  if (value.version !== '1.0.0') throw new ParseError(`hooks.d file "${source}"`, [`version: must be "1.0.0", got ${JSON.stringify(value.version)}`]);
  const problems: Problems = [];
  const hook = value.hook;
  if (!isObject(hook)) problems.push('hook: must be an object');
  else {
    if (typeof hook.path !== 'string' || !hook.path.startsWith('/')) problems.push('hook.path: must be an absolute path');
    problems.push(...optional(hook.args, (v) => expectStrings(v, 'hook.args')), ...optional(hook.env, (v) => expectStrings(v, 'hook.env')));
    problems.push(...optional(hook.timeout, (v) => expect(v, 'integer', 'hook.timeout')));
  }
  const when = value.when;
  if (!isObject(when)) problems.push('when: must be an object');
  else if (when.always !== true && !isObject(when.annotations) && !Array.isArray(when.commands) && when.hasBindMounts !== true) {
    problems.push('when: needs at least one condition (always, annotations, commands, hasBindMounts)');
  }
  if (!Array.isArray(value.stages) || value.stages.length === 0) problems.push('stages: must be a non-empty array');
  else value.stages.forEach((s, i) => STAGES.includes(s as string) || problems.push(`stages[${i}]: unknown stage ${JSON.stringify(s)}`));
  if (problems.length) throw new ParseError(`hooks.d file "${source}"`, problems);
  return value as unknown as HooksDEntry;
}
