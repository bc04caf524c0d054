import path from 'node:path/posix';
import { RequestError } from '../../errors.js';
import type { ContainerFacts, Finding, LdCacheFact } from '../../model/diagnosis.js';
import type { OciDeviceCgroup } from '../../model/oci.js';
import type { ExpectedNode } from './diagnose-host.js';
import { finding } from './diagnose.js';
import { rulesAllow } from '../plan/device-rules.js';
import { parseDevicesList } from '../parse/parse-cgroup.js';
import { parseRequest, type GpuRequest } from '../request/request.js';

/** What the container checks need from the host: the loaded driver and the nodes it calls for. */
export interface HostView {
  driverVersion: string | null;
  expectedNodes: ExpectedNode[];
  cdiKind: string;
}

/** A driver library by file name (libcuda.so.580.159.04, libnvidia-ml.so.1, libGLX_nvidia.so.0...). */
const DRIVER_LIB = /^(libcuda|libnvidia-[\w-]+|libnvcuvid|libnvoptix|lib(?:GLX|EGL|GLESv1_CM|GLESv2)_nvidia|libvdpau_nvidia)\.so(\.|$)/;
/** The driver version in a library file name: driver versions have a three-digit major (550.54.15). */
const DRIVER_VERSION_SUFFIX = /\.so\.(\d{3}\.\d+(?:\.\d+)?)$/;
/** The sonames nvidia-smi (NVML) and CUDA programs load. */
const KEY_SONAMES = ['libnvidia-ml.so.1', 'libcuda.so.1'];

const HOOK_OR_CDI = 'start the container through the oci-gpu precreate hook (`--annotation oci-gpu/devices=all`), oci-gpu-runtime, or CDI (`--device nvidia.com/gpu=all`)';

/**
 * Returns the findings on a running container in the order a GPU program meets them: device
 * nodes, device cgroup, driver libraries, ld cache, nvidia-smi on PATH. The first failure is the
 * first broken link. Never throws.
 */
export function diagnoseContainer(c: ContainerFacts, host: HostView): Finding[] {
  const request = requestOf(c, host.cdiKind);
  const head = finding('container.process', 'ok', `container ${c.id ? c.id.slice(0, 12) : '(no id)'} pid ${c.pid}${c.runtime ? ` (${c.runtime})` : ''}, root ${c.rootPath}; asked for ${describeRequest(request)}`);
  const nodes = checkContainerNodes(c, host, request);
  const out = [head, ...nodes];
  // Without any node there is nothing to allow, and the libraries were not asked for either.
  if (nodes.some((f) => f.level === 'fail' && f.message.includes('no /dev/nvidia'))) return [...out, ...checkNvidiaSmi(c, request)];
  return [...out, ...checkContainerCgroup(c), ...checkLibraries(c, host), ...checkLdCache(c, host), ...checkNvidiaSmi(c, request)];
}

type Asked = GpuRequest | { error: string } | null;

function requestOf(c: ContainerFacts, kind: string): Asked {
  try {
    return parseRequest(c.annotations ?? {}, c.env, kind);
  } catch (error) {
    return { error: error instanceof RequestError ? error.message : String(error) };
  }
}

function describeRequest(r: Asked): string {
  if (r === null) return 'no GPU';
  if ('error' in r) return `something malformed (${r.error})`;
  return `${r.devices === 'all' ? 'all GPUs' : r.devices.length ? `GPUs ${r.devices.join(',')}` : 'no GPU (driver only)'} with ${r.capabilities.join(',')} via ${r.source}`;
}

