import test from 'ava';
import * as esbuild from 'esbuild';
import path from 'node:path';
import { REPO_ROOT } from '../helpers/paths.js';

// A container start pays for every module it loads: the entry (src/main.ts), then the role it was
// started as, by dynamic import (the hook; the wrapper, whose edit code loads only on create/run).
// Those closures must hold no CLI, watcher, logging or discovery code, what only the rare stages
// need (execa) must load on demand, and a wrapper pass-through (state, kill, delete…) loads no
// planning, manifest or config code at all.
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

/** The static closures of the entry plus each of `roots` (what one start loads). */
function startClosure(meta: esbuild.Metafile, ...roots: string[]): string[] {
  return [...new Set(['src/main.ts', ...roots].flatMap((r) => [...staticClosure(meta, r)]))];
}

const HOOK = ['src/hook/main.ts'];
const WRAPPER_PASS = ['src/runtime/main.ts'];
const WRAPPER_EDIT = ['src/runtime/main.ts', 'src/runtime/edit-bundle.ts', 'src/adapters/config-file.ts', 'src/adapters/libc.ts'];

test('what a container start loads holds no chokidar, winston, discovery, watcher or CLI code', async (t) => {
  const meta = await bundleGraph();
  const inputs = Object.keys(meta.inputs);
  const dynamic = meta.inputs['src/main.ts']!.imports.filter((i) => i.kind === 'dynamic-import').map((i) => i.path);
  t.deepEqual(dynamic.sort(), ['src/cli/main.ts', 'src/hook/main.ts', 'src/runtime/main.ts'], 'sanity: the entry imports each role on demand');
  const heavy = /node_modules\/(chokidar|readdirp|winston|logform|ajv)\/|^src\/(discover|watch|cli)\/|^src\/adapters\/(host-fs|file-watcher|udev|logger)\.ts$/;
  t.true(inputs.some((f) => heavy.test(f)), 'sanity: the CLI is in the binary');
  for (const roots of [HOOK, WRAPPER_EDIT]) {
    const eager = startClosure(meta, ...roots);
    t.true(eager.includes('src/core/plan/plan-config.ts'), `sanity: ${roots[0]} plans`);
    t.deepEqual(eager.filter((f) => heavy.test(f)), [], roots.join(' + '));
  }
});

test('a wrapper pass-through (state, kill, delete, start…) loads no planning, manifest, config or json5 code', async (t) => {
  const meta = await bundleGraph();
  const eager = startClosure(meta, ...WRAPPER_PASS);
  t.true(eager.includes('src/runtime/main.ts'));
  t.deepEqual(eager.filter((f) => /^src\/(core|hook)\/|^src\/adapters\/(manifest-file|config-file|atomic-write|rootfs)\.ts$|node_modules\/json5\//.test(f)), []);
});

test('execa is loaded only on demand (legacy and rescan paths), never at precreate start', async (t) => {
  const meta = await bundleGraph();
  t.true(Object.keys(meta.inputs).some((f) => f.includes('node_modules/execa/')), 'sanity: execa is in the bundle');
  for (const roots of [HOOK, WRAPPER_EDIT]) {
    const eager = startClosure(meta, ...roots);
    t.true(eager.includes('src/core/plan/plan-config.ts'));
    t.deepEqual(eager.filter((f) => f.includes('node_modules/execa/') || f === 'src/adapters/exec.ts'), [], roots.join(' + '));
  }
});
