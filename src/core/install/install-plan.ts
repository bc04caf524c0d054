// Pure planning of `oci-gpu install` and `oci-gpu uninstall`: from what should be placed, what is
// there now and what the last install recorded, to the steps that make the host right.
import path from 'node:path/posix';
import { OciGpuError, ParseError } from '../../errors.js';
import type { DockerRecord, HostFacts, InstallAction, InstallOptions, InstallPlan, InstallRecord, PathState, Placement, RecordedPath } from '../../model/install.js';
import { expect, isObject } from '../check.js';
import { addDockerRuntime, removeDockerRuntime } from './docker-daemon.js';
import { DOCKER_RUNTIME_NAME, dockerRuntimeEntry, INSTALL_PATHS, installedArgs, UNIT_NAME, underPrefix } from './install-layout.js';

/** daemon.json as install found it (only read with --docker or when the last install used it). */
export interface DockerState {
  /** Its text, or null when it does not exist. */
  text: string | null;
  mode: number;
  /** sha256 of `text` (for the backup's record). */
  sha256: string | null;
  /** <daemon.json>.oci-gpu.bak exists already. */
  backupExists: boolean;
}

/** Everything planInstall needs, all of it data. */
export interface InstallInput {
  options: InstallOptions;
  version: string;
  placements: Placement[];
  /** What is at every placement path, every folder above one, and every path of the previous record. */
  state: (p: string) => PathState;
  previous: InstallRecord | null;
  facts: HostFacts;
  docker: DockerState | null;
}

/** The backup install makes of daemon.json before its first edit. */
export function dockerBackupPath(file: string): string {
  return `${file}.oci-gpu.bak`;
}

/**
 * Plans an install: folders to create, files and links to write (the config only when absent),
 * files of the last install that are no longer wanted, the daemon.json entry, the record, and the
 * commands (tmpfiles, udev, systemd) for a real install. Nothing to do = only `keep` steps.
 * Throws OciGpuError when a target is a folder, or the .deb owns the installation.
 */
