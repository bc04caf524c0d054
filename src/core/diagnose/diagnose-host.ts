import path from 'node:path/posix';
import type { CdiFileFact, Finding, HookFileFact, HostFacts, NodeFact } from '../../model/diagnosis.js';
import type { Manifest } from '../../model/manifest.js';
import { buildCdiSpec } from '../plan/cdi-spec.js';
import { finding } from './diagnose.js';
import { sameManifestContent } from '../manifest/manifest-codec.js';

/** The nvidia major when /proc/devices does not say (fixed by the driver). */
const NVIDIA_MAJOR = 195;

/** A node the driver's state says should exist. */
export interface ExpectedNode {
  path: string;
  major: number;
  minor: number;
  /** What it is for, in messages ("GPU 0 (0000:3b:00.0)"). */
  what: string;
}

/**
 * Returns every host finding in chain order: driver, device nodes, persistence, GSP firmware,
 * manifest, CDI spec, hooks.d entries, cgroup version. Never throws.
 */
export function diagnoseHost(h: HostFacts): Finding[] {
  const cdi = checkCdi(h);
  const cdiUsable = cdi.every((f) => f.level !== 'fail') && h.cdi.files.some((f) => f.file === h.cdi.ours && f.spec);
  return [
    ...checkDriver(h),
    ...checkNodes(h),
    ...checkPersistence(h),
    ...checkFirmware(h),
    ...checkManifest(h),
    ...cdi,
    ...checkHooks(h, cdiUsable),
    ...checkCgroup(h),
  ];
}

/** Returns the finding on the loaded driver and the GPUs it reports. */
export function checkDriver(h: HostFacts): Finding[] {
  if (h.driverError) return [finding('host.driver', 'fail', h.driverError, 'the driver version file does not parse: check `dmesg | grep -i nvrm`')];
  if (!h.driver) {
    return [
      finding(
        'host.driver',
        'fail',
        `no NVIDIA kernel module is loaded under ${h.root} (no /sys/module/nvidia/version, no /proc/driver/nvidia/version)`,
        'load it (`modprobe nvidia`, or `nvidia-modprobe -c 0`); `dmesg | grep -i nvrm` says why it did not load',
      ),
    ];
  }
  const gpus = h.scan.gpus;
  if (gpus.length === 0) {
    return [
      finding('host.driver', 'warn', `driver ${h.driver.version} is loaded but /proc/driver/nvidia/gpus lists no GPU`, 'check `dmesg | grep -i nvrm` (a GPU that fell off the bus, or one this driver does not support)'),
    ];
  }
  const list = gpus.map((g) => `${g.model} ${g.pciBusId} /dev/nvidia${g.minor}`).join(', ');
  return [finding('host.driver', 'ok', `driver ${h.driver.version} loaded (${h.driver.source}); ${gpus.length} GPU${gpus.length === 1 ? '' : 's'}: ${list}`)];
}

/** Returns the nodes the driver's state calls for: one per GPU minor, nvidiactl, and the uvm pair when its module is loaded. */
export function expectedNodes(h: HostFacts): ExpectedNode[] {
  if (!h.driver) return [];
  const majors = h.majors ?? {};
  const nv = majors['nvidia'] ?? majors['nvidiactl'] ?? NVIDIA_MAJOR;
  const nodes: ExpectedNode[] = h.scan.gpus.map((g) => ({ path: `/dev/nvidia${g.minor}`, major: nv, minor: g.minor, what: `GPU ${g.index} (${g.pciBusId})` }));
  nodes.push({ path: '/dev/nvidiactl', major: nv, minor: 255, what: 'the control node' });
  const uvm = majors['nvidia-uvm'];
  if (uvm !== undefined) {
    nodes.push({ path: '/dev/nvidia-uvm', major: uvm, minor: 0, what: 'CUDA unified memory' });
    nodes.push({ path: '/dev/nvidia-uvm-tools', major: uvm, minor: 1, what: 'CUDA unified memory tools' });
  }
  return nodes;
}

