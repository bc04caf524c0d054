import { watch, type FSWatcher } from 'chokidar';

/** Watches folders (one level deep) and calls `onEvent` for changes to entries that pass `filter`. */
export interface FolderWatcher {
  /** Replaces the watched set: folders no longer listed are unwatched, new ones added. */
  setFolders(folders: string[]): void;
  close(): Promise<void>;
}

/**
 * Creates a chokidar watcher. Events are only triggers: the callback gets the path for logs.
 * Missing folders are fine (chokidar watches for them to appear); errors are reported, not thrown.
 */
export function createFolderWatcher(
  filter: (file: string) => boolean,
  onEvent: (event: string, file: string) => void,
  onError: (error: Error) => void,
): FolderWatcher {
  let watched = new Set<string>();
  let watcher: FSWatcher | null = null;
  const ensure = () =>
    (watcher ??= watch([], {
      ignoreInitial: true,
      depth: 0,
      persistent: true,
      followSymlinks: true,
      ignorePermissionErrors: true,
      ignored: (file: string) => !watched.has(file) && !filter(file),
    })
      .on('all', (event, file) => onEvent(event, file))
      .on('error', (error) => onError(error as Error)));
  return {
    setFolders(folders) {
      const next = new Set(folders);
      const w = ensure();
      const removed = [...watched].filter((f) => !next.has(f));
      const added = [...next].filter((f) => !watched.has(f));
      watched = next;
      if (removed.length) w.unwatch(removed);
      if (added.length) w.add(added);
    },
    async close() {
      await watcher?.close();
      watcher = null;
    },
  };
}
