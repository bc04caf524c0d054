import fs from 'node:fs';
import path from 'node:path';
import { readFileIfExists } from '../adapters/atomic-write.js';
import { applyPlan, describeAction, pathInspector, readHostFacts, sha256Text } from '../adapters/install-fs.js';
import { readSources, releaseVersion } from '../adapters/install-sources.js';
import { dockerBackupPath, parseInstallRecord, planInstall, planUninstall, type DockerState } from '../core/install/install-plan.js';
import { INSTALL_PATHS, layoutInstall, underPrefix } from '../core/install/install-layout.js';
import { OciGpuError, UsageError } from '../errors.js';
import type { InstallOptions, InstallPlan, InstallRecord } from '../model/install.js';
import { parseFlags } from './args.js';
import type { Io } from './io.js';

export const INSTALL_HELP = `Usage: oci-gpu install [--prefix DIR] [--dry-run] [--nvidia-env] [--docker] [--manifest FILE]

Installs this binary and what it carries: /usr/bin/oci-gpu with the links that make it the hook
(/usr/libexec/oci-gpu/oci-gpu-hook) and the runtime wrapper (/usr/bin/oci-gpu-runtime), the
hooks.d entries (/usr/share/containers/oci/hooks.d), the systemd unit oci-gpu-watch.service, the tmpfiles.d entry,
the udev rules and the default config /etc/oci-gpu/config.json5 (written only when absent, never
overwritten). Then, when systemd is PID 1: daemon-reload and enable --now oci-gpu-watch; otherwise
it prints what to run. Records every file it placed in /var/lib/oci-gpu/installed.json for
\`oci-gpu uninstall\`. Running it again changes only what differs; it makes the host match the
flags given (a later install without --docker removes the Docker entry).

  --prefix DIR     install under DIR instead of / (an existing folder; files name each other
                   under DIR; no service is started). Without root, DIR must be writable.
  --dry-run        print every step and change nothing (no root needed)
  --nvidia-env     also install hooks.d/oci-gpu-nvidia-env.json: the hook runs for every
                   container, so images that only set NVIDIA_VISIBLE_DEVICES get their GPUs
  --docker         register oci-gpu-runtime as runtime "oci-gpu" in /etc/docker/daemon.json
                   (other keys kept; the original is backed up once to daemon.json.oci-gpu.bak)
  --manifest FILE  a manifest other than the configured one, for the hook, wrapper and watcher
  --debug          stack traces on errors
Must run as root, except with --dry-run or a writable --prefix.
`;

export const UNINSTALL_HELP = `Usage: oci-gpu uninstall [--prefix DIR] [--dry-run]

Removes exactly what \`oci-gpu install\` placed, as listed in /var/lib/oci-gpu/installed.json:
stops and disables the watcher (systemd), removes each file and link that is still as install left
it (a file changed since, like an edited config, is left in place and named), our runtime entry
in /etc/docker/daemon.json, and the folders install created when they are empty.

  --prefix DIR     the --prefix given to install
  --dry-run        print every step and change nothing
  --debug          stack traces on errors
Must run as root, except with --dry-run or a writable --prefix.
`;

const SHARED = {
  help: { type: 'boolean', short: 'h' },
  debug: { type: 'boolean' },
  prefix: { type: 'string' },
  'dry-run': { type: 'boolean' },
} as const;

/** `oci-gpu install`. */
export async function runInstall(argv: string[], io: Io): Promise<number> {
  const { values } = parseFlags('oci-gpu install', argv, {
    ...SHARED,
    'nvidia-env': { type: 'boolean' },
    docker: { type: 'boolean' },
    manifest: { type: 'string' },
  });
  if (values.help) return io.out(INSTALL_HELP), 0;
  const dryRun = !!values['dry-run'];
  const prefix = resolvePrefix('oci-gpu install', values.prefix);
  checkPrivileges('oci-gpu install', prefix, dryRun);
  if (values.manifest !== undefined && !values.manifest.startsWith('/')) {
    throw new UsageError(`oci-gpu install: --manifest "${values.manifest}" must be an absolute path`);
  }
  const options: InstallOptions = { prefix, nvidiaEnv: !!values['nvidia-env'], docker: !!values.docker, manifest: values.manifest ?? null };
  const placements = layoutInstall(readSources('oci-gpu install'), options, sha256Text);
  const recordPath = underPrefix(prefix, INSTALL_PATHS.record);
  const previous = readRecord(recordPath);
  const state = pathInspector();
  const plan = planInstall({
    options,
    version: releaseVersion(),
    placements,
    state,
    previous,
    facts: await readHostFacts(prefix),
    docker: options.docker || previous?.docker ? readDockerState(previous?.docker?.file ?? underPrefix(prefix, INSTALL_PATHS.dockerConfig)) : null,
  });
  return report('install', plan, dryRun, io);
}

