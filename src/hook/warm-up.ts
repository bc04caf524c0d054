// Runs the precreate planning once, on made-up values, while the startup snapshot is built: the
// functions a container start needs are then already compiled in the snapshot instead of being
// parsed and compiled on every start. Pure calls only: nothing of it may touch the host.
import { parseManifest, serializeManifest } from '../core/manifest/manifest-codec.js';
import { editConfigForRequest } from '../core/plan/plan-config.js';
import { parseRequest } from '../core/request/request.js';
import { asOciConfig, requestInputs } from '../core/request/oci-config.js';
import { MANIFEST_SCHEMA, type Manifest } from '../model/manifest.js';

const node = (path: string, major: number, minor: number) => ({ path, type: 'c' as const, major, minor, fileMode: 0o666, uid: 0, gid: 0 });
const mount = (p: string) => ({ hostPath: p, containerPath: p, options: ['ro', 'nosuid', 'nodev', 'bind'] });

/** Plans one GPU request on a made-up manifest and config; returns the edited config's size. */
export function warmUp(): number {
  const manifest: Manifest = {
    schema: MANIFEST_SCHEMA,
    generatedAt: '2026-01-01T00:00:00.000Z',
    root: '/',
    driver: { version: '580.159.04', cudaVersion: '13.0', source: '/sys/module/nvidia/version' },
    gpus: [0, 1].map((i) => ({
      index: i,
      uuid: `GPU-00000000-0000-0000-0000-00000000000${i}`,
      pciBusId: `0000:0${i}:00.0`,
      model: 'NVIDIA H200',
      minor: i,
      brand: 'nvidia',
      architecture: '9.0',
      edits: { deviceNodes: [node(`/dev/nvidia${i}`, 195, i)] },
      driNodes: [],
    })),
    controlNodes: [node('/dev/nvidiactl', 195, 255)],
    capNodes: [],
    capabilities: {
      utility: { mounts: [mount('/usr/lib/libnvidia-ml.so.580.159.04')] },
      compute: { deviceNodes: [node('/dev/nvidia-uvm', 238, 0)], mounts: [mount('/usr/lib/libcuda.so.580.159.04')] },
    },
    files: [],
    libraryDirs: ['/usr/lib'],
    tools: { ldconfig: '/sbin/ldconfig.real', nsenter: '/usr/bin/nsenter', sh: '/bin/sh' },
    warnings: [],
  };
  const parsed = parseManifest(serializeManifest(manifest), 'warm-up');
  const config = JSON.parse('{"ociVersion":"1.0.2","process":{"env":["NVIDIA_REQUIRE_CUDA=cuda>=12.0"]},"root":{"path":"/r"},"annotations":{"oci-gpu/devices":"0,GPU-00000000-0000-0000-0000-000000000001"}}') as unknown;
  const { annotations, env } = requestInputs(config, 'warm-up');
  const request = parseRequest(annotations, env, 'nvidia.com/gpu')!;
  return JSON.stringify(editConfigForRequest(asOciConfig(config, 'warm-up'), parsed, request, '/r')).length;
}
