// Fuzzing parseManifest (src/core/manifest/manifest-codec.ts), the one gate between the manifest file and a
// container's config: any JSON value, any text, real manifests (scans of the checked-in fixture
// hosts when root, synthetic ones otherwise) mutated structurally, cut short and damaged byte-wise.
// Properties: parseManifest returns or throws one of our error classes, printed as one line; and
// what it accepts, the start path can use: planning every kind of request against it throws only
// our errors, and edits a valid OCI config (podman's own, captured here) into a valid one.
import test from 'ava';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseManifest, serializeManifest } from '../../src/core/manifest/manifest-codec.js';
import { editConfigForRequest } from '../../src/core/plan/plan-config.js';
import type { GpuRequest } from '../../src/core/request/request.js';
import type { Manifest } from '../../src/model/manifest.js';
import type { OciConfig } from '../../src/model/oci.js';
import { buildManifest, scanFixture } from '../helpers/manifests.js';
import { validateOciConfig } from '../helpers/schema.js';
import { applyMutations, assertOurError, checkProperty, damage, jsonValue, mutations, ourErrorsOnly, runs, textDamage, type Path } from './fuzz-helpers.js';
import { IS_ROOT } from '../helpers/root.js';

const FIXTURE_DIR = path.join(path.dirname(new URL(import.meta.url).pathname), '../../../test/fuzz/fixtures');
const PODMAN_CONFIG = JSON.parse(readFileSync(path.join(FIXTURE_DIR, 'podman-config.json'), 'utf8')) as OciConfig;
const SOURCE = '/run/oci-gpu/manifest.json';

/** Real manifests: the fixture hosts scanned in process (root: they hold device nodes), else synthetic ones with a root prefix. */
function realManifests(): { name: string; manifest: Manifest }[] {
  if (IS_ROOT) return (['h200', 'rhel-2gpu', 'no-driver'] as const).map((name) => ({ name, manifest: scanFixture(name) }));
  return [
    { name: 'synthetic 2 GPUs', manifest: buildManifest({ root: '/tmp/host', gpus: [{ minor: 0 }, { minor: 3 }], capNodes: true }) },
    { name: 'synthetic no driver', manifest: buildManifest({ driver: null }) },
  ];
}

// Fields the planner and the config editor read, present or not in a given manifest.
const MANIFEST_PATHS: Path[] = [
  ['schema'],
  ['driver'],
  ['driver', 'version'],
  ['driver', 'cudaVersion'],
  ['gpus', 0, 'index'],
  ['gpus', 0, 'uuid'],
  ['gpus', 0, 'edits', 'deviceNodes', 0, 'type'],
  ['gpus', 0, 'edits', 'deviceNodes', 0, 'permissions'],
  ['gpus', 0, 'edits', 'deviceNodes', 0, 'uid'],
  ['gpus', 0, 'edits', 'env'],
  ['gpus', 0, 'edits', 'hooks', 0],
  ['gpus', 0, 'driNodes', 0],
  ['controlNodes', 0, 'major'],
  ['controlNodes', 0, 'type'],
  ['capabilities', 'compute', 'mounts', 0, 'options'],
  ['capabilities', 'compute', 'mounts', 0, 'type'],
  ['capabilities', 'compute', 'mounts', 0, 'hostPath'],
  ['capabilities', 'compute', 'env', 0],
  ['capabilities', 'compute', 'hooks', 0],
  ['capabilities', 'compute', 'hooks', 0, 'args'],
  ['capabilities', 'utility', 'deviceNodes', 0],
  ['capabilities', 'unclassified'],
  ['libraryDirs', 0],
  ['tools', 'ldconfig'],
  ['tools', 'nsenter'],
  ['tools', 'sh'],
];

/** Requests of every shape the planner takes: all GPUs, by index, none, every capability. */
const REQUESTS: GpuRequest[] = [
  { source: 'annotation "oci-gpu/devices"', devices: 'all', capabilities: ['utility', 'compute', 'video', 'graphics', 'display', 'ngx', 'compat32'], requirements: [], imexChannels: [], imexSource: 'NVIDIA_IMEX_CHANNELS' },
  { source: 'annotation "oci-gpu/devices"', devices: ['0'], capabilities: ['utility', 'compute'], requirements: [], imexChannels: [], imexSource: 'NVIDIA_IMEX_CHANNELS' },
  { source: 'NVIDIA_VISIBLE_DEVICES', devices: ['1'], capabilities: ['graphics', 'display'], requirements: [{ name: 'NVIDIA_REQUIRE_CUDA', expression: 'cuda>=11.0 brand=tesla' }], imexChannels: [], imexSource: 'NVIDIA_IMEX_CHANNELS' },
  { source: 'annotation "oci-gpu/devices"', devices: [], capabilities: ['compute'], requirements: [], imexChannels: [], imexSource: 'NVIDIA_IMEX_CHANNELS' },
];

