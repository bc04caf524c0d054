/** Where a command writes: injected so tests can capture it. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  isTTY: boolean;
}

/** The process's own stdout and stderr. */
export const processIo: Io = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
  isTTY: !!process.stdout.isTTY,
};