/** Returns findings on /dev/nvidia*: missing nodes, wrong numbers, nodes no driver state explains. */
export function checkNodes(h: HostFacts): Finding[] {
  if (!h.driver) return [];
  const out: Finding[] = [];
  const majors = h.majors ?? {};
  const nv = majors['nvidia'] ?? majors['nvidiactl'] ?? NVIDIA_MAJOR;
  const uvm = majors['nvidia-uvm'];
  const byPath = new Map(h.nodes.map((n) => [n.path, n]));
  const expected = expectedNodes(h);
  const isUvm = (p: string) => p.startsWith('/dev/nvidia-uvm');
  for (const e of expected) {
    const n = byPath.get(e.path);
    if (!n) {
      if (isUvm(e.path)) {
        out.push(
          finding(
            'host.nodes',
            'fail',
            `${e.path} is missing, but the nvidia-uvm module is loaded (major ${e.major} in /proc/devices): uvm nodes are made by nvidia-modprobe, not by devtmpfs, so nothing created them`,
            `run \`nvidia-modprobe -u -c=0\` (or \`mknod -m 666 ${e.path} c ${e.major} ${e.minor}\`); CUDA in containers needs it`,
          ),
        );
      } else {
        out.push(
          finding(
            'host.nodes',
            'fail',
            `${e.path} (${e.what}, ${e.major}:${e.minor}) is missing: the driver does not create its nodes, nvidia-modprobe does (NVML and CUDA run it on the host)`,
            `run \`nvidia-modprobe -c ${e.minor === 255 ? 0 : e.minor}\` (or \`mknod -m 666 ${e.path} c ${e.major} ${e.minor}\`)`,
          ),
        );
      }
      continue;
    }
    const problem = nodeProblem(n, e.major, e.minor);
    if (problem) out.push(finding('host.nodes', 'fail', `${e.path} ${problem}, expected character device ${e.major}:${e.minor} (${e.what})`, replaceFix(e.path, e.major, e.minor)));
  }
  const gpuMinors = new Set(h.scan.gpus.map((g) => g.minor));
  for (const n of h.nodes) {
    const m = /^\/dev\/nvidia(\d+)$/.exec(n.path);
    if (m && !gpuMinors.has(Number(m[1]))) {
      out.push(finding('host.nodes', 'warn', `${n.path} belongs to no GPU (none has Device Minor ${m[1]}): a node the driver state does not explain`, `remove it if no GPU uses minor ${m[1]} (a leftover of another GPU set)`));
    }
    if (n.path === '/dev/nvidia-modeset') {
      const problem = nodeProblem(n, nv, 254);
      if (problem) out.push(finding('host.nodes', 'fail', `${n.path} ${problem}, expected character device ${nv}:254`, replaceFix(n.path, nv, 254)));
    }
    const cap = /^\/dev\/nvidia-caps\/nvidia-cap(\d+)$/.exec(n.path);
    const capsMajor = majors['nvidia-caps'];
    if (cap && capsMajor !== undefined) {
      const problem = nodeProblem(n, capsMajor, Number(cap[1]));
      if (problem) out.push(finding('host.nodes', 'fail', `${n.path} ${problem}, expected character device ${capsMajor}:${cap[1]} (nvidia-caps in /proc/devices)`, replaceFix(n.path, capsMajor, Number(cap[1]))));
    }
    if (isUvm(n.path) && uvm === undefined) {
      out.push(finding('host.nodes', 'warn', `${n.path} exists but the nvidia-uvm module is not loaded (not in /proc/devices): opening it fails with ENXIO`, 'run `nvidia-modprobe -u -c=0` to load it'));
    }
  }
  if (uvm === undefined && !h.nodes.some((n) => isUvm(n.path))) {
    out.push(finding('host.nodes', 'warn', 'the nvidia-uvm module is not loaded: CUDA in containers fails ("no CUDA-capable device is detected"); nvidia-smi still works', 'run `nvidia-modprobe -u -c=0` (loads nvidia-uvm and makes /dev/nvidia-uvm*)'));
  }
  if (!out.some((f) => f.level !== 'ok')) {
    const list = expected.map((e) => `${e.path} ${e.major}:${e.minor}`).join(', ');
    out.unshift(finding('host.nodes', 'ok', `every node is present with the numbers /proc/devices gives: ${list}`));
  }
  return out;
}

function nodeProblem(n: NodeFact, major: number, minor: number): string | null {
  if (n.kind !== 'char') return `is a ${n.kind === 'file' ? 'regular file' : n.kind}`;
  if (n.major !== major || n.minor !== minor) return `is ${n.major}:${n.minor}`;
  return null;
}