/** What the hook does with an accepted manifest; throws when it breaks the contract. */
function useAccepted(manifest: Manifest): void {
  for (const request of REQUESTS) {
    const edited = ourErrorsOnly(() => editConfigForRequest(PODMAN_CONFIG, manifest, request, { maskDriverParams: true, cudaCompat: true }, PODMAN_CONFIG.root!.path));
    if (edited === undefined) continue;
    const problems = validateOciConfig(edited);
    if (problems.length) throw new Error(`an accepted manifest edits a valid config into an invalid one: ${problems.slice(0, 4).join('; ')}`);
  }
}

test('parseManifest: any JSON value or text gives a manifest or one error line', async (t) => {
  const text = fc.oneof(
    jsonValue.map((v) => JSON.stringify(v) ?? ''),
    fc.string({ maxLength: 200 }),
    fc.string({ unit: 'binary', maxLength: 200 }),
    // the top-level object with the right schema, the rest random: gets past the first checks
    fc.dictionary(fc.constantFrom('generatedAt', 'root', 'driver', 'gpus', 'controlNodes', 'capNodes', 'capabilities', 'files', 'libraryDirs', 'tools', 'warnings'), jsonValue).map((d) =>
      JSON.stringify({ ...d, schema: 'oci-gpu.manifest/v2' }),
    ),
  );
  let accepted = 0;
  await checkProperty(
    fc.property(text, (s) => {
      const m = ourErrorsOnly(() => parseManifest(s, SOURCE));
      if (m) {
        accepted++;
        useAccepted(m);
      }
    }),
    { numRuns: runs(5000) },
  );
  t.log(`${accepted} of ${runs(5000)} accepted (random values almost never form a manifest: the mutated real ones below are the deep test)`);
  t.pass();
});

test('parseManifest: mutated real manifests are refused in one line or usable by the start path', async (t) => {
  const real = realManifests();
  let accepted = 0;
  let refused = 0;
  const cases = fc.constantFrom(...real).chain(({ manifest }) => fc.array(mutations(manifest, MANIFEST_PATHS), { minLength: 1, maxLength: 4 }).map((m) => applyMutations(manifest, m)));
  await checkProperty(
    fc.property(cases, (doc) => {
      const text = JSON.stringify(doc) ?? '';
      const m = ourErrorsOnly(() => parseManifest(text, SOURCE));
      if (!m) return void refused++;
      accepted++;
      useAccepted(m);
    }),
    { numRuns: runs(4000) },
  );
  t.log(`manifests: ${real.map((r) => r.name).join(', ')}; ${accepted} mutated manifests accepted, ${refused} refused`);
  t.true(accepted > 0 && refused > 0);
});

test('parseManifest: every truncation of a real manifest is refused with ManifestError in one line', (t) => {
  for (const { name, manifest } of realManifests()) {
    const text = serializeManifest(manifest);
    // Every cut in the first and last 2 KiB, then every 97th byte: each must be refused, never half-read.
    const cuts = new Set<number>();
    for (let i = 0; i < Math.min(2048, text.length); i++) cuts.add(i);
    for (let i = Math.max(0, text.length - 2048); i < text.length; i++) cuts.add(i);
    for (let i = 0; i < text.length; i += 97) cuts.add(i);
    for (const cut of cuts) {
      const part = text.slice(0, cut);
      // A cut right after the closing brace leaves the whole object: that one parses.
      if (part.trimEnd() === text.trimEnd()) continue;
      try {
        parseManifest(part, SOURCE);
        t.fail(`${name}: a manifest cut at byte ${cut} of ${text.length} was accepted`);
        return;
      } catch (error) {
        assertOurError(error);
        if ((error as Error).constructor.name !== 'ManifestError') t.fail(`${name} cut at ${cut}: ${(error as Error).constructor.name}: ${(error as Error).message}`);
      }
    }
    t.log(`${name}: ${cuts.size} cuts of ${text.length} bytes, all refused`);
  }
  t.pass();
});

test('parseManifest: byte damage to real manifests gives a manifest or one error line', async (t) => {
  const real = realManifests().map((r) => serializeManifest(r.manifest));
  await checkProperty(
    fc.property(fc.constantFrom(...real), textDamage, (text, d) => {
      const m = ourErrorsOnly(() => parseManifest(damage(text, d).toString('utf8'), SOURCE));
      if (m) useAccepted(m);
    }),
    { numRuns: runs(3000) },
  );
  t.pass();
});
