// Discovery cost: one full in-process scan (scanHost) of each fixture host, median of runs. Needs
// root the first time (the fixture hosts are built with mknod).
import { createHostFs } from '../src/adapters/host-fs.js';
import { scanHost } from '../src/discover/scan.js';
import { buildFixtureHost, type FixtureHostName } from '../scripts/fixture-host.js';
import { stats } from './hook.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 50);

/** Runs the benchmark and returns a Markdown section. */
export async function run(): Promise<string> {
  const rows: string[] = [];
  for (const name of ['h200', 'rhel-2gpu', 'no-driver'] as FixtureHostName[]) {
    const root = buildFixtureHost(name);
    scanHost(createHostFs(root)); // warm the page cache
    const samples: number[] = [];
    let files = 0;
    for (let i = 0; i < RUNS; i++) {
      const t = process.hrtime.bigint();
      files = scanHost(createHostFs(root)).files.length;
      samples.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    const s = stats(samples);
    rows.push(`| ${name} | ${files} | ${s.median.toFixed(1)} | ${s.p95.toFixed(1)} | ${s.min.toFixed(1)} |`);
  }
  return [
    `### Scan of the fixture hosts (in-process scanHost, ${RUNS} runs each; target well under 50 ms)`,
    '',
    '| host | driver files | median ms | p95 ms | min ms |',
    '|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
