// Docker's /etc/docker/daemon.json: our entry under "runtimes", every other key left as it was.
import { ParseError } from '../../errors.js';
import type { DockerRuntime } from '../../model/install.js';
import { isObject } from '../check.js';

/** The runtime name oci-gpu registers: `docker run --runtime oci-gpu`. */
export const DOCKER_RUNTIME_NAME = 'oci-gpu';

/**
 * Parses daemon.json text (empty or blank = `{}`). Throws ParseError naming `file` when it is not
 * one JSON object: Docker reads plain JSON, so comments and trailing commas are errors there too.
 */
export function parseDaemonJson(text: string, file: string): Record<string, unknown> {
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const why = (error as Error).message.split('\n')[0];
    throw new ParseError(`docker config "${file}"`, [`not valid JSON (${why}); daemon.json is plain JSON: no comments, no trailing commas`], { cause: error });
  }
  if (!isObject(value)) throw new ParseError(`docker config "${file}"`, ['must be a JSON object']);
  if ('runtimes' in value && !isObject(value.runtimes)) throw new ParseError(`docker config "${file}"`, ['runtimes: must be an object']);
  return value;
}

/**
 * Returns daemon.json text (`null` = the file does not exist) with runtimes[name] set to `entry`,
 * keeping every other key, their order and the file's indentation; `changed` is false when the
 * entry is already there as given. Throws ParseError like parseDaemonJson.
 */
export function addDockerRuntime(text: string | null, file: string, name: string, entry: DockerRuntime): { text: string; changed: boolean } {
  const config = parseDaemonJson(text ?? '', file);
  const runtimes = (config.runtimes ?? {}) as Record<string, unknown>;
  if (sameEntry(runtimes[name], entry)) return { text: text!, changed: false };
  const next = { ...config, runtimes: { ...runtimes, [name]: entry } };
  return { text: serialize(next, text), changed: true };
}

/**
 * Removes runtimes[name] from daemon.json text when it is still `entry` (what install wrote):
 * `removed` with the new text (`null` when `dropEmptyFile` and nothing else is left), `absent`
 * when there is no such runtime, `changed` (text untouched) when someone edited it since.
 */
export function removeDockerRuntime(
  text: string,
  file: string,
  name: string,
  entry: DockerRuntime,
  dropEmptyFile: boolean,
): { outcome: 'removed' | 'absent' | 'changed'; text: string | null } {
  const config = parseDaemonJson(text, file);
  const runtimes = config.runtimes as Record<string, unknown> | undefined;
  if (!runtimes || !(name in runtimes)) return { outcome: 'absent', text };
  if (!sameEntry(runtimes[name], entry)) return { outcome: 'changed', text };
  const { [name]: _ours, ...others } = runtimes;
  const { runtimes: _all, ...rest } = config;
  const next = Object.keys(others).length ? { ...config, runtimes: others } : rest;
  if (dropEmptyFile && Object.keys(next).length === 0) return { outcome: 'removed', text: null };
  return { outcome: 'removed', text: serialize(next, text) };
}

function sameEntry(have: unknown, want: DockerRuntime): boolean {
  if (!isObject(have)) return false;
  return JSON.stringify(normalize(have)) === JSON.stringify(normalize(want as unknown as Record<string, unknown>));
}

// Key order does not matter to Docker; an empty runtimeArgs is the same as none.
function normalize(entry: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(entry).sort()) {
    if (key === 'runtimeArgs' && Array.isArray(entry[key]) && (entry[key] as unknown[]).length === 0) continue;
    out[key] = entry[key];
  }
  return out;
}

// The original's indentation (a tab or N spaces, from its first indented key), else two spaces.
function serialize(config: Record<string, unknown>, original: string | null): string {
  const m = /^([ \t]+)"/m.exec(original ?? '');
  return JSON.stringify(config, null, m ? m[1] : '  ') + '\n';
}