export function planInstall(input: InstallInput): InstallPlan {
  const { options, placements, state, previous, facts } = input;
  const real = options.prefix === '/';
  if (real && facts.debInstalled) {
    throw new OciGpuError('oci-gpu install: oci-gpu is installed from its Debian package: remove it first (dpkg -r oci-gpu) or use the package only');
  }
  const actions: InstallAction[] = [];
  const notes: string[] = [];
  const files: RecordedPath[] = [];
  const created = new Set<string>();
  const changedPaths = new Set<string>();
  const previousFiles = new Map((previous?.files ?? []).map((f) => [f.path, f]));

  const ensureDirs = (file: string) => {
    const missing: string[] = [];
    for (let dir = path.dirname(file); dir !== options.prefix && dir !== '/' && dir !== '.'; dir = path.dirname(dir)) {
      if (created.has(dir)) break;
      const s = state(dir);
      if (s.type === 'dir') break;
      if (s.type !== 'absent') throw new OciGpuError(`oci-gpu install: "${dir}" is in the way: it should be a folder`);
      missing.unshift(dir);
    }
    for (const dir of missing) {
      created.add(dir);
      actions.push({ op: 'mkdir', path: dir });
    }
  };

  for (const p of placements) {
    ensureDirs(p.path);
    const now = state(p.path);
    const before = previousFiles.get(p.path);
    const replaceWhy = before ? 'changed' : 'replaces another file';
    if (now.type === 'dir') throw new OciGpuError(`oci-gpu install: "${p.path}" is a folder: remove it or choose another --prefix`);
    if (p.kind === 'symlink') {
      if (now.type === 'symlink' && now.target === p.target) actions.push({ op: 'keep', path: p.path, why: 'unchanged' });
      else {
        actions.push({ op: 'link', path: p.path, target: p.target, why: now.type === 'absent' ? 'new' : replaceWhy });
        changedPaths.add(p.path);
      }
      files.push({ path: p.path, type: 'symlink', target: p.target });
      continue;
    }
    if (p.preserve && now.type !== 'absent') {
      // Never overwrite the configuration; it stays ours (removable) only if we wrote it and it is unchanged.
      const ours = before?.type === 'file' && now.type === 'file' && now.sha256 === before.sha256;
      actions.push({ op: 'keep', path: p.path, why: ours || (now.type === 'file' && now.sha256 === p.sha256) ? 'unchanged' : 'exists: never overwritten' });
      if (before) files.push(before);
      continue;
    }
    if (now.type === 'file' && now.sha256 === p.sha256) {
      if ((now.mode & 0o7777) === p.mode) actions.push({ op: 'keep', path: p.path, why: 'unchanged' });
      else {
        actions.push({ op: 'chmod', path: p.path, mode: p.mode });
        changedPaths.add(p.path);
      }
    } else {
      actions.push({ op: 'write', path: p.path, mode: p.mode, source: p.source, why: now.type === 'absent' ? 'new' : replaceWhy });
      changedPaths.add(p.path);
    }
    files.push({ path: p.path, type: 'file', sha256: p.sha256 });
  }

  // Files the last install placed that this one does not want (--nvidia-env dropped, a renamed file).
  const wanted = new Set(placements.map((p) => p.path));
  for (const old of previous?.files ?? []) {
    if (wanted.has(old.path) || old.path === previous?.docker?.backup) continue;
    const step = removeRecorded(old, state(old.path), 'not asked for this time');
    actions.push(step);
    if (step.op === 'remove') changedPaths.add(old.path);
  }

  // Docker's daemon.json.
  let docker: DockerRecord | null = null;
  const backupFiles: RecordedPath[] = [];
  if (options.docker) {
    const d = input.docker ?? { text: null, mode: 0o644, sha256: null, backupExists: false };
    const file = underPrefix(options.prefix, INSTALL_PATHS.dockerConfig);
    const entry = dockerRuntimeEntry(options);
    const sameFile = previous?.docker?.file === file ? previous.docker : null;
    const merged = addDockerRuntime(d.text, file, DOCKER_RUNTIME_NAME, entry);
    let backup = sameFile?.backup ?? null;
    if (merged.changed) {
      ensureDirs(file);
      if (d.text !== null && backup === null && !d.backupExists) {
        backup = dockerBackupPath(file);
        actions.push({ op: 'copy', from: file, path: backup, why: 'the original, before our first edit' });
        backupFiles.push({ path: backup, type: 'file', sha256: d.sha256 ?? '' });
      }
      actions.push({ op: 'write', path: file, mode: d.mode & 0o7777, source: { text: merged.text }, why: d.text === null ? 'new' : 'changed' });
      changedPaths.add(file);
      notes.push(`Docker: reload it to see runtime "${DOCKER_RUNTIME_NAME}" (systemctl reload docker, or kill -HUP the dockerd pid), then: docker run --runtime ${DOCKER_RUNTIME_NAME} -e NVIDIA_VISIBLE_DEVICES=0 IMAGE nvidia-smi`);
    } else actions.push({ op: 'keep', path: file, why: 'unchanged' });
    if (backup && sameFile?.backup) {
      const kept = previous?.files.find((f) => f.path === backup);
      if (kept) backupFiles.push(kept);
    }
    docker = { file, runtime: DOCKER_RUNTIME_NAME, entry, createdFile: sameFile?.createdFile ?? d.text === null, backup };
  } else if (previous?.docker) {
    const steps = planDockerRemoval(previous, input.docker, state, 'not asked for this time');
    for (const s of steps) if ((s.op === 'write' || s.op === 'remove') && s.path) changedPaths.add(s.path);
    actions.push(...steps);
  }

  // The record: every path placed, and every folder created (now or by an earlier install).
  const recordPath = underPrefix(options.prefix, INSTALL_PATHS.record);
  const dirsBefore = (previous?.dirs ?? []).filter((d) => state(d).type === 'dir' || created.has(d));
  const recordDirsToCreate = () => ensureDirs(recordPath);
  const record: InstallRecord = {
    schema: 'oci-gpu/installed/v1',
    version: input.version,
    prefix: options.prefix,
    options: { nvidiaEnv: options.nvidiaEnv, docker: options.docker, manifest: options.manifest },
    files: [...files, ...backupFiles],
    dirs: [],
    docker,
  };
  recordDirsToCreate();
  record.dirs = [...new Set([...dirsBefore, ...created])].sort((a, b) => depth(a) - depth(b) || a.localeCompare(b));
  if (!previous || canonical(previous) !== canonical(record) || state(recordPath).type !== 'file') {
    actions.push({ op: 'record', path: recordPath, record });
  }

  // Commands: only for a real install, and only what the changes call for.
  const changed = actions.some((a) => a.op !== 'keep' && a.op !== 'leave' && a.op !== 'record');
  const at = (p: string) => underPrefix(options.prefix, p);
  if (real) {
    if (facts.systemdTmpfiles && changedPaths.has(at(INSTALL_PATHS.tmpfiles))) {
      actions.push({ op: 'run', argv: [facts.systemdTmpfiles, '--create', INSTALL_PATHS.tmpfiles], why: 'create /run/oci-gpu now' });
    }
    if (facts.udevadm && changedPaths.has(at(INSTALL_PATHS.udevRules))) {
      actions.push({ op: 'run', argv: [facts.udevadm, 'control', '--reload-rules'], why: 'load the new udev rules' });
    }
  }
  const cli = at(INSTALL_PATHS.cli);
  const watchCommand = [cli, 'watch', ...installedArgs(options)].join(' ');
  if (real && facts.systemd && facts.systemctl) {
    if (changed) actions.push({ op: 'run', argv: [facts.systemctl, 'daemon-reload'], why: 'see the new unit' });
    if (!facts.unitEnabled || !facts.unitActive) actions.push({ op: 'run', argv: [facts.systemctl, 'enable', '--now', UNIT_NAME], why: 'start the watcher now and at boot' });
    else if (changed) actions.push({ op: 'run', argv: [facts.systemctl, 'try-restart', UNIT_NAME], why: 'run the new version' });
  } else if (real) {
    notes.push(`systemd is not running here (PID 1 is not systemd): start the watcher with your init system (it runs \`${watchCommand}\`), or for now: nohup ${watchCommand} >/var/log/oci-gpu-watch.log 2>&1 &`);
  } else {
    notes.push(`--prefix: nothing was started; try the watcher with: ${watchCommand}`);
  }
  return { actions, notes };
}

