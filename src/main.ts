// The one executable's entry (compiled with Bun): it runs as the program it was started as —
// oci-gpu-hook, oci-gpu-runtime (links to it) or, under any other name, the oci-gpu CLI.
import path from 'node:path';
import { hookMain } from './hook/main.js';
import { runtimeMain } from './runtime/main.js';

const name = path.basename(process.argv0 || 'oci-gpu');
const argv = process.argv.slice(2);

async function run(): Promise<number> {
  if (name.startsWith('oci-gpu-hook')) return hookMain(argv);
  if (name.startsWith('oci-gpu-runtime')) return runtimeMain(argv);
  const { main } = await import('./cli/main.js');
  return main(argv);
}

run().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`${name}: internal error: ${String(error)}\n`);
    process.exitCode = 1;
  },
);