/** Returns findings on /dev/nvidia* in the container: present, with the host's numbers, nvidiactl and uvm included. */
export function checkContainerNodes(c: ContainerFacts, host: HostView, request: Asked): Finding[] {
  // Only character devices count: a regular file at /dev/nvidia0 (an `open(O_CREAT)` in the container) is no node.
  const gpus = c.nodes.filter((n) => n.kind === 'char' && /^\/dev\/nvidia\d+$/.test(n.path));
  const ctl = c.nodes.find((n) => n.kind === 'char' && n.path === '/dev/nvidiactl');
  if (!gpus.length && !ctl) {
    if (request === null) {
      return [
        finding(
          'container.nodes',
          'fail',
          'no /dev/nvidia* in the container: it asked for nothing (no oci-gpu/devices annotation, no NVIDIA_VISIBLE_DEVICES, no CDI device), so no hook added any',
          `${HOOK_OR_CDI}; NVIDIA_VISIBLE_DEVICES alone needs hooks.d/oci-gpu-nvidia-env.json`,
        ),
      ];
    }
    const why = 'error' in request ? `its request is malformed (${request.error})` : `it asked for ${describeRequest(request)}`;
    return [
      finding(
        'container.nodes',
        'fail',
        `no /dev/nvidia* in the container although ${why}: the hook was not triggered (no hooks.d entry matches, or its binary is missing and Podman skipped it)`,
        'check the host with `oci-gpu doctor` (hooks.d entries); oci-gpu.json triggers on the oci-gpu/devices annotation, oci-gpu-nvidia-env.json on every container (NVIDIA_VISIBLE_DEVICES)',
      ),
    ];
  }
  const out: Finding[] = [];
  const expected = new Map(host.expectedNodes.map((e) => [e.path, e]));
  for (const n of c.nodes) {
    const e = expected.get(n.path);
    if (n.kind !== 'char') {
      out.push(finding('container.nodes', 'fail', `${n.path} in the container is a ${n.kind}, not a character device`, HOOK_OR_CDI));
    } else if (e && (e.major !== n.major || e.minor !== n.minor)) {
      out.push(
        finding(
          'container.nodes',
          'fail',
          `${n.path} is ${n.major}:${n.minor} in the container but ${e.major}:${e.minor} on the host: opens reach another device or none`,
          'restart the container (its nodes predate a driver reload, or were made by hand)',
        ),
      );
    }
  }
  if (gpus.length && !ctl) {
    out.push(finding('container.nodes', 'fail', '/dev/nvidia* GPU nodes but no /dev/nvidiactl: NVML and CUDA open the control node first and fail', HOOK_OR_CDI));
  }
  if (!c.nodes.some((n) => n.path === '/dev/nvidia-uvm')) {
    const hostHas = expected.has('/dev/nvidia-uvm');
    out.push(
      finding(
        'container.nodes',
        'warn',
        `no /dev/nvidia-uvm in the container: CUDA programs fail ("no CUDA-capable device is detected"); nvidia-smi works${hostHas ? '' : ' (the host has none either)'}`,
        hostHas ? 'ask for the compute capability (NVIDIA_DRIVER_CAPABILITIES=compute,utility or oci-gpu/capabilities)' : 'on the host: `nvidia-modprobe -u -c=0` (see `oci-gpu doctor`), then restart the container',
      ),
    );
  }
  if (!out.some((f) => f.level === 'fail')) {
    out.unshift(finding('container.nodes', 'ok', c.nodes.filter((n) => n.kind === 'char').map((n) => `${n.path} ${n.major}:${n.minor}`).join(', ')));
  }
  return out;
}

/**
 * Returns findings on the device cgroup: on v1 its devices.list (what the kernel enforces), else
 * the runtime's config (linux.resources.devices, from which the v2 eBPF filter is built).
 */
