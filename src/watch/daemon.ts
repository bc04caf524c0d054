import fs from 'node:fs';
import path from 'node:path';
import { ensureFileMode, writeFileAtomic, readFileIfExists } from '../adapters/atomic-write.js';
import { createFolderWatcher, type FolderWatcher } from '../adapters/file-watcher.js';
import { createHostFs } from '../adapters/host-fs.js';
import { refusalLogFor, rotateRefusals } from '../adapters/refusal-log.js';
import { NO_SERVICE_MANAGER, type ServiceNotifier } from '../adapters/sd-notify.js';
import { findUdevadm, startUdevMonitor, type UdevMonitor } from '../adapters/udev.js';
import { writeManifest } from '../adapters/manifest-file.js';
import { paramsMaskPath, withParamsMask } from '../core/manifest/driver-params.js';
import { buildCdiSpec, buildImexCdiSpec, imexCdiPath } from '../core/plan/cdi-spec.js';
import { parseManifest, sameManifestContent, serializeManifest } from '../core/manifest/manifest-codec.js';
import { scanHost } from '../discover/scan.js';
import { formatError } from '../errors.js';
import type { Config } from '../model/config.js';
import type { DeviceNode } from '../model/edits.js';
import type { Logger } from '../model/logger.js';
import type { Manifest } from '../model/manifest.js';
import { syncCharLinks } from './char-links.js';
import { KeepWarm } from './keep-warm.js';
import { processAlive, statusPathFor, type WatchStatus } from './status.js';

const RETRY_AFTER_ERROR_MS = 1000;
/** Names that can belong to the driver in its folders (libraries, binaries, firmware, JSON, nodes). */
const DRIVER_NAME = /nvidia|cuda|nvcuvid|nvoptix|^gsp.*\.bin$|^card\d+$|^renderD\d+$|^\d+\.\d+/i;
// However steady the events, a rescan comes this long after the first one (at least 2 s, 10 debounces).
const maxWaitMs = (debounceMs: number) => Math.max(2000, 10 * debounceMs);

/**
 * `oci-gpu watch`: keeps the manifest and the CDI spec true. Every event (inotify, udev, the
 * safety timer) only marks the state dirty; after a quiet debounce one full rescan runs (scans are
 * synchronous, so never two at once, and events that arrive meanwhile cause one follow-up). A
 * changed result is written only after `stableScans` equal scans in a row, atomically; a failed
 * scan keeps the last good files.
 */
export class WatchDaemon {
  private config: Config;
  private written: Manifest | null = null;
  private writtenCdi: string | null = null;
  private candidate: Manifest | null = null;
  private candidateCount = 0;
  private debounce: NodeJS.Timeout | undefined;
  private safety: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private watcher: FolderWatcher | null = null;
  private udev: UdevMonitor | null = null;
  private readonly keepWarm: KeepWarm;
  private stopped = false;
  private pendingReason: string | null = null;
  private pendingSince = 0;
  readonly status: WatchStatus;

  private ready = false;
  private sentStatus: string | null = null;
  /** Why the last SIGHUP's configuration was refused; null once one is accepted. */
  private configProblem: string | null = null;

  constructor(
    config: Config,
    private readonly log: Logger,
    /** systemd: READY=1 once the files on disk are known to match the host, STATUS= after every scan, WATCHDOG=1. */
    private readonly notifier: ServiceNotifier = NO_SERVICE_MANAGER,
  ) {
    this.config = config;
    this.keepWarm = new KeepWarm(log);
    this.status = {
      schema: 'oci-gpu.watch-status/v1',
      pid: process.pid,
      startedAt: new Date().toISOString(),
      lastScanAt: null,
      lastWriteAt: null,
      lastError: null,
      lastErrorAt: null,
      scans: 0,
      writes: 0,
      watching: [],
      udev: false,
      holdingOpen: [],
    };
  }

  /**
   * Reads what is on disk, starts the triggers, scans until stable and writes. Ready (`onReady`)
   * once the files match a scan that ran after every watched folder was live.
   */
  start(): void {
    this.removeStaleTemps();
    this.written = this.readExistingManifest();
    this.writtenCdi = readFileIfExists(this.config.cdi.path);
    this.fixModes();
    this.startWatchdog();
    this.log.info(`watching ${this.config.root} for NVIDIA driver changes; manifest ${this.config.manifest}${this.config.cdi.enabled ? `, CDI spec ${this.config.cdi.path}` : ''}`);
    this.watcher = createFolderWatcher({
      filter: (file) => this.relevant(file),
      onEvent: (event, file) => this.trigger(`${event} ${file}`),
      onError: (error) => this.log.warn(`file watcher: ${error.message}`),
      // A change between a scan and its folders going live was missed: look again.
      onReady: () => this.trigger('new folders watched'),
    });
    this.watcher.setFolders(this.folders(this.written));
    this.startUdev();
    this.startSafetyTimer();
    this.scanNow('start');
  }