function replaceFix(p: string, major: number, minor: number): string {
  return `a stale or hand-made node: \`rm ${p} && mknod -m 666 ${p} c ${major} ${minor}\` (or remove it and let nvidia-modprobe make it)`;
}

/** Returns the finding on persistence: nvidia-persistenced's socket or process, or the watcher's keep-warm. */
export function checkPersistence(h: HostFacts): Finding[] {
  if (!h.driver) return [];
  const p = h.persistence;
  if (p.sockets.length || p.pids.length) {
    const what = [...p.pids.map((x) => `pid ${x}`), ...p.sockets].join(', ');
    return [finding('host.persistence', 'ok', `nvidia-persistenced is running (${what}): GPUs stay initialised between containers`)];
  }
  if (p.keepWarm.length) return [finding('host.persistence', 'ok', `oci-gpu-watch holds ${p.keepWarm.join(' ')} open (watch.keepWarm): GPUs stay initialised between containers`)];
  return [
    finding(
      'host.persistence',
      'warn',
      'no nvidia-persistenced (no /run/nvidia-persistenced/socket, no such process) and no keep-warm: the driver tears the GPUs down when the last client exits, and the next container pays their initialisation (seconds on large GPUs)',
      '`systemctl enable --now nvidia-persistenced`, or set watch.keepWarm: true in /etc/oci-gpu/config.json5',
    ),
  ];
}

/** Returns the finding on GSP firmware for the running driver version. */
export function checkFirmware(h: HostFacts): Finding[] {
  if (!h.driver) return [];
  const files = h.scan.files.filter((f) => f.kind === 'firmware');
  const v = h.driver.version;
  if (files.length) {
    return [finding('host.firmware', 'ok', `GSP firmware for ${v}: ${files.map((f) => f.containerPath).join(', ')}`)];
  }
  return [
    finding(
      'host.firmware',
      'warn',
      `no GSP firmware for driver ${v} (looked in /lib/firmware/nvidia/${v} and the driver folder's firmware/nvidia/${v}): Turing and newer GPUs on the open kernel module cannot start, and containers get no firmware mount`,
      `install the firmware files of driver ${v} (they ship with the driver; an upgrade that kept the old version's folder leaves them out)`,
    ),
  ];
}

/** Returns the finding on the manifest: present, parsable, for this root and driver, and equal to a fresh scan. */
export function checkManifest(h: HostFacts): Finding[] {
  const m = h.manifest;
  const rescan = `\`oci-gpu scan --output ${m.file}${h.root === '/' ? '' : ` --root ${h.root}`}\``;
  if (m.state === 'missing') {
    return [
      finding(
        'host.manifest',
        'fail',
        `manifest "${m.file}" does not exist: the hook and oci-gpu-runtime refuse every container that asks for a GPU`,
        `start the watcher (\`systemctl enable --now oci-gpu-watch\`), or write it once with ${rescan}`,
      ),
    ];
  }
  if (m.state === 'invalid') return [finding('host.manifest', 'fail', m.error, `rewrite it: ${rescan} (or restart oci-gpu-watch)`)];
  const manifest = m.manifest;
  if (manifest.root !== h.root) {
    return [finding('host.manifest', 'fail', `manifest "${m.file}" was written for root ${manifest.root}, not ${h.root}`, `point --manifest at this host's manifest, or ${rescan}`)];
  }
  const written = manifest.driver?.version ?? null;
  const loaded = h.driver?.version ?? null;
  if (written !== loaded) {
    return [
      finding(
        'host.manifest',
        'fail',
        `manifest "${m.file}" is stale: written for ${written ? `driver ${written}` : 'no driver'}, but ${loaded ? `driver ${loaded} is` : 'no driver is'} loaded: the hook refuses GPU containers until it is rewritten`,
        `is oci-gpu-watch running? (\`oci-gpu status\`); ${rescan} rewrites it now`,
      ),
    ];
  }
  if (!sameManifestContent(manifest, h.scan)) {
    return [
      finding(
        'host.manifest',
        'warn',
        `manifest "${m.file}" (generated ${manifest.generatedAt}) differs from a scan made now: ${manifestDifferences(manifest, h.scan).join('; ')}`,
        `the watcher has not caught up (\`oci-gpu status\`); ${rescan} rewrites it now`,
      ),
    ];
  }
  return [finding('host.manifest', 'ok', `manifest "${m.file}" (generated ${manifest.generatedAt}) matches ${loaded ? `driver ${loaded}` : 'the driverless host'} and a scan made now`)];
}

