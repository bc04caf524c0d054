// Where oci-gpu's files go on a host and what each holds: one layout for `oci-gpu install` and the .deb.
import path from 'node:path/posix';
import { DEFAULT_CONFIG_PATH } from '../config.js';
import { DOCKER_RUNTIME_NAME } from './docker-daemon.js';
import type { DockerRuntime, FileSource, InstallOptions, Placement } from '../../model/install.js';

/**
 * Host paths of everything installed (before any --prefix). One binary: the CLI at `cli`, and two
 * links to it whose names make it the hook and the runtime wrapper. hook.scanCommand's default is `cli`.
 */
export const INSTALL_PATHS = Object.freeze({
  cli: '/usr/bin/oci-gpu',
  hook: '/usr/libexec/oci-gpu/oci-gpu-hook',
  runtimeLink: '/usr/bin/oci-gpu-runtime',
  hooksDir: '/usr/share/containers/oci/hooks.d',
  unit: '/usr/lib/systemd/system/oci-gpu-watch.service',
  tmpfiles: '/usr/lib/tmpfiles.d/oci-gpu.conf',
  udevRules: '/usr/lib/udev/rules.d/71-oci-gpu.rules',
  config: DEFAULT_CONFIG_PATH,
  record: '/var/lib/oci-gpu/installed.json',
  dockerConfig: '/etc/docker/daemon.json',
  /** The .deb only: the opt-in hooks.d entry, to copy into a hooks dir by hand. */
  sharedHooks: '/usr/share/oci-gpu/hooks.d',
});

export const UNIT_NAME = 'oci-gpu-watch.service';
/** hooks.d entries placed on every install; oci-gpu-nvidia-env.json only with --nvidia-env. */
export const DEFAULT_HOOK_FILES = ['oci-gpu.json', 'oci-gpu-cdi.json'];
export const NVIDIA_ENV_HOOK_FILE = 'oci-gpu-nvidia-env.json';

/** The files of a build that install places: read by the CLI, passed here as data. */
export interface InstallSources {
  /** The executable (CLI, hook and runtime wrapper in one) and its sha256. */
  binary: { file: string; sha256: string };
  /** hooks.d/*.json by file name. */
  hooksD: Record<string, string>;
  /** packaging/systemd/oci-gpu-watch.service, packaging/tmpfiles.d/oci-gpu.conf, packaging/udev/71-oci-gpu.rules, packaging/config.json5. */
  unit: string;
  tmpfiles: string;
  udevRules: string;
  config: string;
}

/** `p` under `prefix` ("/" leaves it as it is). */
export function underPrefix(prefix: string, p: string): string {
  return prefix === '/' ? p : path.join(prefix, p);
}

/** Arguments every installed entry point gets so a --prefix tree and a non-default manifest are used consistently. */
export function installedArgs(options: InstallOptions): string[] {
  return [
    ...(options.prefix === '/' ? [] : ['--config', underPrefix(options.prefix, INSTALL_PATHS.config)]),
    ...(options.manifest ? ['--manifest', options.manifest] : []),
  ];
}

/**
 * Everything install places for `options`, in the order it places them (binary before the links
 * and entries that name it). `hash` returns the sha256 of a text. Throws an Error naming the
 * source file that lacks what the layout needs (a hooks.d entry, the unit's ExecStart).
 */