  /**
   * Marks the state dirty; a rescan follows after the debounce, or after the maximum wait when
   * events never pause that long (a file rewritten every 100 ms must not starve rescans forever).
   */
  trigger(reason: string): void {
    if (this.stopped) return;
    this.log.debug(`event: ${reason}`);
    const now = Date.now();
    if (this.pendingReason === null) {
      this.pendingReason = reason;
      this.pendingSince = now;
    }
    const { debounceMs } = this.config.watch;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(
      () => {
        const why = this.pendingReason ?? 'event';
        this.pendingReason = null;
        this.scanNow(why);
      },
      Math.max(0, Math.min(debounceMs, this.pendingSince + maxWaitMs(debounceMs) - now)),
    );
  }

  /** Applies a new configuration (SIGHUP) and rescans. */
  reload(config: Config): void {
    const moved = config.manifest !== this.config.manifest || config.cdi.path !== this.config.cdi.path || config.root !== this.config.root;
    this.config = config;
    if (moved) {
      this.removeStaleTemps();
      this.written = this.readExistingManifest();
      this.writtenCdi = readFileIfExists(config.cdi.path);
      this.fixModes();
    }
    this.configProblem = null;
    this.udev?.stop();
    this.udev = null;
    this.status.udev = false;
    this.startUdev();
    this.startSafetyTimer();
    this.log.info('configuration reloaded');
    this.scanNow('reload');
  }

  /** Stops every trigger and closes the watchers; releases nodes held open. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.debounce);
    clearInterval(this.safety);
    clearInterval(this.watchdog);
    this.udev?.stop();
    this.keepWarm.release();
    await this.watcher?.close();
  }

  /** One scan; public so tests and `--once` can drive it without timers. */
  scanNow(reason: string): void {
    if (this.stopped) return;
    this.pendingReason = null; // this scan sees every change so far, whatever timer was waiting for it
    let manifest: Manifest;
    try {
      manifest = withParamsMask(scanHost(createHostFs(this.config.root)), this.config.manifest);
    } catch (error) {
      this.fail(`scan after ${reason} failed, keeping the last good manifest: ${formatError(error)}`);
      // Never hold up boot on a host whose first scan fails: the status file and the hook say why.
      this.markReady();
      clearTimeout(this.debounce);
      this.debounce = setTimeout(() => this.scanNow('retry'), Math.max(this.config.watch.debounceMs, RETRY_AFTER_ERROR_MS));
      return;
    }
    this.status.scans++;
    this.status.lastScanAt = new Date().toISOString();
    this.status.lastError = null; // a good scan ends an error state (lastErrorAt keeps when it was)
    if (this.written && sameManifestContent(manifest, this.written)) {
      this.candidate = null;
      // The manifest is current, but the CDI spec may not be (a reload changed cdi.*, or it was deleted before a restart).
      this.writeCdi(this.written);
      this.afterScan(this.written);
      return;
    }
    if (this.candidate && sameManifestContent(manifest, this.candidate)) this.candidateCount++;
    else {
      this.candidate = manifest;
      this.candidateCount = 1;
    }
    if (this.candidateCount < this.config.watch.stableScans) {
      this.log.debug(`change seen after ${reason}; confirming (${this.candidateCount}/${this.config.watch.stableScans})`);
      clearTimeout(this.debounce);
      this.debounce = setTimeout(() => this.scanNow(`${reason}, confirmation`), Math.max(this.config.watch.debounceMs, 50));
      this.writeStatus();
      return;
    }
    this.candidate = null;
    try {
      writeManifest(this.config.manifest, manifest);
    } catch (error) {
      this.fail(`cannot write the manifest, keeping the last good one: ${formatError(error)}`);
      return;
    }
    this.status.writes++;
    this.status.lastWriteAt = new Date().toISOString();
    this.log.info(`${this.written ? 'manifest updated' : 'manifest written'} after ${reason}: ${describe(manifest)}`);
    for (const w of manifest.warnings) this.log.warn(w);
    this.written = manifest;
    this.writeCdi(manifest);
    this.afterScan(manifest);
  }

