// The one executable's entry: it runs as the program it was started as. The Bun-compiled binary is
// oci-gpu, and oci-gpu-hook / oci-gpu-runtime are links to it (or argv[0] as a hooks.d entry's
// args give it). Each program is imported only when it is the one started (the build splits them
// into chunks of their own): a hook start never loads the wrapper or the CLI, and a wrapper
// pass-through loads neither the hook nor the planning code.
import path from 'node:path';

/** The name this process was started as: argv[0] for the compiled binary, the script for Node (bin/). */
export function invokedAs(): string {
  const compiled = process.argv[1]?.startsWith('/$bunfs/') ?? false;
  return path.basename((compiled ? process.argv0 : process.argv[1]) || 'oci-gpu');
}

async function run(name: string, argv: string[]): Promise<number> {
  if (name.startsWith('oci-gpu-hook')) return (await import('./hook/main.js')).hookMain(argv);
  if (name.startsWith('oci-gpu-runtime')) return (await import('./runtime/main.js')).runtimeMain(argv);
  const { main } = await import('./cli/main.js');
  return main(argv);
}

const name = invokedAs();
run(name, process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`${name}: internal error: ${String(error)}\n`);
    process.exitCode = 1;
  },
);
