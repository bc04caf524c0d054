import { watch, type FSWatcher } from 'chokidar';

/** Watches folders (one level deep) and calls `onEvent` for changes to entries that pass `filter`. */
export interface FolderWatcher {
  /** Replaces the watched set: folders no longer listed are unwatched, new ones added. */
  setFolders(folders: string[]): void;
  /** True when every folder of the last `setFolders` is being watched (changes in them are reported). */
  readonly ready: boolean;
  close(): Promise<void>;
}

export interface FolderWatcherOptions {
  filter: (file: string) => boolean;
  onEvent: (event: string, file: string) => void;
  onError: (error: Error) => void;
  /**
   * Called when the folders added by `setFolders` are all watched. Until then a change in them can
   * be missed, so a caller that scanned before must scan again.
   */
  onReady: () => void;
}

/**
 * Creates the watcher: one chokidar instance per folder, because chokidar reports `ready` once per
 * instance and a folder added later must say when it is live too. Events are only triggers: the
 * callback gets the path for logs. Missing folders are fine (chokidar watches for them to appear);
 * errors are reported, not thrown.
 */
export function createFolderWatcher(options: FolderWatcherOptions): FolderWatcher {
  const watchers = new Map<string, FSWatcher>();
  const pending = new Set<string>();
  let closed = false;
  const open = (folder: string): FSWatcher => {
    const w = watch(folder, {
      ignoreInitial: true,
      depth: 0,
      persistent: true,
      followSymlinks: true,
      ignorePermissionErrors: true,
      ignored: (file: string) => file !== folder && !options.filter(file),
    });
    w.on('all', (event, file) => options.onEvent(event, file));
    w.on('error', (error) => options.onError(error as Error));
    w.once('ready', () => {
      if (closed || !pending.delete(folder) || pending.size > 0) return;
      options.onReady();
    });
    return w;
  };
  return {
    setFolders(folders) {
      if (closed) return;
      const next = new Set(folders);
      for (const [folder, w] of watchers) {
        if (next.has(folder)) continue;
        watchers.delete(folder);
        pending.delete(folder);
        void w.close();
      }
      for (const folder of next) {
        if (watchers.has(folder)) continue;
        pending.add(folder);
        watchers.set(folder, open(folder));
      }
    },
    get ready() {
      return pending.size === 0;
    },
    async close() {
      closed = true;
      pending.clear();
      const all = [...watchers.values()];
      watchers.clear();
      await Promise.all(all.map((w) => w.close()));
    },
  };
}
