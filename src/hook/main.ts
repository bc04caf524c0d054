import fs from 'node:fs';
import path from 'node:path';
import { loadConfig, refusalPlaces } from '../adapters/config-file.js';
import { refuseLinkedDeviceFolders } from '../adapters/rootfs.js';
import { isObject } from '../core/check.js';
import { asOciConfig, requestInputs } from '../core/request/oci-config.js';
import { editConfigForRequest } from '../core/plan/plan-config.js';
import { parseRequest } from '../core/request/request.js';
import { errorLine, exitCodeOf, ParseError, reasonOf, UsageError } from '../errors.js';
import type { Config } from '../model/config.js';
import type { OciState } from '../model/oci.js';
import { readManifestForStart } from '../adapters/manifest-file.js';
import type { RefusalRecord } from '../adapters/refusal-log.js';

export const HOOK_HELP = `Usage: oci-gpu-hook <stage> [--manifest FILE] [--config FILE] [--debug]

Injects the GPUs a container asks for (annotation oci-gpu/devices, CDI names in cdi.k8s.io/*
annotations, or NVIDIA_VISIBLE_DEVICES) from the manifest oci-gpu-watch keeps; it never
rediscovers the driver.

Stages:
  precreate      Podman hooks.d: the proposed config.json on stdin, the edited config on stdout
                 (device nodes + cgroup allow rules, read-only driver mounts, ld cache step).
                 A container that asks for nothing gets its config back byte for byte.
  createRuntime  legacy, any OCI runtime: the state on stdin; mounts the driver files in the
  prestart       container's mount namespace. Works on cgroup v1 only, unless the config already
                 allows the devices: on cgroup v2 use precreate, oci-gpu-runtime or CDI.

A refused start prints one line on stderr and exits non-zero (2: bad command line; 3: the manifest
is missing or not of the loaded driver; 1: anything else). Podman does not show a precreate hook's
stderr, so the same line goes to syslog (\`journalctl -t oci-gpu-hook\`) and to the refusal log
beside the manifest, which \`oci-gpu status\` and \`oci-gpu doctor\` print.

Options:
  --manifest FILE  the manifest (default /run/oci-gpu/manifest.json, or as configured)
  --config FILE    configuration (default /etc/oci-gpu/config.json5)
  --debug          stack traces on errors
`;

/** What the hook reads and writes: injected so tests can run it in-process. */
export interface HookIo {
  readStdin(): Buffer;
  out(data: string | Buffer): void;
  err(text: string): void;
  /** Keeps a refusal where users find it (syslog, the refusal log); in-process tests leave it out. */
  record?(refusal: RefusalRecord): Promise<void>;
}

const processHookIo: HookIo = {
  readStdin: () => readAll(0),
  out: (d) => writeAll(1, d),
  err: (t) => writeAll(2, t),
  // Loaded only when a start is refused: a start that succeeds never pays for it.
  record: async (r) => (await import('../adapters/refusal-log.js')).recordRefusal(r),
};

// stdin may be a non-blocking pipe (a module that set it so, or the runtime's own) and the writer
// may be slow: read until EOF, waiting out EAGAIN instead of failing.
function readAll(fd: number): Buffer {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(65536);
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    let n: number;
    try {
      n = fs.readSync(fd, buf, 0, buf.length, null);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
      Atomics.wait(pause, 0, 0, 2);
      continue;
    }
    if (n === 0) return Buffer.concat(chunks);
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
}

// A config can exceed a pipe's buffer: keep writing until all of it is out (EAGAIN on a non-blocking pipe included).
function writeAll(fd: number, data: string | Buffer): void {
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  for (let off = 0; off < buf.length; ) {
    try {
      off += fs.writeSync(fd, buf, off);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
    }
  }
}

/** Runs one hook stage; returns the exit status. Errors become one line on stderr. */
export async function hookMain(argv: string[], io: HookIo = processHookIo): Promise<number> {
  const debug = argv.includes('--debug');
  let flags: HookFlags = {};
  let config: Config | undefined;
  let input: Buffer | undefined;
  try {
    const parsed = parseHookArgs(argv);
    flags = parsed.flags;
    if (parsed.stage === 'help') return io.out(HOOK_HELP), 0;
    // The configuration before stdin: a broken one fails without consuming the runtime's input
    // (its refusal then names no container: it refuses every one).
    config = loadConfig({ config: flags.config, manifest: flags.manifest });
    input = io.readStdin();
    switch (parsed.stage) {
      case 'precreate':
        io.out(await precreate(input, config));
        return 0;
      case 'createRuntime':
      case 'prestart': {
        const { legacyInject } = await import('./legacy.js');
        await legacyInject(parseState(input), config);
        return 0;
      }
    }
  } catch (error) {
    io.err(errorLine('oci-gpu-hook', error, debug));
    await io.record?.({
      program: 'oci-gpu-hook',
      reason: reasonOf('oci-gpu-hook', error),
      container: null,
      input,
      ...refusalPlaces(config, flags.manifest),
    });
    return exitCodeOf(error);
  }
}