  // Writes the CDI specs of `manifest` (the GPUs'; the IMEX channels' when the host has any, removed
  // when it has none) when they differ from those on disk; a failure is logged and kept in the status.
  private writeCdi(manifest: Manifest): void {
    if (!this.config.cdi.enabled) return;
    const gpus = JSON.stringify(buildCdiSpec(manifest, { kind: this.config.cdi.kind, container: this.config.container }), null, 2) + '\n';
    const imex = buildImexCdiSpec(manifest, this.config.cdi.kind);
    const imexText = imex ? JSON.stringify(imex, null, 2) + '\n' : '';
    const cdi = gpus + imexText;
    if (cdi === this.writtenCdi) return;
    const imexFile = imexCdiPath(this.config.cdi.path);
    try {
      writeFileAtomic(this.config.cdi.path, gpus);
      if (imex) writeFileAtomic(imexFile, imexText);
      else fs.rmSync(imexFile, { force: true });
      this.writtenCdi = cdi;
      this.log.debug(`CDI spec ${this.config.cdi.path} written (kind ${this.config.cdi.kind})${imex ? `, and ${imexFile} (kind ${imex.kind})` : ''}`);
    } catch (error) {
      this.fail(`cannot write the CDI spec, keeping the last one: ${formatError(error)}`);
    }
  }

  private afterScan(manifest: Manifest): void {
    const nodes = allNodes(manifest);
    if (this.config.watch.charLinks) {
      const { created, removed } = syncCharLinks(this.config.root, nodes, this.log);
      for (const l of created) this.log.info(`linked ${l}`);
      for (const l of removed) this.log.info(`removed stale link ${l}`);
    }
    const warm = manifest.driver ? [...manifest.controlNodes, ...manifest.gpus.flatMap((g) => g.edits.deviceNodes ?? [])] : [];
    this.status.holdingOpen = this.keepWarm.sync(
      warm.map((n) => n.hostPath ?? n.path),
      this.config.watch.keepWarm,
      this.config.root,
    );
    this.watcher?.setFolders(this.folders(manifest));
    this.writeStatus();
    this.markReady();
  }

  // Not ready while a watched folder is still being set up: its onReady brings another scan.
  private markReady(): void {
    if (this.ready || this.watcher?.ready === false) return;
    this.ready = true;
    this.sentStatus = this.statusText();
    this.notifier.ready(this.sentStatus);
  }

  /** True once the files on disk matched the host (READY=1 was sent). */
  get isReady(): boolean {
    return this.ready;
  }

  /** One line for systemd's STATUS=: what the last scan found, its error, a refused configuration. */
  statusText(): string {
    const parts = [this.written ? describe(this.written) : 'no manifest written yet'];
    if (this.status.lastError) parts.push(this.status.lastError);
    if (this.configProblem) parts.push(`configuration rejected, running on the previous one: ${this.configProblem}`);
    return parts.join('; ');
  }

  /** A SIGHUP's configuration was refused: STATUS= says so until one is accepted. */
  configRejected(problem: string): void {
    this.configProblem = problem;
    this.writeStatus();
  }

  // WATCHDOG=1 from the loop that runs the scans: a scan is synchronous, so one that hangs (a read of
  // /proc/driver/nvidia that never returns) stops the pings, and systemd kills and restarts the service.
  private startWatchdog(): void {
    clearInterval(this.watchdog);
    const ms = this.notifier.watchdogMs;
    if (ms !== null) this.watchdog = setInterval(() => this.notifier.watchdog(), ms);
  }

  // Files kept because their content is current still get the mode readers need (rootless Podman
  // reads the manifest as a user): an earlier writer's umask may have left them 0600.
  private fixModes(): void {
    for (const file of [this.config.manifest, ...(this.config.cdi.enabled ? [this.config.cdi.path] : [])]) {
      try {
        const old = ensureFileMode(file, 0o644);
        if (old !== null) this.log.info(`${file} was mode ${old.toString(8).padStart(4, '0')}: made it 0644, so that every user can read it`);
      } catch (error) {
        this.log.warn(formatError(error));
      }
    }
  }

