import test from 'ava';
import * as esbuild from 'esbuild';
import path from 'node:path';
import { REPO_ROOT } from '../helpers/paths.js';

// The hook's start cost is Node's start plus whatever it loads: its bundle must hold no watcher,
// logging or discovery code, and what only the rare stages need (execa) must load on demand.
async function bundleGraph() {
  const result = await esbuild.build({
    entryPoints: [path.join(REPO_ROOT, 'src/hook/sea-main.ts')],
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

test('the hook bundle holds no chokidar, winston, discovery, watcher or CLI code', async (t) => {
  const inputs = Object.keys((await bundleGraph()).inputs);
  t.true(inputs.includes('src/hook/main.ts'), 'sanity: the graph is the hook');
  const forbidden = inputs.filter((f) => /node_modules\/(chokidar|readdirp|winston|logform|ajv)\/|^src\/(discover|watch|cli)\/|^src\/adapters\/(host-fs|file-watcher|udev|logger)\.ts$/.test(f));
  t.deepEqual(forbidden, []);
});

test('execa is loaded only on demand (legacy, ldcache and rescan paths), never at precreate start', async (t) => {
  const meta = await bundleGraph();
  const eager = staticClosure(meta, 'src/hook/sea-main.ts');
  t.true(eager.has('src/core/plan/plan-config.ts'));
  t.true(Object.keys(meta.inputs).some((f) => f.includes('node_modules/execa/')), 'sanity: execa is in the bundle');
  t.deepEqual([...eager].filter((f) => f.includes('node_modules/execa/') || f === 'src/adapters/exec.ts'), []);
});

test('the snapshot warm-up plans a request on made-up values without touching the host', async (t) => {
  const { warmUp } = await import('../../src/hook/warm-up.js');
  t.true(warmUp() > 500, 'an edited config came out');
});
