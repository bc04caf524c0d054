// hooks.d/*.json checked the way Podman reads them (oci-hooks 1.0.0, containers/common pkg/hooks):
// version, hook.path, stages, `when`, regexes (Go RE2: no lookaround, no backreferences), plus our
// own rules (the binary's install path, a stage argument that matches the entry's stage, a minimal
// env). Then which annotations trigger the entries: with Podman's matching written in TS (every
// condition of `when` must match; every annotation pair of `annotations` must match some
// annotation) and with real Podman, crun and runc, which must agree with it.
import test from 'ava';
import { INSTALL_PATHS } from '../../src/core/install/install-layout.js';
import { fixtureManifest, hookBinary, repoHooksD, show, writeHooksDir, type HooksDEntry } from '../helpers/hook-env.js';
import { podmanRun, podmanTests, podmanUnavailableReason, RUNTIMES, type Runtime } from '../helpers/podman.js';

// Podman 4.x: runtime-spec stages plus its one extension stage.
const STAGES = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop', 'precreate'];
const HOOK_STAGES = ['precreate', 'createRuntime', 'prestart', 'ldcache']; // what oci-gpu-hook accepts as its stage argument
const KEYS = { top: ['version', 'hook', 'when', 'stages'], hook: ['path', 'args', 'env', 'timeout'], when: ['always', 'annotations', 'commands', 'hasBindMounts'] };