/** Returns short lines naming what differs between two manifests (GPUs, nodes, files, tools). */
export function manifestDifferences(written: Manifest, now: Manifest): string[] {
  const out: string[] = [];
  const diff = (what: string, a: string[], b: string[]) => {
    const added = b.filter((x) => !a.includes(x));
    const removed = a.filter((x) => !b.includes(x));
    if (added.length || removed.length) {
      const show = (xs: string[]) => xs.slice(0, 3).join(', ') + (xs.length > 3 ? ` (+${xs.length - 3})` : '');
      out.push(`${what}${added.length ? ` now also ${show(added)}` : ''}${added.length && removed.length ? ';' : ''}${removed.length ? ` no longer ${show(removed)}` : ''}`);
    }
  };
  diff('GPUs:', written.gpus.map((g) => `${g.uuid}@${g.pciBusId}`), now.gpus.map((g) => `${g.uuid}@${g.pciBusId}`));
  const nodes = (m: Manifest) =>
    [...m.controlNodes, ...m.capNodes, ...m.gpus.flatMap((g) => [...(g.edits.deviceNodes ?? []), ...g.driNodes]), ...Object.values(m.capabilities).flatMap((e) => e?.deviceNodes ?? [])].map(
      (n) => `${n.path} ${n.major}:${n.minor}`,
    );
  diff('device nodes:', nodes(written), nodes(now));
  diff('driver files:', written.files.map((f) => f.containerPath), now.files.map((f) => f.containerPath));
  if (JSON.stringify(written.tools) !== JSON.stringify(now.tools)) out.push('host tools (ldconfig, nsenter, sh) moved');
  if (!out.length) out.push('details (modes, capabilities or warnings) changed');
  return out;
}

/** Returns findings on CDI: our spec present and equal to what the manifest gives, and no other spec of the same kind. */
export function checkCdi(h: HostFacts): Finding[] {
  const c = h.cdi;
  const out: Finding[] = [];
  const ours = c.files.find((f) => f.file === c.ours);
  const generate = `\`oci-gpu cdi generate --output ${c.ours}${h.root === '/' ? '' : ` --root ${h.root}`}\``;
  if (!ours) {
    if (!c.enabled) out.push(finding('host.cdi', 'ok', `no CDI spec: cdi.enabled is false (Podman --device ${c.kind}=…, Docker ≥ 25, containerd and CRI-O cannot use oci-gpu's devices)`));
    else out.push(finding('host.cdi', 'warn', `no CDI spec at "${c.ours}": \`--device ${c.kind}=0\` (Podman, Docker ≥ 25, containerd, CRI-O) finds no such device`, `oci-gpu-watch writes it (cdi.enabled); or ${generate}`));
  } else if (!ours.spec || ours.error) {
    out.push(finding('host.cdi', 'fail', `CDI spec "${c.ours}" cannot be used: ${ours.error ?? 'not a JSON spec'}`, `rewrite it: ${generate}`));
  } else if (ours.kind !== c.kind) {
    out.push(finding('host.cdi', 'fail', `CDI spec "${c.ours}" declares kind ${ours.kind ?? '(none)'}, not ${c.kind}`, `rewrite it: ${generate}`));
  } else {
    const base = h.manifest.state === 'ok' ? h.manifest.manifest : h.scan;
    const against = h.manifest.state === 'ok' ? 'the manifest' : 'a scan made now (no usable manifest)';
    const expected = buildCdiSpec(base, { kind: c.kind, ...(c.container ? { container: c.container } : {}) });
    const spec = ours.spec as { devices?: { name?: string }[]; cdiVersion?: string };
    const names = (spec.devices ?? []).map((d) => String(d.name));
    const want = expected.devices.map((d) => d.name);
    if (canonical(spec) === canonical(expected)) {
      out.push(finding('host.cdi', 'ok', `CDI spec "${c.ours}" (${c.kind}, cdiVersion ${spec.cdiVersion}, devices ${names.join(', ') || 'none'}) matches ${against}`));
    } else {
      const missing = want.filter((n) => !names.includes(n));
      const extra = names.filter((n) => !want.includes(n));
      const what = missing.length || extra.length ? `devices differ (${[missing.length ? `missing ${missing.join(', ')}` : '', extra.length ? `extra ${extra.join(', ')}` : ''].filter(Boolean).join('; ')})` : 'the devices are the same but their edits (nodes, mounts, ld cache step) differ';
      out.push(finding('host.cdi', 'fail', `CDI spec "${c.ours}" does not match ${against}: ${what}; engines inject what it says, files of an old driver included`, `the watcher rewrites it on every change (is oci-gpu-watch running?); ${generate} rewrites it now`));
    }
    if (ours.dirIndex < 0) {
      out.push(finding('host.cdi', 'warn', `CDI spec "${c.ours}" lies outside the folders engines read (${c.dirs.join(', ')})`, 'set cdi.path to a file in /var/run/cdi or /etc/cdi'));
    }
  }
  out.push(...checkCdiDuplicates(c.files, c.kind, c.ours));
  return out;
}

