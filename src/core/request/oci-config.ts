import { ParseError } from '../../errors.js';
import type { OciConfig } from '../../model/oci.js';
import { expect, expectArray, expectStrings, isObject, type Problems } from '../check.js';

const HOOK_STAGES = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'];

// JSON null is what Go writes for an empty slice or map: the same as absent.
const present = (v: unknown): boolean => v !== undefined && v !== null;
const when = (v: unknown, check: (v: unknown) => Problems): Problems => (present(v) ? check(v) : []);

/**
 * Returns the problems (dot-path lines) of the parts of an OCI config.json that oci-gpu reads or
 * edits: annotations, process.env, root.path, mounts, linux.devices, linux.namespaces,
 * linux.resources.devices and hooks. Every other field is the runtime's to judge and is not looked at.
 */
export function checkOciConfig(value: unknown): Problems {
  if (!isObject(value)) return ['must be a JSON object'];
  const c = value;
  return [
    ...when(c.annotations, checkAnnotations),
    ...when(c.process, (p) => (isObject(p) ? when(p.env, (e) => expectStrings(e, 'process.env')) : ['process: must be an object'])),
    ...when(c.root, (r) => (isObject(r) ? when(r.path, (p) => expect(p, 'string', 'root.path')) : ['root: must be an object'])),
    ...when(c.mounts, (m) => expectArray(m, 'mounts', (x, at) => (isObject(x) ? expect(x.destination, 'string', `${at}.destination`) : [`${at}: must be an object`]))),
    ...when(c.linux, (l) =>
      isObject(l)
        ? [
            ...when(l.devices, (d) => expectArray(d, 'linux.devices', (x, at) => (isObject(x) ? expect(x.path, 'string', `${at}.path`) : [`${at}: must be an object`]))),
            ...when(l.namespaces, (n) => expectArray(n, 'linux.namespaces', (x, at) => (isObject(x) ? expect(x.type, 'string', `${at}.type`) : [`${at}: must be an object`]))),
            ...when(l.resources, (r) =>
              isObject(r) ? when(r.devices, (d) => expectArray(d, 'linux.resources.devices', checkRule)) : ['linux.resources: must be an object'],
            ),
          ]
        : ['linux: must be an object'],
    ),
    ...when(c.hooks, (h) =>
      isObject(h)
        ? HOOK_STAGES.flatMap((s) => when(h[s], (list) => expectArray(list, `hooks.${s}`, (x, at) => (isObject(x) ? [] : [`${at}: must be an object`]))))
        : ['hooks: must be an object'],
    ),
  ];
}

function checkAnnotations(a: unknown): Problems {
  return isObject(a) ? Object.entries(a).flatMap(([k, v]) => expect(v, 'string', `annotations[${JSON.stringify(k)}]`)) : ['annotations: must be an object'];
}

function checkRule(r: unknown, at: string): Problems {
  if (!isObject(r)) return [`${at}: must be an object`];
  return [
    ...expect(r.allow, 'boolean', `${at}.allow`),
    ...when(r.type, (v) => expect(v, 'string', `${at}.type`)),
    ...when(r.access, (v) => expect(v, 'string', `${at}.access`)),
    ...when(r.major, (v) => expect(v, 'integer', `${at}.major`)),
    ...when(r.minor, (v) => expect(v, 'integer', `${at}.minor`)),
  ];
}

/**
 * Returns the annotations and process.env of a config (what decides whether it asks for a GPU),
 * absent ones as empty; throws ParseError naming `what` when either has the wrong shape. The rest
 * is not looked at, so a container that asks for nothing passes whatever else its config holds.
 */
export function requestInputs(value: unknown, what: string): { annotations: Record<string, string>; env: string[] } {
  if (!isObject(value)) throw new ParseError(what, ['must be a JSON object']);
  const process = isObject(value.process) ? value.process : {};
  const problems = [
    ...when(value.annotations, checkAnnotations),
    ...when(process.env, (e) => expectStrings(e, 'process.env')),
  ];
  if (problems.length) throw new ParseError(what, problems);
  return { annotations: (value.annotations ?? {}) as Record<string, string>, env: (process.env ?? []) as string[] };
}

/** Returns `value` as an OciConfig when checkOciConfig finds nothing; throws ParseError naming `what` otherwise. */
export function asOciConfig(value: unknown, what: string): OciConfig {
  const problems = checkOciConfig(value);
  if (problems.length) throw new ParseError(what, problems);
  return value as OciConfig;
}
