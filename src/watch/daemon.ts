import path from 'node:path';
import { writeFileAtomic, readFileIfExists } from '../adapters/atomic-write.js';
import { createFolderWatcher, type FolderWatcher } from '../adapters/file-watcher.js';
import { createHostFs } from '../adapters/host-fs.js';
import { findUdevadm, startUdevMonitor, type UdevMonitor } from '../adapters/udev.js';
import { buildCdiSpec } from '../core/cdi-spec.js';
import { parseManifest, sameManifestContent, serializeManifest } from '../core/manifest-codec.js';
import { scanHost } from '../discover/scan.js';
import { formatError } from '../errors.js';
import type { Config } from '../model/config.js';
import type { DeviceNode } from '../model/edits.js';
import type { Logger } from '../model/logger.js';
import type { Manifest } from '../model/manifest.js';
import { syncCharLinks } from './char-links.js';
import { KeepWarm } from './keep-warm.js';
import { statusPathFor, type WatchStatus } from './status.js';

const RETRY_AFTER_ERROR_MS = 1000;

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
  private watcher: FolderWatcher | null = null;
  private udev: UdevMonitor | null = null;
  private readonly keepWarm: KeepWarm;
  private stopped = false;
  private pendingReason: string | null = null;
  readonly status: WatchStatus;

  private ready = false;

  constructor(
    config: Config,
    private readonly log: Logger,
    /** Called once, when the files on disk are known to match the host. */
    private readonly onReady: () => void = () => {},
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

  /** Reads what is on disk, scans until stable, writes, and starts the triggers. */
  start(): void {
    this.written = this.readExistingManifest();
    this.writtenCdi = readFileIfExists(this.config.cdi.path);
    this.log.info(`watching ${this.config.root} for NVIDIA driver changes; manifest ${this.config.manifest}${this.config.cdi.enabled ? `, CDI spec ${this.config.cdi.path}` : ''}`);
    this.watcher = createFolderWatcher(
      (file) => this.relevant(file),
      (event, file) => this.trigger(`${event} ${file}`),
      (error) => this.log.warn(`file watcher: ${error.message}`),
    );
    this.startUdev();
    this.startSafetyTimer();
    this.scanNow('start');
  }

  /** Marks the state dirty; a rescan follows after the debounce. */
  trigger(reason: string): void {
    if (this.stopped) return;
    this.log.debug(`event: ${reason}`);
    this.pendingReason ??= reason;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      const why = this.pendingReason ?? 'event';
      this.pendingReason = null;
      this.scanNow(why);
    }, this.config.watch.debounceMs);
  }

  /** Applies a new configuration (SIGHUP) and rescans. */
  reload(config: Config): void {
    const moved = config.manifest !== this.config.manifest || config.cdi.path !== this.config.cdi.path || config.root !== this.config.root;
    this.config = config;
    if (moved) {
      this.written = this.readExistingManifest();
      this.writtenCdi = readFileIfExists(config.cdi.path);
    }
    this.udev?.stop();
    this.udev = null;
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
    this.udev?.stop();
    this.keepWarm.release();
    await this.watcher?.close();
  }

  /** One scan; public so tests and `--once` can drive it without timers. */
  scanNow(reason: string): void {
    if (this.stopped) return;
    let manifest: Manifest;
    try {
      manifest = scanHost(createHostFs(this.config.root));
    } catch (error) {
      this.fail(`scan after ${reason} failed, keeping the last good manifest: ${formatError(error)}`);
      clearTimeout(this.debounce);
      this.debounce = setTimeout(() => this.scanNow('retry'), Math.max(this.config.watch.debounceMs, RETRY_AFTER_ERROR_MS));
      return;
    }
    this.status.scans++;
    this.status.lastScanAt = new Date().toISOString();
    if (this.written && sameManifestContent(manifest, this.written)) {
      this.candidate = null;
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
      this.write(manifest);
      this.log.info(`${this.written ? 'manifest updated' : 'manifest written'} after ${reason}: ${describe(manifest)}`);
      this.written = manifest;
      this.status.lastError = null;
    } catch (error) {
      this.fail(`cannot write the manifest, keeping the last good one: ${formatError(error)}`);
      return;
    }
    this.afterScan(manifest);
  }

  private write(manifest: Manifest): void {
    writeFileAtomic(this.config.manifest, serializeManifest(manifest));
    this.status.writes++;
    this.status.lastWriteAt = new Date().toISOString();
    for (const w of manifest.warnings) this.log.warn(w);
    if (!this.config.cdi.enabled) return;
    const cdi = JSON.stringify(buildCdiSpec(manifest, { kind: this.config.cdi.kind, hookPath: this.config.hook.path }), null, 2) + '\n';
    if (cdi !== this.writtenCdi) {
      writeFileAtomic(this.config.cdi.path, cdi);
      this.writtenCdi = cdi;
    }
  }

  private afterScan(manifest: Manifest): void {
    if (!this.ready) {
      this.ready = true;
      this.onReady();
    }
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
    return true;
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
