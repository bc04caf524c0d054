// Fuzzing what the runtime hands the hook: the OCI state (parseState; the createRuntime/prestart
// and ldcache stages through hookMain) and the config.json precreate reads on stdin (hookMain in
// process with an injected HookIo, and a few hundred through the real binary build/oci-gpu-hook).
// Inputs: any JSON value, and real documents mutated structurally (podman's own precreate config
// and createRuntime states, captured on this machine, and the OCI example config) and at the byte
// level (cuts, overwritten and inserted bytes, invalid UTF-8).
// Property: no uncaught exception; a failure is one of our error classes and prints as exactly
// one line "oci-gpu-hook: ..." (or "oci-gpu-hook <stage>: ...") on stderr with a non-zero exit and nothing on stdout; a success
// exits 0 with nothing on stderr and prints a JSON config (the input itself, byte for byte, when
// the container asks for no GPU), which is a valid OCI config whenever the input was.
// The ld.so.cache and /proc parsers are fuzzed by their own tests (test/unit/parse-ld-cache.test.ts,
// test/unit/parse-proc.test.ts: random bytes, mutated real caches, round trips); not repeated here.
import test from 'ava';
import fc from 'fast-check';
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { serializeManifest } from '../../src/core/manifest/manifest-codec.js';
import { hookMain, parseState, type HookIo } from '../../src/hook/main.js';
import type { Manifest } from '../../src/model/manifest.js';
import { fixtureManifest, hookBinary, runBytes, tempDir } from '../helpers/hook-env.js';
import { buildManifest } from '../helpers/manifests.js';
import { SCHEMAS } from '../helpers/paths.js';
import { validateOciConfig } from '../helpers/schema.js';
import { applyMutations, assertOneLine, checkProperty, damage, jsonValue, mutations, ourErrorsOnly, runs, textDamage, type Path } from './fuzz-helpers.js';
import { IS_ROOT } from '../helpers/root.js';

const FIXTURE_DIR = path.join(path.dirname(new URL(import.meta.url).pathname), '../../../test/fuzz/fixtures');

// What podman 4.3.1 gave hooks on this machine (crun 1.8.1 and runc 1.1.5): the precreate config
// (test/fuzz/fixtures/podman-config.json, annotation oci-gpu/devices=0) and createRuntime states.
const PODMAN_CONFIG = JSON.parse(readFileSync(path.join(FIXTURE_DIR, 'podman-config.json'), 'utf8')) as Record<string, any>;
const OCI_EXAMPLE = JSON.parse(readFileSync(path.join(SCHEMAS, 'oci-runtime/example-config.json'), 'utf8')) as Record<string, any>;
const STATES = [
  {
    ociVersion: '1.0',
    id: '0dc8e65de1d3bdddd729dfd504d794ee8fbcede78219c6be39011e2d96b52d86',
    pid: 32680,
    root: '/var/lib/containers/storage/overlay/1a6efc946956beb36b352840a32913b4bc79066f43bb70b6cb136ed801152996/merged',
    bundle: '/var/lib/containers/storage/overlay-containers/0dc8e65de1d3bdddd729dfd504d794ee8fbcede78219c6be39011e2d96b52d86/userdata',
    status: 'created',
    annotations: { 'io.container.manager': 'libpod', 'io.podman.annotations.autoremove': 'TRUE', 'oci-gpu/devices': '0' },
  },
  {
    ociVersion: '1.0.2-dev',
    id: '7251b58c2254a41a6a98174f8958e8f30ae57019a854049d7f2c6ecac49079b3',
    status: 'creating',
    pid: 32718,
    bundle: '/var/lib/containers/storage/overlay-containers/7251b58c2254a41a6a98174f8958e8f30ae57019a854049d7f2c6ecac49079b3/userdata',
    annotations: { 'io.container.manager': 'libpod', 'oci-gpu/devices': '0' },
  },
];