export function checkContainerCgroup(c: ContainerFacts): Finding[] {
  const nodes = c.nodes.filter((n) => n.kind === 'char');
  if (!nodes.length) return [];
  let rules: OciDeviceCgroup[];
  let method: string;
  if (c.cgroup.version === 'v1' && c.cgroup.devicesList) {
    rules = parseDevicesList(c.cgroup.devicesList.join('\n')).rules;
    method = `devices.list of its v1 cgroup ${c.cgroup.path}`;
  } else if (c.config) {
    rules = c.config.devices;
    method = `linux.resources.devices in ${c.config.file}${c.cgroup.version === 'v2' ? ' (cgroup v2: the runtime built its eBPF device filter from it)' : ''}`;
  } else {
    return [
      finding(
        'container.cgroup',
        'warn',
        `cannot tell whether the device cgroup allows the nodes: ${c.cgroup.version === 'v1' ? `devices.list of ${c.cgroup.path} is unreadable and ` : ''}the runtime's config was not found (${c.configError ?? 'unknown container'})`,
        'run doctor with the podman container id (`--container ID`), or as root',
      ),
    ];
  }
  const node = (n: { path: string; major: number; minor: number }) => ({ path: n.path, type: 'c' as const, major: n.major, minor: n.minor });
  const denied = nodes.filter((n) => !rulesAllow(rules, node(n)));
  if (denied.length) {
    const bound = denied.filter((n) => c.mounts.some((m) => m.mountPoint === n.path));
    return [
      finding(
        'container.cgroup',
        'fail',
        `the device cgroup denies ${denied.map((n) => `${n.path} (${n.major}:${n.minor})`).join(', ')} (${method}): every open fails with EPERM, so nvidia-smi says "Failed to initialize NVML: Unknown Error" and CUDA "no CUDA-capable device is detected"${bound.length ? `; ${bound.map((n) => n.path).join(', ')} ${bound.length === 1 ? 'is' : 'are'} bind-mounted (-v or a createRuntime/prestart hook), which never adds a cgroup rule` : ''}`,
        `${HOOK_OR_CDI}: they put the devices in the spec, so the runtime allows them (and systemctl daemon-reload cannot take that away)`,
      ),
    ];
  }
  const out = [finding('container.cgroup', 'ok', `the device cgroup allows ${nodes.map((n) => n.path).join(', ')} (${method})`)];
  if (c.cgroup.version === 'v1' && c.cgroup.devicesList && c.config) {
    const outOfBand = nodes.filter((n) => !rulesAllow(c.config!.devices, node(n)));
    if (outOfBand.length) {
      out.push(
        finding(
          'container.cgroup',
          'warn',
          `${outOfBand.map((n) => n.path).join(', ')} ${outOfBand.length === 1 ? 'is' : 'are'} allowed only by a rule written into devices.allow from outside (a legacy createRuntime/prestart hook), not by the container's spec: \`systemctl daemon-reload\` can take it away, and on cgroup v2 it is impossible`,
          HOOK_OR_CDI,
        ),
      );
    }
  }
  return out;
}

/** Returns findings on the driver libraries mounted into the container: present and of the loaded driver's version. */
export function checkLibraries(c: ContainerFacts, host: HostView): Finding[] {
  const libs = c.mounts.filter((m) => DRIVER_LIB.test(path.basename(m.mountPoint)));
  const cacheLibs = (c.ldCache?.entries ?? []).filter((e) => e.resolved);
  if (!libs.length) {
    if (cacheLibs.length) {
      return [finding('container.libraries', 'warn', `no driver library is mounted; the container's ld cache names its own (${cacheLibs.map((e) => e.resolved).join(', ')}): driver libraries baked into an image break on the next driver upgrade`, `${HOOK_OR_CDI} so the host's libraries are mounted`)];
    }
    return [
      finding(
        'container.libraries',
        'fail',
        'no NVIDIA driver library in the container (none mounted, none in its ld cache): nvidia-smi says "couldn\'t find libnvidia-ml.so", CUDA "libcuda.so.1: cannot open shared object file"',
        `${HOOK_OR_CDI} with the utility and compute capabilities; \`--device\` or -v of the nodes alone brings no libraries`,
      ),
    ];
  }
  const v = host.driverVersion;
  const wrong = libs
    .map((m) => ({ m, version: versionOf(m.mountPoint) ?? versionOf(m.root) }))
    .filter((x) => x.version !== null && v !== null && x.version !== v);
  if (wrong.length) {
    return [
      finding(
        'container.libraries',
        'fail',
        `driver libraries of another version are mounted: ${wrong.slice(0, 3).map((x) => `${x.m.mountPoint} (${x.version})`).join(', ')}${wrong.length > 3 ? ` and ${wrong.length - 3} more` : ''}, but driver ${v} is loaded: nvidia-smi says "Failed to initialize NVML: Driver/library version mismatch"`,
        'the manifest or CDI spec was stale when it started: restart the container once `oci-gpu status` says OK',
      ),
    ];
  }
  const key = libs.filter((m) => /^lib(cuda|nvidia-ml)\.so/.test(path.basename(m.mountPoint))).map((m) => m.mountPoint);
  return [finding('container.libraries', 'ok', `${libs.length} driver librar${libs.length === 1 ? 'y' : 'ies'} mounted${v ? `, of driver ${v}` : ''}${key.length ? ` (${key.join(', ')})` : ''}`)];
}