export function layoutInstall(sources: InstallSources, options: InstallOptions, hash: (text: string) => string): Placement[] {
  const at = (p: string) => underPrefix(options.prefix, p);
  const text = (p: string, mode: number, content: string, extra: { preserve?: boolean } = {}): Placement => ({
    kind: 'file',
    path: at(p),
    mode,
    source: { text: content } as FileSource,
    sha256: hash(content),
    ...extra,
  });
  const args = installedArgs(options);
  const hookFiles = [...DEFAULT_HOOK_FILES, ...(options.nvidiaEnv ? [NVIDIA_ENV_HOOK_FILE] : [])];
  return [
    { kind: 'file', path: at(INSTALL_PATHS.cli), mode: 0o755, source: { file: sources.binary.file }, sha256: sources.binary.sha256 },
    // Relative links: right under any prefix; the binary picks its role by the name it was started as.
    { kind: 'symlink', path: at(INSTALL_PATHS.hook), target: relativeLink(INSTALL_PATHS.hook, INSTALL_PATHS.cli) },
    { kind: 'symlink', path: at(INSTALL_PATHS.runtimeLink), target: relativeLink(INSTALL_PATHS.runtimeLink, INSTALL_PATHS.cli) },
    ...hookFiles.map((name) => {
      const source = sources.hooksD[name];
      if (source === undefined) throw new Error(`hooks.d/${name} is missing from the build`);
      return text(path.join(INSTALL_PATHS.hooksDir, name), 0o644, rewriteHooksEntry(source, `hooks.d/${name}`, at(INSTALL_PATHS.hook), args));
    }),
    text(INSTALL_PATHS.unit, 0o644, rewriteUnit(sources.unit, at(INSTALL_PATHS.cli), args)),
    text(INSTALL_PATHS.tmpfiles, 0o644, sources.tmpfiles),
    text(INSTALL_PATHS.udevRules, 0o644, sources.udevRules),
    text(INSTALL_PATHS.config, 0o644, rewriteConfig(sources.config, options.prefix), { preserve: true }),
  ];
}

function relativeLink(link: string, target: string): string {
  return path.relative(path.dirname(link), target);
}

/** The Docker runtime entry for this install: the wrapper's path, and runtimeArgs only when needed. */
export function dockerRuntimeEntry(options: InstallOptions): DockerRuntime {
  const args = installedArgs(options);
  return { path: underPrefix(options.prefix, INSTALL_PATHS.runtimeLink), ...(args.length ? { runtimeArgs: args } : {}) };
}

export { DOCKER_RUNTIME_NAME };

/**
 * A hooks.d entry with hook.path set to where the binary went and `extraArgs` after its own
 * arguments, as two-space JSON. Throws an Error naming `source` when it is not an entry.
 */
export function rewriteHooksEntry(text: string, source: string, hookPath: string, extraArgs: string[]): string {
  let entry: { hook?: { path?: string; args?: string[] } };
  try {
    entry = JSON.parse(text) as typeof entry;
  } catch (error) {
    throw new Error(`${source} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof entry.hook !== 'object' || entry.hook === null) throw new Error(`${source} has no "hook" object`);
  const hook = { ...entry.hook, path: hookPath, ...(extraArgs.length ? { args: [...(entry.hook.args ?? [path.basename(hookPath)]), ...extraArgs] } : {}) };
  return JSON.stringify({ ...entry, hook }, null, 2) + '\n';
}

/**
 * The systemd unit with every ExecStart's program (the oci-gpu CLI) replaced by `cli` and
 * `extraArgs` added after `watch`. Throws an Error when the unit has no ExecStart running `watch`.
 */
export function rewriteUnit(text: string, cli: string, extraArgs: string[]): string {
  let found = false;
  const out = text.replace(/^(ExecStart=[-@:+!]*)(\S+)(\s+watch\b)(.*)$/gm, (_all, head: string, _prog: string, watch: string, rest: string) => {
    found = true;
    return `${head}${cli}${watch}${extraArgs.map((a) => ` ${a}`).join('')}${rest}`;
  });
  if (!found) throw new Error('packaging/systemd/oci-gpu-watch.service has no "ExecStart=... watch" line');
  return out;
}

/**
 * The default config; under a prefix, hook.scanCommand (shown commented out at its default) is set
 * to the prefixed binary, so inline rescans use it. The text is otherwise kept as it is, comments
 * included.
 */
export function rewriteConfig(text: string, prefix: string): string {
  if (prefix === '/') return text;
  let out = text;
  for (const [key, p] of [['scanCommand', INSTALL_PATHS.cli]] as const) {
    const line = new RegExp(`^(\\s*)(?://\\s*)?(${key}:\\s*)(["'])${p.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\3`, 'm');
    out = out.replace(line, (_all, indent: string, head: string, q: string) => `${indent}${head}${q}${underPrefix(prefix, p)}${q}`);
  }
  return out;
}