  // The refusal log hooks append to: moved to ".1" once large (see adapters/refusal-log.ts).
  private rotateRefusals(): void {
    const file = refusalLogFor(this.config.manifest);
    try {
      if (rotateRefusals(file)) this.log.debug(`rotated ${file}`);
    } catch (error) {
      this.log.warn(`cannot rotate ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }

  // Folders whose changes can change the manifest (real paths).
  private folders(manifest: Pick<Manifest, 'libraryDirs' | 'files'> | null): string[] {
    const real = (p: string) => path.join(this.config.root, p);
    const dirs = new Set([real('/dev'), real('/dev/nvidia-caps'), real('/dev/dri'), real('/etc'), real('/run')]);
    for (const d of manifest?.libraryDirs ?? []) dirs.add(real(d));
    for (const f of manifest?.files ?? []) dirs.add(path.dirname(f.hostPath));
    return [...dirs].sort();
  }

  private relevant(file: string): boolean {
    const rel = '/' + path.relative(this.config.root, file);
    const dir = path.posix.dirname(rel);
    const base = path.posix.basename(rel);
    if (dir === '/dev' || dir === '/run' || dir === '/tmp') return base.startsWith('nvidia') || base === 'dri';
    if (dir === '/etc') return base === 'ld.so.cache';
    // Library and binary folders may be shared system folders with thousands of entries: chokidar
    // keeps a watch per entry it does not ignore, so only NVIDIA-looking names count.
    return DRIVER_NAME.test(base);
  }

  private startUdev(): void {
    if (!this.config.watch.udev || this.config.root !== '/') return;
    const udevadm = findUdevadm();
    if (!udevadm) {
      this.log.info('no udevadm on this host: relying on inotify and the safety rescan');
      return;
    }
    this.udev = startUdevMonitor(udevadm, (summary) => this.trigger(`udev ${summary}`), this.log);
    this.status.udev = true;
  }

  private startSafetyTimer(): void {
    clearInterval(this.safety);
    const seconds = this.config.watch.safetyRescanSeconds;
    if (seconds > 0) this.safety = setInterval(() => this.trigger('safety rescan'), seconds * 1000);
  }

  // Temp files of our targets left by a daemon killed mid-write (`kill -9`, OOM): their pid is gone.
  private removeStaleTemps(): void {
    const targets = [this.config.manifest, paramsMaskPath(this.config.manifest), statusPathFor(this.config.manifest), this.config.cdi.path, imexCdiPath(this.config.cdi.path)];
    for (const dir of new Set(targets.map((t) => path.dirname(t)))) {
      let names: string[];
      try {
        names = fs.readdirSync(dir);
      } catch {
        continue;
      }
      for (const name of names) {
        const m = /^\.(.+)\.(\d+)\.[0-9a-z]+\.tmp$/.exec(name);
        if (!m || !targets.includes(path.join(dir, m[1]!)) || processAlive(Number(m[2]))) continue;
        try {
          fs.rmSync(path.join(dir, name), { force: true });
          this.log.info(`removed ${path.join(dir, name)}, left by a stopped watcher`);
        } catch (error) {
          this.log.warn(`cannot remove ${path.join(dir, name)}: ${(error as NodeJS.ErrnoException).code}`);
        }
      }
    }
  }

  private readExistingManifest(): Manifest | null {
    try {
      const text = readFileIfExists(this.config.manifest);
      return text === null ? null : parseManifest(text, this.config.manifest);
    } catch (error) {
      this.log.warn(`ignoring the existing manifest: ${formatError(error)}`);
      return null;
    }
  }

  private fail(message: string): void {
    this.log.error(message);
    this.status.lastError = message;
    this.status.lastErrorAt = new Date().toISOString();
    this.writeStatus();
  }

  private writeStatus(): void {
    this.status.watching = this.watcher ? this.folders(this.written ?? this.candidate) : [];
    try {
      writeFileAtomic(statusPathFor(this.config.manifest), JSON.stringify(this.status, null, 2) + '\n');
    } catch (error) {
      this.log.warn(`cannot write the status file: ${formatError(error)}`);
    }
    this.rotateRefusals();
    const text = this.statusText();
    if (this.ready && text !== this.sentStatus) {
      this.sentStatus = text;
      this.notifier.status(text);
    }
  }
}

function allNodes(m: Manifest): DeviceNode[] {
  return [
    ...m.controlNodes,
    ...m.capNodes,
    ...m.gpus.flatMap((g) => [...(g.edits.deviceNodes ?? []), ...g.driNodes]),
    ...Object.values(m.capabilities).flatMap((e) => e.deviceNodes ?? []),
  ];
}


function describe(m: Manifest): string {
  if (!m.driver) return 'no NVIDIA driver loaded';
  return `driver ${m.driver.version}, ${m.gpus.length} GPU${m.gpus.length === 1 ? '' : 's'}, ${m.files.length} driver files${m.warnings.length ? `, ${m.warnings.length} warnings` : ''}`;
}