/** Returns findings on the container's ld cache: it lists libnvidia-ml.so.1 and libcuda.so.1, leading to the loaded driver's files. */
export function checkLdCache(c: ContainerFacts, host: HostView): Finding[] {
  const libs = c.mounts.filter((m) => DRIVER_LIB.test(path.basename(m.mountPoint)));
  const mountedAs = (soname: string) => libs.find((m) => path.basename(m.mountPoint).startsWith(soname.replace(/\.\d+$/, '')));
  const cacheNames = new Set((c.ldCache?.entries ?? []).map((e) => e.name));
  // Check what was mounted; with nothing mounted, whatever the cache claims.
  const wanted = KEY_SONAMES.filter((s) => (libs.length ? mountedAs(s) : cacheNames.has(s)));
  if (!wanted.length) return [];
  const ld = c.ldCache;
  const fix = 'the ld cache step did not run: bind mounts (-v) never update the cache; the oci-gpu hook and CDI run `ldconfig -r <rootfs>` after mounting (or run `ldconfig` inside the container)';
  if (!ld) {
    return [finding('container.ldcache', 'fail', `the container has no /etc/ld.so.cache: ${wanted.join(' and ')} cannot be found by soname ("couldn't find libnvidia-ml.so")`, `${fix}; a musl image (Alpine) cannot load the driver's glibc libraries at all`)];
  }
  if (ld.error) return [finding('container.ldcache', 'fail', `the container's ld cache "${ld.file}" does not parse: ${ld.error}`, fix)];
  const out: Finding[] = [];
  const good: string[] = [];
  for (const soname of wanted) {
    const entry = first64(ld.entries, soname);
    const mounted = mountedAs(soname);
    if (!entry) {
      out.push(
        finding(
          'container.ldcache',
          'fail',
          `the container's ld cache does not list ${soname}${mounted ? ` although ${mounted.mountPoint} is mounted` : ''}: ${soname.startsWith('libnvidia-ml') ? 'nvidia-smi says "NVIDIA-SMI couldn\'t find libnvidia-ml.so library in your system"' : 'CUDA programs say "libcuda.so.1: cannot open shared object file"'}`,
          fix,
        ),
      );
    } else if (!entry.resolved) {
      out.push(finding('container.ldcache', 'fail', `the ld cache's ${soname} points at ${entry.path}, which does not exist in the container`, fix));
    } else {
      const version = versionOf(entry.resolved);
      if (version && host.driverVersion && version !== host.driverVersion) {
        out.push(
          finding(
            'container.ldcache',
            'fail',
            `the ld cache's ${soname} leads to ${entry.resolved} (driver ${version}) but driver ${host.driverVersion} is loaded: the image carries its own driver libraries ("Driver/library version mismatch")`,
            'remove the driver libraries from the image (they must come from the host), then restart it through the oci-gpu hook or CDI',
          ),
        );
      } else good.push(`${soname} → ${entry.resolved}`);
    }
  }
  if (!out.length) out.push(finding('container.ldcache', 'ok', `the ld cache lists ${good.join(', ')}`));
  return out;
}

/** Returns the finding on nvidia-smi: on the container's PATH, a failure when the utility capability was asked for. */
export function checkNvidiaSmi(c: ContainerFacts, request: Asked): Finding[] {
  if (c.nvidiaSmi) return [finding('container.nvidia-smi', 'ok', `nvidia-smi on PATH at ${c.nvidiaSmi}`)];
  const wantsUtility = request === null || 'error' in request || request.capabilities.includes('utility');
  return [
    finding(
      'container.nvidia-smi',
      wantsUtility ? 'fail' : 'warn',
      `nvidia-smi is not on the container's PATH (${c.pathDirs.join(':')}): "nvidia-smi: command not found"${wantsUtility ? '' : ' (the utility capability was not asked for)'}`,
      'ask for the utility capability (NVIDIA_DRIVER_CAPABILITIES=compute,utility or annotation oci-gpu/capabilities); the hook mounts driver programs at /usr/bin',
    ),
  ];
}

function first64(entries: LdCacheFact[], soname: string): LdCacheFact | undefined {
  return entries.find((e) => e.name === soname && e.arch !== 'i386' && e.arch !== 'x32');
}

function versionOf(p: string): string | null {
  return DRIVER_VERSION_SUFFIX.exec(path.basename(p))?.[1] ?? null;
}
