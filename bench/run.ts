// `npm run bench` (tsc, then node dist/bench/run.js [NAME...]): runs the exported `run()` of every
// bench/*.ts module (or only those named), each returning a Markdown section, and appends them to
// BENCHMARKS.md under a heading that says when, on what machine and with which command. A module
// that fails is recorded as failed and the run exits 1.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
const REPO = path.resolve(HERE, '../..');
const RESULTS = path.join(REPO, 'BENCHMARKS.md');

const HEADER = `# Benchmarks

Appended by \`npm run bench\` (bench/run.ts), newest last. Each entry names its machine, date and command;
re-measure on the machine you care about before relying on a number.
`;

/** One line describing this machine: CPU model, cores, memory, kernel, Node. */
export function machine(): string {
  let cpu = os.cpus()[0]?.model?.trim() || 'unknown CPU';
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpu;
  } catch {
    // not Linux: os.cpus() said it
  }
  const cores = os.availableParallelism?.() ?? os.cpus().length;
  return `${cpu}, ${cores} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.type()} ${os.release()}, Node ${process.version}`;
}

function command(args: string[]): string {
  const tail = args.length ? ` ${args.join(' ')}` : '';
  return process.env.npm_lifecycle_event === 'bench' ? `npm run bench${tail ? ` --${tail}` : ''}` : `node dist/bench/run.js${tail}`;
}

async function main(args: string[]): Promise<number> {
  const modules = fs
    .readdirSync(HERE)
    .filter((f) => f.endsWith('.js') && f !== 'run.js')
    .map((f) => f.slice(0, -3))
    .sort();
  const unknown = args.filter((a) => !modules.includes(a));
  if (unknown.length) {
    process.stderr.write(`bench: no bench/${unknown[0]}.ts (have: ${modules.join(', ')})\n`);
    return 2;
  }
  const chosen = args.length ? modules.filter((m) => args.includes(m)) : modules;
  const sections: string[] = [];
  let failed = 0;
  for (const name of chosen) {
    process.stderr.write(`bench: ${name}...\n`);
    const started = Date.now();
    try {
      const mod = (await import(pathToFileURL(path.join(HERE, `${name}.js`)).href)) as { run?: () => Promise<string> | string };
      if (typeof mod.run !== 'function') throw new Error(`bench/${name}.ts exports no run()`);
      sections.push((await mod.run()).trimEnd() + '\n');
    } catch (error) {
      failed++;
      sections.push(`### ${name}: FAILED\n\n    ${(error as Error).message.split('\n')[0]}\n`);
    }
    process.stderr.write(`bench: ${name} done in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  }
  const entry = [`## ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC — ${chosen.join(', ')}`, '', `- machine: ${machine()}`, `- command: \`${command(args)}\``, '', ...sections].join('\n');
  const before = fs.existsSync(RESULTS) ? fs.readFileSync(RESULTS, 'utf8') : HEADER;
  fs.writeFileSync(RESULTS, `${before.trimEnd()}\n\n${entry.trimEnd()}\n`);
  process.stdout.write(entry);
  process.stderr.write(`bench: appended to ${path.relative(process.cwd(), RESULTS) || RESULTS}\n`);
  return failed ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