/** `oci-gpu uninstall`. */
export async function runUninstall(argv: string[], io: Io): Promise<number> {
  const { values } = parseFlags('oci-gpu uninstall', argv, SHARED);
  if (values.help) return io.out(UNINSTALL_HELP), 0;
  const dryRun = !!values['dry-run'];
  const prefix = resolvePrefix('oci-gpu uninstall', values.prefix);
  checkPrivileges('oci-gpu uninstall', prefix, dryRun);
  const recordPath = underPrefix(prefix, INSTALL_PATHS.record);
  const record = readRecord(recordPath);
  if (!record) {
    io.out(`nothing to uninstall: no install record at ${recordPath}${fs.existsSync(underPrefix(prefix, '/var/lib/dpkg/info/oci-gpu.list')) ? ' (oci-gpu is installed from its Debian package: dpkg -r oci-gpu)' : ''}\n`);
    return 0;
  }
  const plan = planUninstall({
    record,
    recordPath,
    state: pathInspector(),
    facts: await readHostFacts(prefix),
    docker: record.docker ? readDockerState(record.docker.file) : null,
  });
  return report('uninstall', plan, dryRun, io);
}

async function report(command: 'install' | 'uninstall', plan: InstallPlan, dryRun: boolean, io: Io): Promise<number> {
  const changes = plan.actions.filter((a) => a.op !== 'keep' && a.op !== 'leave');
  let failed = 0;
  if (dryRun) {
    for (const a of plan.actions) io.out(describeAction(a, true) + '\n');
  } else {
    // Unchanged files are not worth a line each; files kept or left for a reason are.
    const worthSaying = plan.actions.filter((a) => !(a.op === 'keep' && a.why === 'unchanged'));
    const say = (line: string) => io.out(line + '\n');
    if (changes.length) failed = await applyPlan(worthSaying, say);
    else for (const a of worthSaying) say(describeAction(a, false));
  }
  const unchanged = plan.actions.filter((a) => a.op === 'keep' && a.why === 'unchanged').length;
  if (!changes.length) io.out(`${command}: nothing to change${command === 'install' ? ` (${unchanged} files already in place)` : ''}\n`);
  else io.out(`${command}: ${dryRun ? 'dry run, nothing changed' : `${changes.length} change${changes.length === 1 ? '' : 's'}`}${failed ? `, ${failed} command${failed === 1 ? '' : 's'} failed` : ''}\n`);
  for (const note of plan.notes) io.out(`note: ${note}\n`);
  return failed ? 1 : 0;
}

function resolvePrefix(command: string, value: string | undefined): string {
  if (value === undefined || value === '/') return '/';
  const prefix = path.resolve(value);
  let st: fs.Stats;
  try {
    st = fs.statSync(prefix);
  } catch {
    throw new UsageError(`${command}: --prefix "${prefix}" does not exist: create it first`);
  }
  if (!st.isDirectory()) throw new UsageError(`${command}: --prefix "${prefix}" is not a folder`);
  return prefix === '/' ? '/' : prefix;
}

// Root, or a dry run, or a --prefix this user can write to (tests).
function checkPrivileges(command: string, prefix: string, dryRun: boolean): void {
  if (dryRun || process.getuid?.() === 0) return;
  if (prefix !== '/') {
    try {
      fs.accessSync(prefix, fs.constants.W_OK);
      return;
    } catch {
      throw new OciGpuError(`${command}: --prefix "${prefix}" is not writable by this user: run as root or choose a writable folder`);
    }
  }
  throw new OciGpuError(`${command}: must run as root (or use --dry-run, or --prefix DIR with a writable DIR)`);
}

function readRecord(file: string): InstallRecord | null {
  const text = readFileIfExists(file);
  return text === null ? null : parseInstallRecord(text, file);
}

function readDockerState(file: string): DockerState {
  const text = readFileIfExists(file);
  let mode = 0o644;
  if (text !== null) mode = fs.statSync(file).mode & 0o7777;
  return { text, mode, sha256: text === null ? null : sha256Text(text), backupExists: fs.existsSync(dockerBackupPath(file)) };
}