interface HookFlags {
  manifest?: string;
  config?: string;
}

// Hand-rolled: the hook's argv is small and fixed, and every millisecond of start counts.
function parseHookArgs(argv: string[]): { stage: 'help' | 'precreate' | 'createRuntime' | 'prestart'; flags: HookFlags } {
  const flags: HookFlags = {};
  let stage: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [name, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new UsageError(`oci-gpu-hook: ${name} needs a value (see \`oci-gpu-hook --help\`)`);
      return v;
    };
    if (name === '--help' || name === '-h') return { stage: 'help', flags };
    else if (name === '--debug') continue;
    else if (name === '--manifest') flags.manifest = value();
    else if (name === '--config') flags.config = value();
    else if (name.startsWith('-')) throw new UsageError(`oci-gpu-hook: unknown option "${name}" (see \`oci-gpu-hook --help\`)`);
    else if (stage === undefined) stage = name;
    else throw new UsageError(`oci-gpu-hook: unexpected argument "${name}"`);
  }
  if (stage === undefined) throw new UsageError('oci-gpu-hook: missing stage: precreate, createRuntime or prestart (see `oci-gpu-hook --help`)');
  if (!['precreate', 'createRuntime', 'prestart'].includes(stage)) {
    throw new UsageError(`oci-gpu-hook: unknown stage "${stage}": precreate, createRuntime or prestart`);
  }
  return { stage: stage as 'precreate', flags };
}

/**
 * The precreate stage: returns the edited config text, or the input bytes unchanged when the
 * container asks for no GPU.
 */
export async function precreate(input: Buffer, config: Config): Promise<Buffer | string> {
  const value = parseJson(input, STDIN_CONFIG);
  if (!isObject(value) || typeof value.ociVersion !== 'string') throw new ParseError(STDIN_CONFIG, ['ociVersion: must be a string']);
  const { annotations, env } = requestInputs(value, STDIN_CONFIG);
  const request = parseRequest(annotations, env, config.cdi.kind);
  if (!request) return input;
  // Only a config we are about to edit must have the shape we edit.
  const oci = asOciConfig(value, STDIN_CONFIG);
  const rootfs = oci.root?.path;
  if (!rootfs || !path.isAbsolute(rootfs)) {
    throw new ParseError(STDIN_CONFIG, [`root.path: must be an absolute path in precreate (got ${JSON.stringify(rootfs ?? null)})`]);
  }
  const manifest = await readManifestForStart(config);
  const edited = editConfigForRequest(oci, manifest, request, config.container, rootfs);
  refuseLinkedDeviceFolders(rootfs, (edited.linux?.devices ?? []).map((d) => d.path));
  return JSON.stringify(edited);
}

const STDIN_CONFIG = 'the config.json on stdin';

/** Parses the runtime state on stdin; throws ParseError when it lacks a pid or bundle, or its annotations are not strings. */
export function parseState(input: Buffer): OciState {
  const state = parseJson(input, 'the runtime state on stdin');
  const problems: string[] = [];
  if (!isObject(state)) problems.push('must be an object');
  else {
    if (!Number.isInteger(state.pid) || (state.pid as number) <= 0) problems.push('pid: must be a positive integer');
    if (typeof state.bundle !== 'string' || !path.isAbsolute(state.bundle)) problems.push('bundle: must be an absolute path');
    // The legacy stage merges these into the bundle's annotations to find the request.
    if (state.annotations !== undefined && state.annotations !== null) {
      if (!isObject(state.annotations)) problems.push('annotations: must be an object');
      else for (const [k, v] of Object.entries(state.annotations)) if (typeof v !== 'string') problems.push(`annotations[${JSON.stringify(k)}]: must be a string`);
    }
  }
  if (problems.length) throw new ParseError('the runtime state on stdin', problems);
  return state as unknown as OciState;
}

function parseJson(input: Buffer, what: string): unknown {
  try {
    return JSON.parse(input.toString('utf8'));
  } catch (error) {
    throw new ParseError(what, [`not valid JSON (${(error as Error).message})`], { cause: error });
  }
}