// Where a mutation hurts most: the fields the hook reads or writes, present or not.
const CONFIG_PATHS: Path[] = [
  ['ociVersion'],
  ['root'],
  ['root', 'path'],
  ['annotations'],
  ['annotations', 'oci-gpu/devices'],
  ['annotations', 'oci-gpu/capabilities'],
  ['annotations', 'cdi.k8s.io/fuzz'],
  ['process'],
  ['process', 'env'],
  ['process', 'env', 0],
  ['process', 'env', 9],
  ['linux'],
  ['linux', 'devices'],
  ['linux', 'devices', 0],
  ['linux', 'devices', 0, 'path'],
  ['linux', 'resources'],
  ['linux', 'resources', 'devices'],
  ['linux', 'resources', 'devices', 0],
  ['mounts'],
  ['mounts', 0],
  ['mounts', 0, 'destination'],
  ['hooks'],
  ['hooks', 'createRuntime'],
  ['hooks', 'createRuntime', 0],
];
const STATE_PATHS: Path[] = [['pid'], ['bundle'], ['annotations'], ['annotations', 'oci-gpu/devices'], ['annotations', 'cdi.k8s.io/fuzz'], ['root']];

/** Request values that reach the planner (and some that must be refused). */
const requestValue = fc.constantFrom('0', '1', 'all', 'none', '0,1', '1,0', '3', 'GPU-9d41e8a2-36c7-4f0b-8e25-b7a1c6d05f94', '0000:86:00.0', 'nvidia.com/gpu=1', '', 'void', '0,,1', ' 1 ');

/** A config to feed precreate: a mutated real config, sometimes with a request set, as text with byte damage. */
function configInput(): fc.Arbitrary<Buffer> {
  const base = fc.constantFrom(PODMAN_CONFIG, { ...OCI_EXAMPLE, root: { path: '/var/lib/oci-gpu-fuzz/rootfs' } }, OCI_EXAMPLE);
  const structured = base.chain((doc) =>
    fc
      .tuple(fc.array(mutations(doc, CONFIG_PATHS), { maxLength: 5 }), fc.option(requestValue, { nil: undefined }), fc.option(requestValue, { nil: undefined }))
      .map(([muts, devices, env]) => {
        const out = applyMutations(doc, muts) as any;
        if (devices !== undefined && out && typeof out === 'object' && out.annotations && typeof out.annotations === 'object') out.annotations['oci-gpu/devices'] = devices;
        if (env !== undefined && out?.process && Array.isArray(out.process.env)) out.process.env.push(`NVIDIA_VISIBLE_DEVICES=${env}`);
        return out === undefined ? '' : JSON.stringify(out);
      }),
  );
  return fc.oneof(
    { weight: 6, arbitrary: structured.map((s) => Buffer.from(s)) },
    { weight: 2, arbitrary: fc.tuple(structured, textDamage).map(([s, d]) => damage(s, d)) },
    { weight: 1, arbitrary: jsonValue.map((v) => Buffer.from(JSON.stringify(v) ?? '')) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)) },
  );
}

function stateInput(): fc.Arbitrary<Buffer> {
  const structured = fc
    .constantFrom(...STATES)
    .chain((doc) => fc.array(mutations(doc, STATE_PATHS), { maxLength: 4 }).map((muts) => JSON.stringify(applyMutations(doc, muts)) ?? ''));
  return fc.oneof(
    { weight: 5, arbitrary: structured.map((s) => Buffer.from(s)) },
    { weight: 2, arbitrary: fc.tuple(structured, textDamage).map(([s, d]) => damage(s, d)) },
    { weight: 2, arbitrary: jsonValue.map((v) => Buffer.from(JSON.stringify(v) ?? '')) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)) },
  );
}

// ------------------------------------------------------------------------------- the environment

interface Env {
  /** A config.json5 with defaults (so /etc/oci-gpu/config.json5 of this machine never matters). */
  config: string;
  /** Manifests the hook can use: a synthetic 2-GPU host (minors 0 and 3), and rhel-2gpu's real scan when root. */
  manifests: string[];
  /** A manifest path that does not exist: the legacy stages stop there, before any side effect. */
  missing: string;
}

let envPromise: Promise<Env> | undefined;
function env(): Promise<Env> {
  envPromise ??= (async () => {
    const dir = tempDir('fuzz-hook');
    const config = path.join(dir, 'config.json5');
    writeFileSync(config, '{}\n');
    // A synthetic host: the manifest's root holds the version file the hook checks.
    const root = path.join(dir, 'host');
    mkdirSync(path.join(root, 'sys/module/nvidia'), { recursive: true });
    const m: Manifest = buildManifest({ root, gpus: [{ minor: 0 }, { minor: 3 }] });
    writeFileSync(path.join(root, 'sys/module/nvidia/version'), `${m.driver!.version}\n`);
    const synthetic = path.join(dir, 'manifest.json');
    writeFileSync(synthetic, serializeManifest(m));
    const manifests = [synthetic];
    if (IS_ROOT) manifests.push((await fixtureManifest('rhel-2gpu')).file);
    return { config, manifests, missing: path.join(dir, 'no-such-manifest.json') };
  })();
  return envPromise;
}

