import { ManifestError, ParseError } from '../../errors.js';
import type { ContainerEdits, DeviceNode, Hook, Mount } from '../../model/edits.js';
import { CAPABILITIES, MANIFEST_SCHEMA, type Manifest } from '../../model/manifest.js';
import { expect, expectArray, expectStrings, isObject, optional, type Problems } from '../check.js';

/** Returns the manifest as deterministic JSON text (fixed key order, trailing newline). */
export function serializeManifest(m: Manifest): string {
  return JSON.stringify(m, null, 2) + '\n';
}

/** Returns true when two manifests say the same thing, whatever their generation times. */
export function sameManifestContent(a: Manifest, b: Manifest): boolean {
  return serializeManifest({ ...a, generatedAt: '' }) === serializeManifest({ ...b, generatedAt: '' });
}

/**
 * Parses and validates manifest text read from `source`. Throws ManifestError when it is not
 * JSON (e.g. truncated) or of another schema version, ParseError listing dot-path problems otherwise.
 */
export function parseManifest(text: string, source: string): Manifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ManifestError(`manifest "${source}" is not valid JSON (truncated or corrupt): run \`oci-gpu scan --output ${source}\` or restart oci-gpu-watch`, { cause: error });
  }
  if (!isObject(value)) throw new ManifestError(`manifest "${source}" is not a JSON object`);
  if (value.schema !== MANIFEST_SCHEMA) {
    const schema = typeof value.schema === 'string' ? value.schema : JSON.stringify(value.schema);
    // Not String(): an object whose toString is not a function throws there.
    const version = /^oci-gpu\.manifest\/v(\d+)$/.exec(typeof value.schema === 'string' ? value.schema : '');
    const ours = Number(/\d+$/.exec(MANIFEST_SCHEMA)![0]);
    throw new ManifestError(
      version && Number(version[1]) > ours
        ? `manifest "${source}" has schema ${schema}, newer than this oci-gpu reads (${MANIFEST_SCHEMA}): upgrade oci-gpu`
        : version
          ? `manifest "${source}" has schema ${schema}, older than this oci-gpu reads (${MANIFEST_SCHEMA}): restart oci-gpu-watch (\`systemctl restart oci-gpu-watch\`) or run \`oci-gpu scan --output ${source}\``
          : `manifest "${source}" has schema ${schema}, expected ${MANIFEST_SCHEMA}`,
    );
  }
  const problems = checkManifest(value);
  if (problems.length) throw new ParseError(`manifest "${source}"`, problems);
  return value as unknown as Manifest;
}

function checkManifest(m: Record<string, unknown>): Problems {
  const p: Problems = [
    ...expect(m.generatedAt, 'string', 'generatedAt'),
    ...expect(m.root, 'string', 'root'),
    ...(m.driver === null
      ? []
      : isObject(m.driver)
        ? [
            ...expect(m.driver.version, 'string', 'driver.version'),
            ...expect(m.driver.cudaVersion, 'string', 'driver.cudaVersion'),
            ...expect(m.driver.maskedParams, 'string', 'driver.maskedParams'),
          ]
        : ['driver: must be an object or null']),
    ...expectArray(m.gpus, 'gpus', (g, at) =>
      isObject(g)
        ? [
            ...expect(g.index, 'integer', `${at}.index`),
            ...expect(g.uuid, 'string', `${at}.uuid`),
            ...expect(g.pciBusId, 'string', `${at}.pciBusId`),
            ...expect(g.model, 'string', `${at}.model`),
            ...expect(g.minor, 'integer', `${at}.minor`),
            ...expect(g.brand, 'string', `${at}.brand`),
            ...expect(g.architecture, 'string', `${at}.architecture`),
            ...checkEdits(g.edits, `${at}.edits`),
            ...expectArray(g.driNodes, `${at}.driNodes`, checkNode),
            ...(g.mig === null ? [] : expectArray(g.mig, `${at}.mig`, checkMigDevice)),
          ]
        : [`${at}: must be an object`],
    ),
    ...expectArray(m.controlNodes, 'controlNodes', checkNode),
    ...expectArray(m.capNodes, 'capNodes', checkNode),
    ...expectArray(m.imexChannels, 'imexChannels', checkNode),
    ...(m.paramsMask === null || (typeof m.paramsMask === 'string' && m.paramsMask.startsWith('/')) ? [] : ['paramsMask: must be an absolute path or null']),
    ...expectStrings(m.libraryDirs, 'libraryDirs'),
    ...expectStrings(m.warnings, 'warnings'),
    ...(isObject(m.tools)
      ? ['ldconfig', 'nsenter', 'sh', 'awk', 'mount'].flatMap((k) => expect((m.tools as Record<string, unknown>)[k], 'string', `tools.${k}`))
      : ['tools: must be an object']),
    ...expect(m.files, 'array', 'files'),
  ];
  if (!isObject(m.capabilities)) p.push('capabilities: must be an object');
  else
    for (const [cap, edits] of Object.entries(m.capabilities)) {
      if (!(CAPABILITIES as readonly string[]).includes(cap) && cap !== 'unclassified') p.push(`capabilities.${cap}: unknown capability`);
      p.push(...checkEdits(edits, `capabilities.${cap}`));
    }
  return p;
}

