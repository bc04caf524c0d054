// The API server, through @kubernetes/client-node with the pod's service account (or $KUBECONFIG):
// the one module that owns that client. Loaded only by the Kubernetes plugins.
import type { ResourceSlice } from '../core/k8s/resource-slice.js';
import { SLICE_LABEL } from '../core/k8s/resource-slice.js';
import type { AllocationResult } from '../core/k8s/claim-spec.js';
import { OciGpuError } from '../errors.js';

/** What the plugins ask of the API server; tests run the plugins in-process with a fake of this. */
export interface ClusterApi {
  /** Our slices of this node (by our label), as the server holds them. */
  listSlices(driver: string, nodeName: string): Promise<ResourceSlice[]>;
  createSlice(slice: ResourceSlice): Promise<void>;
  /** Replaces a slice; `metadata.resourceVersion` makes it fail on a concurrent change. */
  replaceSlice(slice: ResourceSlice): Promise<void>;
  deleteSlice(name: string): Promise<void>;
  /** A claim's UID and its allocation results, or null when the claim does not exist. */
  getClaim(namespace: string, name: string): Promise<{ uid: string; results: AllocationResult[] } | null>;
  /** The node's UID (for the slice's owner reference), or null when it cannot be read. */
  getNodeUid(name: string): Promise<string | null>;
}

/** A failed API call: the verb and object in the message, the HTTP status in `status`. */
export class ApiError extends OciGpuError {
  constructor(message: string, readonly status: number | undefined, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * Returns the ClusterApi of the default kubeconfig: $KUBECONFIG, ~/.kube/config, or the pod's
 * service account (in-cluster). Throws ApiError when none is usable.
 */
export async function createClusterApi(): Promise<ClusterApi> {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  try {
    kc.loadFromDefault();
  } catch (error) {
    throw new ApiError(`cannot load a kubeconfig or the service account: ${(error as Error).message}`, undefined, { cause: error });
  }
  if (!kc.getCurrentCluster()) throw new ApiError('no API server: not in a pod with a service account, and no $KUBECONFIG', undefined);
  const resource = kc.makeApiClient(k8s.ResourceV1Api);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const call = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (error) {
      const status = (error as { code?: number }).code;
      const body = String((error as { body?: unknown }).body ?? '');
      const reason = /"message":\s*"([^"]{1,200})/.exec(body)?.[1] ?? (error as Error).message.split('\n')[0];
      throw new ApiError(`${what}: ${status ? `HTTP ${status}: ` : ''}${reason}`, status, { cause: error });
    }
  };
  const notFound = (error: unknown) => error instanceof ApiError && error.status === 404;
  return {
    listSlices: (driver, nodeName) =>
      call(`list ResourceSlices of node ${nodeName}`, async () => {
        const list = await resource.listResourceSlice({ labelSelector: `${SLICE_LABEL}=${nodeName}`, fieldSelector: `spec.nodeName=${nodeName}` });
        return list.items.map((s) => toWire(s) as ResourceSlice).filter((s) => s.spec.driver === driver);
      }),
    createSlice: (slice) => call(`create ResourceSlice ${slice.metadata.name}`, async () => void (await resource.createResourceSlice({ body: toModel(slice) }))),
    replaceSlice: (slice) =>
      call(`update ResourceSlice ${slice.metadata.name}`, async () => void (await resource.replaceResourceSlice({ name: slice.metadata.name, body: toModel(slice) }))),
    deleteSlice: (name) =>
      call(`delete ResourceSlice ${name}`, async () => void (await resource.deleteResourceSlice({ name }))).catch((error) => {
        if (!notFound(error)) throw error;
      }),
    getClaim: async (namespace, name) => {
      try {
        const claim = await call(`get ResourceClaim ${namespace}/${name}`, () => resource.readNamespacedResourceClaim({ namespace, name }));
        const results = claim.status?.allocation?.devices?.results ?? [];
        return { uid: claim.metadata?.uid ?? '', results: results.map((r) => ({ request: r.request, driver: r.driver, pool: r.pool, device: r.device })) };
      } catch (error) {
        if (notFound(error)) return null;
        throw error;
      }
    },
    getNodeUid: async (name) => {
      const node = await call(`get Node ${name}`, () => core.readNode({ name }));
      return node.metadata?.uid ?? null;
    },
  };
}

// The generated models rename a field the API calls "int" to "_int" (DeviceAttribute); every other
// field of a ResourceSlice keeps its wire name. Converted both ways here, so core sees the API's JSON.
function toModel(slice: ResourceSlice): any {
  return mapAttributes(slice, (a) => ('int' in a ? { _int: (a as { int: number }).int } : a));
}
function toWire(slice: unknown): unknown {
  return mapAttributes(slice as ResourceSlice, (a) => ('_int' in a ? { int: (a as { _int: number })._int } : a));
}
function mapAttributes(slice: ResourceSlice, f: (a: object) => object): ResourceSlice {
  const devices = (slice.spec?.devices ?? []).map((d) => ({
    ...d,
    attributes: Object.fromEntries(Object.entries(d.attributes ?? {}).map(([k, v]) => [k, f(v)])),
  }));
  return { ...slice, spec: { ...slice.spec, devices } } as ResourceSlice;
}
