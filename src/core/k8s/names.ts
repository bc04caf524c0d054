// Names the Kubernetes plugins share: the DRA driver and its CDI kind, device names, claim UIDs.
import { RequestError } from '../../errors.js';
import type { Gpu } from '../../model/manifest.js';

/** The DRA driver name by default (a DNS subdomain; also the ResourceSlice's spec.driver). */
export const DEFAULT_DRIVER_NAME = 'gpu.oci-gpu.io';
/** The extended resource the device plugin advertises by default. */
export const DEFAULT_RESOURCE_NAME = 'oci-gpu.io/gpu';
/** What the kubelet's plugin watcher expects in PluginInfo.type for a DRA driver. */
export const DRA_PLUGIN_TYPE = 'DRAPlugin';
/** The gRPC service the DRA endpoint serves, as listed in PluginInfo.supported_versions (Kubernetes 1.34). */
export const DRA_SERVICE_VERSION = 'v1.DRAPlugin';
/** The device plugin API version sent in RegisterRequest. */
export const DEVICE_PLUGIN_VERSION = 'v1beta1';

const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const CLAIM_UID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Returns a problem with a DRA driver name (a DNS subdomain, at most 63 characters), or null. */
export function checkDriverName(name: string): string | null {
  if (name.length > 63 || !DNS_SUBDOMAIN.test(name)) return `"${name.slice(0, 80)}" is not a DNS subdomain of at most 63 characters`;
  return null;
}

/** Returns a problem with an extended resource name ("domain/name"), or null. */
export function checkResourceName(name: string): string | null {
  const [domain, local, ...rest] = name.split('/');
  if (rest.length || !domain || !local || checkDriverName(domain) || !/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(local)) {
    return `"${name.slice(0, 80)}" is not an extended resource name like ${DEFAULT_RESOURCE_NAME}`;
  }
  return null;
}

/** The CDI kind of the per-claim specs of a driver: "<driver>/claim". */
export function claimCdiKind(driver: string): string {
  return `${driver}/claim`;
}

/**
 * Returns a claim UID as given when it is a lower-case UUID (what the API server assigns); throws
 * RequestError otherwise. Validated before it becomes part of a file name.
 */
export function checkClaimUid(uid: string): string {
  if (!CLAIM_UID.test(uid)) throw new RequestError(`claim uid ${JSON.stringify(uid.slice(0, 80))} is not a UUID`);
  return uid;
}

/** The file name of a claim's CDI spec: "<driver>-claim_<uid>.json" (the driver prefix marks our files). */
export function claimSpecFileName(driver: string, uid: string): string {
  return `${driver}-claim_${checkClaimUid(uid)}.json`;
}

/** The ResourceSlice device name of a GPU: "gpu-<index>" (a DNS label). */
export function gpuDeviceName(gpu: Pick<Gpu, 'index'>): string {
  return `gpu-${gpu.index}`;
}
