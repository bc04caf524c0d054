import fs from 'node:fs';
import path from 'node:path';

/** A watch on one file's content. */
export interface ContentWatch {
  /** Reads the file now and reports it if it changed since the last report. */
  check(): void;
  close(): void;
}

/**
 * Calls `onChange(text)` with the file's content (null when it is missing or unreadable) once at
 * start and whenever it differs from the last call. fs.watch on the folder is only a trigger (the
 * watcher replaces the file by rename); a poll every `intervalMs` catches what it misses.
 */
export function watchContent(file: string, intervalMs: number, onChange: (text: string | null) => void): ContentWatch {
  let last: string | null | undefined;
  const check = () => {
    let text: string | null;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      text = null;
    }
    if (text === last) return;
    last = text;
    onChange(text);
  };
  let watcher: fs.FSWatcher | undefined;
  try {
    watcher = fs.watch(path.dirname(file), { persistent: false }, (_event, name) => {
      if (!name || name === path.basename(file)) check();
    });
    watcher.on('error', () => undefined);
  } catch {
    // The folder may not exist yet: the poll sees the file appear.
  }
  const timer = setInterval(check, intervalMs);
  check();
  return {
    check,
    close: () => {
      clearInterval(timer);
      watcher?.close();
    },
  };
}
