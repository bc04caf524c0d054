// The single-file binary's entry: one executable serves as oci-gpu-hook and, installed under that
// name (a link), as oci-gpu-runtime.
import path from 'node:path';
import { hookMain } from './main.js';
import { runtimeMain } from '../runtime/main.js';

/** Runs the program the binary was started as. */
export function start(): void {
  const name = path.basename(process.argv0 || process.argv[0] || '');
  const argv = process.argv.slice(2);
  const run = name.startsWith('oci-gpu-runtime') ? runtimeMain(argv) : hookMain(argv);
  run.then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`${name}: internal error: ${String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