/** Runs hookMain in process with `input` as stdin; returns what it printed and its status. */
async function runHook(argv: string[], input: Buffer): Promise<{ code: number; out: Buffer; err: string }> {
  const out: Buffer[] = [];
  let err = '';
  const io: HookIo = {
    readStdin: () => input,
    out: (d) => void out.push(Buffer.from(d)),
    err: (t) => void (err += t),
  };
  const code = await hookMain(argv, io);
  return { code, out: Buffer.concat(out), err };
}

/** The contract of every hook run, whatever the input. Throws naming what broke. */
function checkRun(r: { code: number; out: Buffer; err: string }, input: Buffer, stage: string): void {
  const tell = `stage ${stage}, input ${JSON.stringify(input.toString('utf8').slice(0, 300))}: exit ${r.code}, stderr ${JSON.stringify(r.err.slice(0, 300))}`;
  if (!Number.isInteger(r.code)) throw new Error(`exit status is not an integer: ${tell}`);
  if (r.code === 0) {
    if (r.err !== '') throw new Error(`exit 0 with something on stderr: ${tell}`);
    if (stage !== 'precreate') {
      if (r.out.length) throw new Error(`the ${stage} stage printed on stdout: ${tell}`);
      return;
    }
    if (r.out.equals(input)) return; // no GPU asked for: the config goes back untouched
    let edited: unknown;
    try {
      edited = JSON.parse(r.out.toString('utf8'));
    } catch {
      throw new Error(`exit 0 but stdout is not JSON: ${tell}`);
    }
    if (!edited || typeof edited !== 'object' || Array.isArray(edited)) throw new Error(`exit 0 but stdout is not a JSON object: ${tell}`);
    let inputDoc: unknown;
    try {
      inputDoc = JSON.parse(input.toString('utf8'));
    } catch {
      throw new Error(`the hook edited a config that is not JSON: ${tell}`);
    }
    if (validateOciConfig(inputDoc).length === 0) {
      const problems = validateOciConfig(edited);
      if (problems.length) throw new Error(`a valid config came out invalid (${problems.slice(0, 3).join('; ')}): ${tell}`);
    }
    return;
  }
  if (r.out.length) throw new Error(`exit ${r.code} with something on stdout: ${tell}`);
  assertOneLine(r.err);
  if (!/^oci-gpu-hook[: ]/.test(r.err)) throw new Error(`stderr does not start with the program name: ${tell}`);
  if (r.err.includes('internal error')) throw new Error(`an error that is not ours: ${tell}`);
}

// -------------------------------------------------------------------------------------- parseState

test('parseState: any JSON value and mutated real states give a checked state or one ParseError line', async (t) => {
  let accepted = 0;
  await checkProperty(
    fc.property(stateInput(), (input) => {
      const state = ourErrorsOnly(() => parseState(input));
      if (state === undefined) return;
      accepted++;
      // What the stages rely on once parseState has returned.
      if (!Number.isInteger(state.pid) || state.pid! <= 0) throw new Error(`accepted a bad pid: ${JSON.stringify(state.pid)}`);
      if (typeof state.bundle !== 'string' || !state.bundle.startsWith('/')) throw new Error(`accepted a bad bundle: ${JSON.stringify(state.bundle)}`);
      const a = state.annotations as unknown;
      if (a !== undefined && a !== null && (typeof a !== 'object' || Array.isArray(a) || Object.values(a).some((v) => typeof v !== 'string'))) {
        throw new Error(`accepted annotations that are not a string map: ${JSON.stringify(a)}`);
      }
    }),
    { numRuns: runs(5000) },
  );
  t.log(`${accepted} of ${runs(5000)} inputs accepted`);
  t.true(accepted > 0, 'no input was accepted: the generator never kept a state whole');
});