function checkCdiDuplicates(files: CdiFileFact[], kind: string, ours: string): Finding[] {
  const same = files.filter((f) => f.kind === kind && f.dirIndex >= 0);
  const out: Finding[] = [];
  // Report each other file against ours (or, without ours, against the first one).
  const anchor = same.find((f) => f.file === ours) ?? same[0];
  if (!anchor) return out;
  for (const other of same) {
    if (other === anchor) continue;
    if (other.dirIndex === anchor.dirIndex) {
      out.push(
        finding(
          'host.cdi',
          'fail',
          `two CDI specs declare ${kind} in the same folder: "${anchor.file}" and "${other.file}": engines drop every device both define as conflicting ("unresolvable CDI devices")`,
          `remove "${other.file}" (e.g. an old \`nvidia-ctk cdi generate\` output; oci-gpu-watch keeps "${anchor.file}" true)`,
        ),
      );
    } else {
      const [low, high] = other.dirIndex < anchor.dirIndex ? [other, anchor] : [anchor, other];
      out.push(
        finding(
          'host.cdi',
          'warn',
          `two CDI specs declare ${kind}: "${anchor.file}" and "${other.file}": for names both define the one in the later folder ("${high.file}") wins, the other names still come from "${low.file}", which nothing keeps up to date`,
          `remove "${other.file}" (e.g. an old \`nvidia-ctk cdi generate\` output)`,
        ),
      );
    }
  }
  return out;
}

/** JSON with object keys sorted, so two specs compare equal whatever their key order. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_, x) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x));
}

const LEGACY_HOOK = /^(nvidia-container-runtime-hook|nvidia-container-toolkit)$/;

// Ours: an entry that runs oci-gpu-hook, or an oci-gpu*.json that does not even parse.
function runsOurHook(f: HookFileFact): boolean {
  const e = f.entry;
  return !!e && (path.basename(e.hook.path) === 'oci-gpu-hook' || e.hook.args?.[0] === 'oci-gpu-hook');
}

function isOurs(f: HookFileFact): boolean {
  return runsOurHook(f) || (!f.entry && f.name.startsWith('oci-gpu'));
}

function isLegacyNvidia(f: HookFileFact): boolean {
  return f.name === 'oci-nvidia-hook.json' || (!!f.entry && LEGACY_HOOK.test(path.basename(f.entry.hook.path)));
}

/**
 * Returns findings on hooks.d: our entries valid, pointing at an executable, not masked by a
 * same-named file in a later folder, in a folder Podman reads; and NVIDIA's legacy hook beside them.
 */