/**
 * Plans an uninstall from the record: stop the watcher (systemd), remove every recorded file and
 * link still as install left it (others are left in place and named), our daemon.json entry, the
 * record, then the folders install created (those left empty).
 */
export function planUninstall(input: { record: InstallRecord; recordPath: string; state: (p: string) => PathState; facts: HostFacts; docker: DockerState | null }): InstallPlan {
  const { record, state, facts } = input;
  const real = record.prefix === '/';
  const actions: InstallAction[] = [];
  const notes: string[] = [];
  const systemd = real && facts.systemd && facts.systemctl;
  if (systemd && (facts.unitEnabled || facts.unitActive)) {
    actions.push({ op: 'run', argv: [facts.systemctl!, 'disable', '--now', UNIT_NAME], why: 'stop the watcher' });
  }
  if (record.docker) actions.push(...planDockerRemoval(record, input.docker, state, 'installed'));
  for (const f of [...record.files].reverse()) {
    if (f.path === record.docker?.backup) continue;
    actions.push(removeRecorded(f, state(f.path), 'installed'));
  }
  actions.push({ op: 'record', path: input.recordPath, record: null });
  for (const dir of [...record.dirs].reverse()) actions.push({ op: 'rmdir', path: dir });
  if (systemd) actions.push({ op: 'run', argv: [facts.systemctl!, 'daemon-reload'], why: 'forget the unit' });
  else if (real) notes.push('systemd is not running here: stop any `oci-gpu watch` you started yourself');
  if (real) notes.push('left as they are: what the watcher wrote (the manifest under /run/oci-gpu, the CDI spec /var/run/cdi/oci-gpu.json); they go at reboot, or remove them now');
  return { actions, notes };
}