/** Compiles a pattern as Go's regexp would accept it; returns the problem or null. */
function goRegexProblem(pattern: string): string | null {
  // RE2 has no lookaround and no backreferences; JS would accept them and Podman would refuse the file.
  if (/\(\?<?[=!]/.test(pattern)) return 'lookaround is not RE2';
  if (/\\[1-9]/.test(pattern)) return 'backreferences are not RE2';
  try {
    new RegExp(pattern);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

/** Every problem Podman (or our install) would have with one hooks.d entry; [] when fine. */
function validateHooksD(e: unknown): string[] {
  const problems: string[] = [];
  const obj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!obj(e)) return ['must be an object'];
  for (const k of Object.keys(e)) if (!KEYS.top.includes(k)) problems.push(`${k}: unknown property (Podman ignores it)`);
  if (e.version !== '1.0.0') problems.push(`version: must be "1.0.0" (got ${JSON.stringify(e.version)})`);
  const hook = e.hook;
  if (!obj(hook)) problems.push('hook: required object');
  else {
    for (const k of Object.keys(hook)) if (!KEYS.hook.includes(k)) problems.push(`hook.${k}: unknown property`);
    if (typeof hook.path !== 'string' || !hook.path.startsWith('/')) problems.push('hook.path: must be an absolute path');
    if (hook.args !== undefined && (!Array.isArray(hook.args) || !hook.args.every((a) => typeof a === 'string'))) problems.push('hook.args: must be strings');
    if (hook.env !== undefined && (!Array.isArray(hook.env) || !hook.env.every((a) => typeof a === 'string' && /^[A-Za-z_][A-Za-z0-9_]*=/.test(a)))) {
      problems.push('hook.env: must be NAME=value strings');
    }
    if (hook.timeout !== undefined && !(Number.isInteger(hook.timeout) && (hook.timeout as number) > 0)) problems.push('hook.timeout: must be a positive integer');
  }
  const when = e.when;
  if (!obj(when)) problems.push('when: required object');
  else {
    for (const k of Object.keys(when)) {
      if (!KEYS.when.includes(k)) problems.push(`when.${k}: unknown property (Podman ignores it${k === 'or' ? ': 1.0.0 has no "or", every condition must match' : ''})`);
    }
    const conditions = KEYS.when.filter((k) => when[k] !== undefined);
    if (!conditions.length) problems.push('when: needs at least one of always, annotations, commands, hasBindMounts');
    if (when.always !== undefined && typeof when.always !== 'boolean') problems.push('when.always: must be a boolean');
    if (when.hasBindMounts !== undefined && typeof when.hasBindMounts !== 'boolean') problems.push('when.hasBindMounts: must be a boolean');
    if (when.annotations !== undefined) {
      if (!obj(when.annotations) || !Object.keys(when.annotations).length) problems.push('when.annotations: must be a non-empty object');
      else {
        for (const [k, v] of Object.entries(when.annotations)) {
          const kp = goRegexProblem(k);
          if (kp) problems.push(`when.annotations key ${JSON.stringify(k)}: ${kp}`);
          if (typeof v !== 'string') problems.push(`when.annotations[${JSON.stringify(k)}]: must be a string`);
          else {
            const vp = goRegexProblem(v);
            if (vp) problems.push(`when.annotations[${JSON.stringify(k)}] ${JSON.stringify(v)}: ${vp}`);
          }
        }
      }
    }
    if (when.commands !== undefined) {
      if (!Array.isArray(when.commands) || !when.commands.length) problems.push('when.commands: must be a non-empty array');
      else for (const c of when.commands) if (typeof c !== 'string' || goRegexProblem(c)) problems.push(`when.commands ${JSON.stringify(c)}: not a valid regex`);
    }
  }
  if (!Array.isArray(e.stages) || !e.stages.length) problems.push('stages: required non-empty array');
  else for (const s of e.stages) if (!STAGES.includes(s as string)) problems.push(`stages: unknown stage ${JSON.stringify(s)} (allowed: ${STAGES.join(', ')})`);
  return problems;
}

/** Podman's When.Match for a container (pkg/hooks/1.0.0/when.go): every condition set must match. */
function whenMatches(when: HooksDEntry['when'], annotations: Record<string, string>, args0 = '/bin/true', hasBindMounts = false): boolean {
  let matches = 0;
  if (when.always !== undefined) {
    if (!when.always) return false;
    matches++;
  }
  if (when.hasBindMounts !== undefined) {
    if (!(when.hasBindMounts && hasBindMounts)) return false;
    matches++;
  }
  for (const [kp, vp] of Object.entries(when.annotations ?? {})) {
    const hit = Object.entries(annotations).some(([k, v]) => new RegExp(kp).test(k) && new RegExp(vp).test(v));
    if (!hit) return false;
    matches++;
  }
  if (when.commands?.length) return when.commands.some((c) => new RegExp(c).test(args0));
  return matches > 0;
}

// ------------------------------------------------------------------------------ static checks

const entries = repoHooksD();

/** The entries `oci-gpu install` puts in place by default: all but the opt-in env entry. */
const DEFAULT_FILES = [...entries.keys()].filter((f) => f !== 'oci-gpu-nvidia-env.json');
/** Podman runs the hook when any default entry matches. */
const defaultTriggers = (annotations: Record<string, string>) => DEFAULT_FILES.some((f) => whenMatches(entries.get(f)!.when, annotations));

test('hooks.d has the default entry and the opt-in env entry', (t) => {
  t.true(entries.has('oci-gpu.json'));
  t.true(entries.has('oci-gpu-nvidia-env.json'));
});

for (const [file, entry] of entries) {
  test(`hooks.d/${file} is a valid oci-hooks 1.0.0 entry for Podman`, (t) => {
    t.deepEqual(validateHooksD(entry), []);
  });

  test(`hooks.d/${file} runs the installed binary with its own stage and a minimal env`, (t) => {
    t.is(entry.hook.path, INSTALL_PATHS.hook, 'hook.path must be where oci-gpu install puts the hook link');
    const args = entry.hook.args ?? [];
    t.is(args[0], 'oci-gpu-hook', 'args[0] is the program name the binary dispatches on');
    t.true(HOOK_STAGES.includes(args[1] ?? ''), `args[1] must be a stage of oci-gpu-hook, got ${args[1]}`);
    t.deepEqual(entry.stages, [args[1]], 'the entry must run the hook at the stage it names');
    t.deepEqual(entry.hook.env, ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], 'without env the runtime environment leaks into the hook');
    t.true((entry.hook.timeout ?? 0) > 0 && (entry.hook.timeout ?? 0) <= 30);
  });
}

test('the validator catches what Podman refuses or ignores', (t) => {
  const good: HooksDEntry = { version: '1.0.0', hook: { path: '/x' }, when: { always: true }, stages: ['precreate'] };
  t.deepEqual(validateHooksD(good), []);
  const bad = (e: unknown, re: RegExp) => t.true(validateHooksD(e).some((p) => re.test(p)), `${JSON.stringify(e)}: ${validateHooksD(e).join('; ')}`);
  bad({ ...good, version: '1.0' }, /^version/);
  bad({ ...good, hook: { path: 'oci-gpu-hook' } }, /^hook\.path/);
  bad({ ...good, stages: ['preStart'] }, /unknown stage/);
  bad({ ...good, stages: [] }, /^stages/);
  bad({ ...good, when: {} }, /at least one/);
  bad({ ...good, when: { annotations: { '^a(?=b)': '.*' } } }, /lookaround/);
  bad({ ...good, when: { annotations: { a: '(x' } } }, /when\.annotations/);
  bad({ ...good, when: { annotation: { a: 'b' } } }, /when\.annotation: unknown/);
  bad({ ...good, when: { always: true, or: true } }, /no "or"/);
  bad({ ...good, hook: { path: '/x', env: ['LD_PRELOAD'] } }, /hook\.env/);
});

// Which annotation sets must trigger the default entry (hooks.d/README.md): the oci-gpu/devices
// annotation, or an nvidia.com/gpu CDI name in a cdi.k8s.io/* annotation, each on its own.
const TRIGGER_CASES: { name: string; annotations: Record<string, string>; trigger: boolean }[] = [
  { name: 'oci-gpu/devices=all', annotations: { 'oci-gpu/devices': 'all' }, trigger: true },
  { name: 'oci-gpu/devices=none', annotations: { 'oci-gpu/devices': 'none' }, trigger: true },
  { name: 'cdi.k8s.io/x=nvidia.com/gpu=0', annotations: { 'cdi.k8s.io/x': 'nvidia.com/gpu=0' }, trigger: true },
  { name: 'cdi.k8s.io/x=vendor.example/fpga=0,nvidia.com/gpu=1', annotations: { 'cdi.k8s.io/x': 'vendor.example/fpga=0,nvidia.com/gpu=1' }, trigger: true },
  { name: 'both annotations', annotations: { 'oci-gpu/devices': '0', 'cdi.k8s.io/x': 'nvidia.com/gpu=0' }, trigger: true },
  { name: 'no annotations', annotations: {}, trigger: false },
  { name: 'org.example/x=nvidia.com/gpu=0', annotations: { 'org.example/x': 'nvidia.com/gpu=0' }, trigger: false },
  { name: 'cdi.k8s.io/x=vendor.example/fpga=0', annotations: { 'cdi.k8s.io/x': 'vendor.example/fpga=0' }, trigger: false },
  { name: 'cdi.k8s.io/x=notnvidia.com/gpu=0', annotations: { 'cdi.k8s.io/x': 'notnvidia.com/gpu=0' }, trigger: false },
  { name: 'oci-gpu/devices-extra=all', annotations: { 'oci-gpu/devices-extra': 'all' }, trigger: false },
  { name: 'x-oci-gpu/devices=all', annotations: { 'x-oci-gpu/devices': 'all' }, trigger: false },
];

test('the matcher follows Podman: every annotation pair of one entry must match', (t) => {
  const two = { annotations: { '^a$': '.*', '^b$': '.*' } };
  t.false(whenMatches(two, { a: '1' }));
  t.true(whenMatches(two, { a: '1', b: '2' }));
  t.true(whenMatches({ always: true }, {}));
  t.false(whenMatches({ always: false, annotations: { '^a$': '' } }, { a: '1' }));
  t.true(whenMatches({ annotations: { '^a$': 'x' } }, { a: 'yxz' }), 'Go MatchString is unanchored');
});

test('the default hooks.d entries trigger on oci-gpu/devices and on an nvidia.com/gpu CDI annotation, each alone (Podman semantics)', (t) => {
  const wrong = TRIGGER_CASES.filter((c) => defaultTriggers(c.annotations) !== c.trigger).map((c) => `${c.name}: ${c.trigger ? 'not triggered' : 'triggered'}`);
  const whens = DEFAULT_FILES.map((f) => `${f}: ${JSON.stringify(entries.get(f)!.when)}`).join('; ');
  t.deepEqual(wrong, [], `Podman ANDs the annotation pairs of one entry (${whens})`);
});

test('hooks.d/oci-gpu-nvidia-env.json triggers on every container', (t) => {
  const when = entries.get('oci-gpu-nvidia-env.json')!.when;
  for (const c of TRIGGER_CASES) t.true(whenMatches(when, c.annotations), c.name);
});

// ------------------------------------------------------------------------------- real Podman

const pod = podmanTests();

test.before(async (t) => {
  if (pod.skipped) return;
  t.is(podmanUnavailableReason(), undefined);
  await hookBinary();
  await fixtureManifest('rhel-2gpu');
});

const podmanTriggers = test.macro({
  async exec(t, runtime: Runtime) {
    const m = await fixtureManifest('rhel-2gpu');
    const observed: Record<string, boolean> = {};
    // podman 4.3 `--annotation` splits its value at commas (K=a,b gives K=a and b as a key): a CDI
    // comma list cannot be passed from the CLI, so those cases are only checked by the matcher above.
    const cases = TRIGGER_CASES.filter((c) => !Object.values(c.annotations).some((v) => v.includes(',')));
    t.true(cases.length >= TRIGGER_CASES.length - 1);
    await Promise.all(
      cases.map(async (c) => {
        // The repository's default entries as they are; only hook.path (a logging wrapper) and --manifest change.
        const hooks = await writeHooksDir({ manifest: m.file, wrap: true });
        const r = await podmanRun({ runtime, hooksDir: hooks.dir, annotations: c.annotations, args: ['/bin/true'] });
        t.is(r.exitCode, 0, `${c.name}: ${show(r)}\nhook stderr: ${hooks.stderr()}`);
        observed[c.name] = hooks.runs().length > 0;
      }),
    );
    const disagree = cases.filter((c) => observed[c.name] !== defaultTriggers(c.annotations)).map((c) => c.name);
    t.deepEqual(disagree, [], 'the TS matcher disagrees with Podman');
    const wrong = cases.filter((c) => observed[c.name] !== c.trigger).map((c) => `${c.name}: ${c.trigger ? 'not triggered' : 'triggered'}`);
    t.deepEqual(wrong, [], `Podman does not trigger the default entries (${DEFAULT_FILES.join(', ')}) as documented`);
  },
  title: (_ = '', runtime: Runtime) => `${runtime}: Podman triggers the default hooks.d entries exactly on the GPU annotations${pod.why}`,
});

for (const runtime of RUNTIMES) pod.test(podmanTriggers, runtime);
