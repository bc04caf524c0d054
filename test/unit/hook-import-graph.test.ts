import test from 'ava';
import * as esbuild from 'esbuild';
import path from 'node:path';
import { REPO_ROOT } from '../helpers/paths.js';

// A container start (the hook, the runtime wrapper) pays for every module the binary's entry loads
// before it runs: that static closure must hold no CLI, watcher, logging or discovery code (those
// come in by dynamic import, when the binary runs as the CLI), and what only the rare stages need
// (execa) must load on demand.
async function bundleGraph() {
  const result = await esbuild.build({
    entryPoints: [path.join(REPO_ROOT, 'src/main.ts')],
    bundle: true,
    write: false,
    metafile: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    absWorkingDir: REPO_ROOT,
    logLevel: 'silent',
  });
  return result.metafile!;
}

function staticClosure(meta: esbuild.Metafile, entry: string): Set<string> {
  const seen = new Set<string>();
  const stack = [entry];
  while (stack.length) {
    const file = stack.pop()!;
    if (seen.has(file) || !meta.inputs[file]) continue;
    seen.add(file);
    for (const imp of meta.inputs[file]!.imports) if (imp.kind !== 'dynamic-import' && !imp.external) stack.push(imp.path);
  }
  return seen;
}

test('what a container start loads holds no chokidar, winston, discovery, watcher or CLI code', async (t) => {
  const meta = await bundleGraph();
  const inputs = Object.keys(meta.inputs);
  const eager = [...staticClosure(meta, 'src/main.ts')];
  t.true(eager.includes('src/hook/main.ts') && eager.includes('src/runtime/main.ts'), 'sanity: the closure is the hook and the wrapper');
  const heavy = /node_modules\/(chokidar|readdirp|winston|logform|ajv)\/|^src\/(discover|watch|cli)\/|^src\/adapters\/(host-fs|file-watcher|udev|logger)\.ts$/;
  t.true(inputs.some((f) => heavy.test(f)), 'sanity: the CLI is in the binary');
  t.deepEqual(eager.filter((f) => heavy.test(f)), []);
});

test('execa is loaded only on demand (legacy and rescan paths), never at precreate start', async (t) => {
  const meta = await bundleGraph();
  const eager = staticClosure(meta, 'src/main.ts');
  t.true(eager.has('src/core/plan/plan-config.ts'));
  t.true(Object.keys(meta.inputs).some((f) => f.includes('node_modules/execa/')), 'sanity: execa is in the bundle');
  t.deepEqual([...eager].filter((f) => f.includes('node_modules/execa/') || f === 'src/adapters/exec.ts'), []);
});