// Our daemon.json entry out, the file itself when we created it and nothing else is left, the backup when unchanged.
function planDockerRemoval(record: InstallRecord, docker: DockerState | null, state: (p: string) => PathState, why: string): InstallAction[] {
  const d = record.docker!;
  const out: InstallAction[] = [];
  if (!docker || docker.text === null) out.push({ op: 'keep', path: d.file, why: 'already gone' });
  else {
    const r = removeDockerRuntime(docker.text, d.file, d.runtime, d.entry, d.createdFile);
    if (r.outcome === 'absent') out.push({ op: 'keep', path: d.file, why: `runtime "${d.runtime}" already gone` });
    else if (r.outcome === 'changed') out.push({ op: 'leave', path: d.file, why: `runtime "${d.runtime}" was edited since install: left in place` });
    else if (r.text === null) out.push({ op: 'remove', path: d.file, why: `held only runtime "${d.runtime}"` });
    else out.push({ op: 'write', path: d.file, mode: docker.mode & 0o7777, source: { text: r.text }, why: 'changed' });
  }
  const backup = d.backup ? record.files.find((f) => f.path === d.backup) : undefined;
  if (backup) out.push(removeRecorded(backup, state(backup.path), why === 'installed' ? 'backup made by install' : why));
  return out;
}

function removeRecorded(f: RecordedPath, now: PathState, why: string): InstallAction {
  if (now.type === 'absent') return { op: 'keep', path: f.path, why: 'already gone' };
  const same = f.type === 'file' ? now.type === 'file' && now.sha256 === f.sha256 : now.type === 'symlink' && now.target === f.target;
  if (same) return { op: 'remove', path: f.path, why };
  return { op: 'leave', path: f.path, why: 'changed since install: left in place' };
}

// Key order must not make two equal records differ.
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (isObject(v) ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]])) : v));
}

function depth(p: string): number {
  return p.split('/').length;
}

/** Parses installed.json; throws ParseError naming `file` with every problem. */
export function parseInstallRecord(text: string, file: string): InstallRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ParseError(`install record "${file}"`, [(error as Error).message], { cause: error });
  }
  if (!isObject(value)) throw new ParseError(`install record "${file}"`, ['must be an object']);
  const problems: string[] = [];
  if (value.schema !== 'oci-gpu/installed/v1') problems.push('schema: must be "oci-gpu/installed/v1"');
  problems.push(...expect(value.prefix, 'string', 'prefix'), ...expect(value.dirs, 'array', 'dirs'), ...expect(value.files, 'array', 'files'));
  if (Array.isArray(value.files)) {
    value.files.forEach((f, i) => {
      if (!isObject(f) || typeof f.path !== 'string' || !f.path.startsWith('/')) problems.push(`files[${i}].path: must be an absolute path`);
      else if (f.type === 'file' ? typeof f.sha256 !== 'string' : f.type === 'symlink' ? typeof f.target !== 'string' : true) problems.push(`files[${i}]: must be a file with sha256 or a symlink with target`);
    });
  }
  if (Array.isArray(value.dirs) && value.dirs.some((d) => typeof d !== 'string' || !d.startsWith('/'))) problems.push('dirs: must hold absolute paths');
  if (value.docker !== null && value.docker !== undefined) {
    const d = value.docker;
    if (!isObject(d) || typeof d.file !== 'string' || typeof d.runtime !== 'string' || !isObject(d.entry)) problems.push('docker: must have file, runtime and entry');
  }
  if (problems.length) throw new ParseError(`install record "${file}"`, problems);
  return { docker: null, options: { nvidiaEnv: false, docker: false, manifest: null }, ...(value as object) } as InstallRecord;
}