test('createRuntime, prestart and ldcache stages in process: exit status, one stderr line, empty stdout', async (t) => {
  const e = await env();
  const dir = tempDir('fuzz-bundles');
  let n = 0;
  // The state's bundle points at a folder holding a mutated config.json (the legacy stages read it);
  // the manifest does not exist, so a GPU request stops with ManifestError before any side effect,
  // and ldcache has no --ldconfig, so it stops with UsageError after parsing the state.
  const bundleConfig = fc.oneof(
    fc.array(mutations(PODMAN_CONFIG, CONFIG_PATHS), { maxLength: 4 }).map((m) => JSON.stringify(applyMutations(PODMAN_CONFIG, m)) ?? ''),
    fc.tuple(fc.constant(JSON.stringify(PODMAN_CONFIG)), textDamage).map(([s, d]) => damage(s, d).toString('latin1')),
    jsonValue.map((v) => JSON.stringify(v) ?? ''),
  );
  await checkProperty(
    fc.asyncProperty(stateInput(), bundleConfig, fc.boolean(), fc.constantFrom('createRuntime', 'prestart', 'ldcache'), async (input, configText, ownBundle, stage) => {
      let stdin = input;
      if (ownBundle) {
        const bundle = path.join(dir, String(n++));
        mkdirSync(bundle);
        writeFileSync(path.join(bundle, 'config.json'), configText, 'latin1');
        try {
          const state = JSON.parse(input.toString('utf8'));
          if (state && typeof state === 'object' && !Array.isArray(state)) stdin = Buffer.from(JSON.stringify({ ...state, bundle }));
        } catch {
          /* damaged text stays as it is */
        }
      } else if (stage !== 'ldcache') {
        // A real bundle path on this machine could exist: only ever read bundles made here.
        try {
          const state = JSON.parse(input.toString('utf8'));
          if (state && typeof state === 'object' && !Array.isArray(state) && 'bundle' in state) stdin = Buffer.from(JSON.stringify({ ...state, bundle: path.join(dir, 'absent') }));
        } catch {
          /* not JSON: parseState refuses it */
        }
      }
      const r = await runHook([stage, '--config', e.config, '--manifest', e.missing], stdin);
      checkRun(r, stdin, stage);
      if (r.code === 0 && stage === 'ldcache') throw new Error('ldcache without --ldconfig succeeded');
    }),
    { numRuns: runs(2000) },
  );
  t.pass();
});

// -------------------------------------------------------------------------------------- precreate

test('precreate in process: mutated real configs and junk give an edited config or one error line', async (t) => {
  const e = await env();
  const outcomes = new Map<string, number>();
  await checkProperty(
    fc.asyncProperty(configInput(), fc.constantFrom(...e.manifests), async (input, manifest) => {
      const r = await runHook(['precreate', '--config', e.config, '--manifest', manifest], input);
      checkRun(r, input, 'precreate');
      const kind = r.code !== 0 ? `exit ${r.code}: ${r.err.slice('oci-gpu-hook: '.length).split(/[:("]/)[0]!.trim().split(' ').slice(0, 5).join(' ')}` : r.out.equals(input) ? 'unchanged' : 'edited';
      outcomes.set(kind, (outcomes.get(kind) ?? 0) + 1);
    }),
    { numRuns: runs(4000) },
  );
  const top = [...outcomes].sort((a, b) => b[1] - a[1]);
  t.log(`outcomes: ${top.slice(0, 12).map(([k, v]) => `${v} × ${k}`).join('; ')}`);
  t.true((outcomes.get('edited') ?? 0) > 0, 'no run got as far as editing a config');
});

test('precreate through the real binary (a few hundred runs): same contract, exit status from the process', async (t) => {
  const e = await env();
  const bin = await hookBinary();
  let edited = 0;
  const inputs = fc.sample(fc.tuple(configInput(), fc.constantFrom(...e.manifests)), { numRuns: runs(300), seed: 5 });
  // Four at a time: each run is a process start (tens of ms); the order of results does not matter.
  for (let i = 0; i < inputs.length; i += 4) {
    await Promise.all(
      inputs.slice(i, i + 4).map(async ([input, manifest], j) => {
        const r = await runBytes(bin, ['precreate', '--config', e.config, '--manifest', manifest], input);
        if (r.signal) throw new Error(`the hook was killed (${r.signal}) on ${JSON.stringify(input.toString('utf8').slice(0, 200))}`);
        checkRun(r, input, 'precreate');
        if (r.code === 0 && !r.out.equals(input)) edited++;
      }),
    );
  }
  t.log(`${inputs.length} binary runs, ${edited} edited configs`);
  t.true(edited > 0);
});