export function checkHooks(h: HostFacts, cdiUsable: boolean): Finding[] {
  const k = h.hooks;
  const out: Finding[] = [];
  const maskerOf = (f: HookFileFact) => k.files.filter((g) => g.name === f.name && g.dirIndex > f.dirIndex).sort((a, b) => b.dirIndex - a.dirIndex)[0];
  const ours = k.files.filter(isOurs);
  if (!ours.length) {
    out.push(
      finding(
        'host.hooks',
        cdiUsable ? 'warn' : 'fail',
        `no oci-gpu entry in ${k.dirs.join(', ')}: \`--annotation oci-gpu/devices=…\` does nothing with Podman${cdiUsable ? ' (CDI devices still work)' : ', and there is no usable CDI spec either: no container can get a GPU'}`,
        'run `oci-gpu install` (it places hooks.d/oci-gpu.json and the hook binary)',
      ),
    );
  }
  for (const f of ours) {
    const masker = maskerOf(f);
    if (masker) {
      const fine = runsOurHook(masker) && !!masker.binary && masker.executable;
      out.push(
        finding(
          'host.hooks',
          fine ? 'warn' : 'fail',
          `"${masker.file}" masks "${f.file}" (same name, later folder): only "${masker.file}" is used${fine ? '' : ', and it does not run a working oci-gpu hook'}`,
          fine ? `remove one of the two so what runs is obvious` : `remove "${masker.file}", or make it the oci-gpu entry`,
        ),
      );
      continue;
    }
    if (!f.entry) {
      out.push(finding('host.hooks', 'fail', `"${f.file}" is not a valid hooks.d entry: ${f.error ?? 'unreadable'}; Podman refuses to start any container while it is there`, 'reinstall it: `oci-gpu install`'));
      continue;
    }
    if (!f.binary) {
      out.push(
        finding(
          'host.hooks',
          'fail',
          `"${f.file}" runs "${f.entry.hook.path}", which does not exist: Podman silently skips the entry, so containers start without GPUs ("asked for nothing")`,
          `install the hook binary at "${f.entry.hook.path}" (\`oci-gpu install\`), or fix hook.path`,
        ),
      );
      continue;
    }
    if (!f.executable) {
      out.push(finding('host.hooks', 'fail', `"${f.file}" runs "${f.binary}", which is not executable: every container it matches fails to start`, `\`chmod 755 ${f.binary}\``));
      continue;
    }
    const podmanReads = k.podmanDirs === null || k.podmanDirs.includes(k.dirs[f.dirIndex]!);
    if (!podmanReads) {
      out.push(
        finding(
          'host.hooks',
          'warn',
          `"${f.file}" lies in a folder Podman does not read here (it reads ${k.podmanDirs!.join(', ')}: containers.conf hooks_dir, default /usr/share/containers/oci/hooks.d); CRI-O or \`podman --hooks-dir\` use it`,
          `put it in ${k.podmanDirs![0] ?? '/usr/share/containers/oci/hooks.d'}, or list its folder in containers.conf hooks_dir`,
        ),
      );
      continue;
    }
    const when = f.entry.when.always ? 'always' : f.entry.when.annotations ? `annotations ${Object.keys(f.entry.when.annotations).join(', ')}` : 'conditions';
    out.push(finding('host.hooks', 'ok', `"${f.file}": ${f.entry.stages.join(', ')} hook "${f.binary}" (when ${when})`));
  }
  for (const f of k.files.filter(isLegacyNvidia)) {
    if (maskerOf(f)) continue;
    out.push(
      finding(
        'host.hooks',
        'warn',
        `NVIDIA's legacy hook "${f.file}" (${f.entry?.hook.path ?? 'nvidia-container-runtime-hook'}) is installed beside oci-gpu: containers with NVIDIA_VISIBLE_DEVICES get their devices and libraries injected twice, and every start pays its ~70 ms`,
        `remove "${f.file}" (oci-gpu serves NVIDIA_VISIBLE_DEVICES with hooks.d/oci-gpu-nvidia-env.json)`,
      ),
    );
  }
  return out;
}

/** Returns the finding on the cgroup version and what it means for each way of injecting GPUs. */
export function checkCgroup(h: HostFacts): Finding[] {
  const { version, evidence } = h.cgroup;
  if (version === 'v2') {
    return [
      finding(
        'host.cgroup',
        'ok',
        `cgroup v2 (${evidence}): the runtime builds an eBPF device filter from the spec, so the precreate hook, oci-gpu-runtime and CDI work; createRuntime/prestart hooks cannot grant device access ("Failed to initialize NVML: Unknown Error")`,
      ),
    ];
  }
  if (version === 'v1' || version === 'hybrid') {
    return [
      finding(
        'host.cgroup',
        'ok',
        `cgroup v1 devices controller${version === 'hybrid' ? ' (hybrid: a v2 tree at /sys/fs/cgroup/unified)' : ''} (${evidence}): every injection path works; legacy createRuntime/prestart hooks write devices.allow, which \`systemctl daemon-reload\` can undo, so prefer precreate, oci-gpu-runtime or CDI`,
      ),
    ];
  }
  return [finding('host.cgroup', 'warn', `cannot tell the cgroup version (${evidence})`, 'mount cgroup2 at /sys/fs/cgroup (or the v1 devices controller at /sys/fs/cgroup/devices)')];
}