function checkMigDevice(d: unknown, at: string): Problems {
  if (!isObject(d)) return [`${at}: must be an object`];
  return [
    ...expect(d.index, 'integer', `${at}.index`),
    ...(typeof d.uuid === 'string' && /^MIG-[0-9A-Za-z-]{1,64}$/.test(d.uuid) ? [] : [`${at}.uuid: must be "MIG-…"`]),
    ...expect(d.gpuInstance, 'integer', `${at}.gpuInstance`),
    ...expect(d.computeInstance, 'integer', `${at}.computeInstance`),
    ...expect(d.profile, 'string', `${at}.profile`),
    ...checkEdits(d.edits, `${at}.edits`),
  ];
}

function checkEdits(e: unknown, at: string): Problems {
  if (!isObject(e)) return [`${at}: must be an object`];
  const edits = e as ContainerEdits;
  return [
    ...optional(edits.env, (v) => expectStrings(v, `${at}.env`)),
    ...optional(edits.deviceNodes, (v) => expectArray(v, `${at}.deviceNodes`, checkNode)),
    ...optional(edits.mounts, (v) => expectArray(v, `${at}.mounts`, checkMount)),
    ...optional(edits.hooks, (v) => expectArray(v, `${at}.hooks`, checkHook)),
  ];
}

function checkNode(n: unknown, at: string): Problems {
  if (!isObject(n)) return [`${at}: must be an object`];
  const node = n as unknown as DeviceNode;
  return [
    ...expect(node.path, 'string', `${at}.path`),
    ...(node.path?.startsWith?.('/dev/') && !node.path.split('/').includes('..') ? [] : [`${at}.path: must be under /dev/`]),
    ...optional(node.hostPath, (v) => expect(v, 'string', `${at}.hostPath`)),
    // The kernel's limits (12-bit major, 20-bit minor): a runtime cannot make any other node.
    ...inRange(node.major, 0, 4095, `${at}.major`),
    ...inRange(node.minor, 0, 1048575, `${at}.minor`),
    ...optional(node.type, (v) => (['c', 'b', 'u', 'p'].includes(v as string) ? [] : [`${at}.type: must be "c", "b", "u" or "p"`])),
    // What the config gets as fileMode, uid, gid and access: out-of-range values would make it invalid.
    ...optional(node.fileMode, (v) => inRange(v, 0, 0o777, `${at}.fileMode`)),
    ...optional(node.uid, (v) => uint32(v, `${at}.uid`)),
    ...optional(node.gid, (v) => uint32(v, `${at}.gid`)),
    ...optional(node.permissions, (v) => (typeof v === 'string' && /^[rwm]{1,3}$/.test(v) ? [] : [`${at}.permissions: must be letters of "rwm"`])),
  ];
}

function uint32(v: unknown, at: string): Problems {
  return inRange(v, 0, 0xffffffff, at);
}

function inRange(v: unknown, min: number, max: number, at: string): Problems {
  if (!Number.isInteger(v)) return [`${at}: must be an integer`];
  return (v as number) >= min && (v as number) <= max ? [] : [`${at}: must be from ${min} to ${max}`];
}

function checkMount(m: unknown, at: string): Problems {
  if (!isObject(m)) return [`${at}: must be an object`];
  const mount = m as unknown as Mount;
  return [
    ...expect(mount.hostPath, 'string', `${at}.hostPath`),
    ...expect(mount.containerPath, 'string', `${at}.containerPath`),
    ...(typeof mount.containerPath === 'string' && mount.containerPath.startsWith('/') && !mount.containerPath.split('/').includes('..')
      ? []
      : [`${at}.containerPath: must be an absolute path without ".."`]),
    ...optional(mount.options, (v) => expectStrings(v, `${at}.options`)),
    ...optional(mount.type, (v) => expect(v, 'string', `${at}.type`)),
  ];
}

const HOOK_NAMES = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'];

// Hooks run on the host: a malformed one must stop at the manifest, not reach a config.
function checkHook(h: unknown, at: string): Problems {
  if (!isObject(h)) return [`${at}: must be an object`];
  const hook = h as unknown as Hook;
  return [
    ...(HOOK_NAMES.includes(hook.hookName) ? [] : [`${at}.hookName: must be an OCI hook name`]),
    ...(typeof hook.path === 'string' && hook.path.startsWith('/') ? [] : [`${at}.path: must be an absolute path`]),
    ...optional(hook.args, (v) => expectStrings(v, `${at}.args`)),
    ...optional(hook.env, (v) => expectStrings(v, `${at}.env`)),
    ...optional(hook.timeout, (v) => (Number.isInteger(v) && (v as number) >= 1 ? [] : [`${at}.timeout: must be a positive integer`])),
  ];
}
