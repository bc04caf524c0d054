// `oci-gpu kubelet-plugin`: a DRA driver that is a view of the watcher's manifest. It registers
// with the kubelet's plugin watcher, publishes one ResourceSlice for its node (republished when the
// manifest changes), and prepares claims by writing one CDI spec per claim from the manifest.
import fs from 'node:fs';
import path from 'node:path';
import { readFileIfExists, writeFileAtomic } from '../adapters/atomic-write.js';
import { watchContent, type ContentWatch } from '../adapters/file-poll.js';
import { grpc, kubeletServices, serveUnix, socketIdentity, statusError, type UnixServer } from '../adapters/grpc.js';
import type { ClusterApi } from '../adapters/k8s-api.js';
import { emptyCheckpoint, parseCheckpoint, serializeCheckpoint, type Checkpoint } from '../core/k8s/checkpoint.js';
import { planClaim, type ClaimRef, type PreparedDevice } from '../core/k8s/claim-spec.js';
import { checkClaimUid, claimCdiKind, claimSpecFileName, DRA_PLUGIN_TYPE, DRA_SERVICE_VERSION } from '../core/k8s/names.js';
import { buildResourceSlice, planSliceSync } from '../core/k8s/resource-slice.js';
import { manifestUpdate } from './manifest-update.js';
import { FileError, formatError, RequestError } from '../errors.js';
import type { Logger } from '../model/logger.js';
import type { Capability, Manifest } from '../model/manifest.js';

export interface DraPluginOptions {
  driver: string;
  nodeName: string;
  manifestPath: string;
  /** Where claim specs go (the engine's CDI folder, /var/run/cdi). */
  cdiDir: string;
  /** The plugin's own folder: its DRA socket (dra.sock) and checkpoint (checkpoint.json). */
  pluginDir: string;
  /** The kubelet's plugin watcher folder (/var/lib/kubelet/plugins_registry). */
  registryDir: string;
  capabilities: Capability[];
  /** How often sockets, the manifest and a failed slice sync are looked at again. */
  checkIntervalMs: number;
  api: ClusterApi;
  log: Logger;
}

type ClaimResult = { devices: PreparedDevice[]; error: string };

export class DraPlugin {
  private manifest: Manifest | null = null;
  private checkpoint: Checkpoint;
  private draServer: UnixServer | null = null;
  private regServer: UnixServer | null = null;
  private regIdentity: string | null = null;
  private draIdentity: string | null = null;
  private watch: ContentWatch | null = null;
  private timer: NodeJS.Timeout | undefined;
  private sliceDirty = true;
  private syncing: Promise<void> | null = null;
  private nodeUid: string | null | undefined;
  /** Prepare, unprepare and checkpoint writes, one at a time. */
  private queue: Promise<unknown> = Promise.resolve();
  private stopped = false;

  readonly draSocket: string;
  readonly regSocket: string;
  readonly checkpointPath: string;

  constructor(private readonly o: DraPluginOptions) {
    this.draSocket = path.join(o.pluginDir, 'dra.sock');
    this.regSocket = path.join(o.registryDir, `${o.driver}-reg.sock`);
    this.checkpointPath = path.join(o.pluginDir, 'checkpoint.json');
    this.checkpoint = emptyCheckpoint(o.driver);
  }

  /** Loads the checkpoint, serves both sockets, publishes the slice and starts watching. */
  async start(): Promise<void> {
    fs.mkdirSync(this.o.pluginDir, { recursive: true, mode: 0o750 });
    const text = readFileIfExists(this.checkpointPath);
    if (text !== null) {
      this.checkpoint = parseCheckpoint(text, this.checkpointPath);
      this.o.log.info(`checkpoint ${this.checkpointPath}: ${Object.keys(this.checkpoint.claims).length} prepared claim(s)`);
    }
    this.watch = watchContent(this.o.manifestPath, this.o.checkIntervalMs, (t) => this.onManifest(t));
    await this.serveDra();
    await this.serveRegistration();
    this.timer = setInterval(() => void this.tick(), this.o.checkIntervalMs);
    void this.syncSlice();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.watch?.close();
    await this.regServer?.close();
    await this.draServer?.close();
    await this.syncing;
  }

  private onManifest(text: string | null): void {
    const manifest = manifestUpdate(text, this.o.manifestPath, this.o.log);
    if (!manifest) return;
    this.manifest = manifest;
    this.sliceDirty = true;
    void this.syncSlice();
  }

  // Sockets gone (a kubelet restart empties plugins_registry) are served again; a failed slice sync is retried.
  private async tick(): Promise<void> {
    if (this.stopped) return;
    try {
      if (socketIdentity(this.draSocket) !== this.draIdentity) {
        this.o.log.warn(`DRA socket ${this.draSocket} vanished: serving it again`);
        await this.serveDra();
      }
      if (socketIdentity(this.regSocket) !== this.regIdentity) {
        this.o.log.warn(`registration socket ${this.regSocket} vanished (kubelet restart?): registering again`);
        await this.serveRegistration();
      }
    } catch (error) {
      this.o.log.error(formatError(error));
    }
    this.watch?.check();
    if (this.sliceDirty) void this.syncSlice();
  }

  private async serveDra(): Promise<void> {
    await this.draServer?.close();
    const { draPlugin } = kubeletServices();
    this.draServer = await serveUnix(this.draSocket, [
      {
        service: draPlugin,
        impl: {
          NodePrepareResources: (call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) =>
            void this.enqueue(() => this.prepareAll(call.request.claims ?? [])).then((claims) => cb(null, { claims }), (e) => cb(statusError(grpc.status.INTERNAL, formatError(e)))),
          NodeUnprepareResources: (call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) =>
            void this.enqueue(() => this.unprepareAll(call.request.claims ?? [])).then((claims) => cb(null, { claims }), (e) => cb(statusError(grpc.status.INTERNAL, formatError(e)))),
        },
      },
    ]);
    this.draIdentity = socketIdentity(this.draSocket);
    this.o.log.info(`serving ${DRA_SERVICE_VERSION} on ${this.draSocket}`);
  }

  private async serveRegistration(): Promise<void> {
    await this.regServer?.close();
    const { pluginRegistration } = kubeletServices();
    this.regServer = await serveUnix(this.regSocket, [
      {
        service: pluginRegistration,
        impl: {
          GetInfo: (_call: unknown, cb: grpc.sendUnaryData<any>) =>
            cb(null, { type: DRA_PLUGIN_TYPE, name: this.o.driver, endpoint: this.draSocket, supported_versions: [DRA_SERVICE_VERSION] }),
          NotifyRegistrationStatus: (call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) => {
            const { plugin_registered, error } = call.request as { plugin_registered: boolean; error: string };
            if (plugin_registered) this.o.log.info(`registered with the kubelet as DRA driver ${this.o.driver}`);
            else this.o.log.error(`the kubelet refused the registration: ${error || 'no reason given'}`);
            cb(null, {});
          },
        },
      },
    ]);
    this.regIdentity = socketIdentity(this.regSocket);
    this.o.log.info(`registration socket ${this.regSocket}`);
  }

  private enqueue<T>(fn: () => Promise<T> | T): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** NodePrepareResources: a result (devices or error) for every claim, by UID. */
  async prepareAll(claims: ClaimRef[]): Promise<Record<string, ClaimResult>> {
    const out: Record<string, ClaimResult> = {};
    for (const claim of claims) {
      try {
        out[claim.uid] = { devices: await this.prepare(claim), error: '' };
      } catch (error) {
        const message = formatError(error);
        this.o.log.error(`prepare ${claim.namespace}/${claim.name}: ${message}`);
        out[claim.uid] = { devices: [], error: message };
      }
    }
    return out;
  }

  private async prepare(claim: ClaimRef): Promise<PreparedDevice[]> {
    const uid = checkClaimUid(claim.uid);
    const specFile = path.join(this.o.cdiDir, claimSpecFileName(this.o.driver, uid));
    const known = this.checkpoint.claims[uid];
    if (known && fs.existsSync(known.specFile)) return known.devices;
    if (!this.manifest) throw new RequestError(`no manifest at "${this.o.manifestPath}" yet: is the watcher running?`);
    const found = await this.o.api.getClaim(claim.namespace, claim.name);
    if (!found) throw new RequestError(`claim ${claim.namespace}/${claim.name} does not exist`);
    if (found.uid !== uid) throw new RequestError(`claim ${claim.namespace}/${claim.name} has uid ${found.uid}, not ${uid} (deleted and created again?)`);
    const prepared = planClaim(this.manifest, claim, found.results, {
      driver: this.o.driver,
      nodeName: this.o.nodeName,
      capabilities: this.o.capabilities,
    });
    writeFileAtomic(specFile, JSON.stringify(prepared.spec, null, 2) + '\n');
    this.checkpoint = {
      ...this.checkpoint,
      claims: { ...this.checkpoint.claims, [uid]: { claim: { namespace: claim.namespace, name: claim.name, uid }, specFile, devices: prepared.devices, gpuUuids: prepared.gpuUuids } },
    };
    this.saveCheckpoint();
    this.o.log.info(`prepared ${claim.namespace}/${claim.name}: ${prepared.devices.map((d) => d.cdi_device_ids.join(',')).join(' ')}`);
    return prepared.devices;
  }

  /** NodeUnprepareResources: an entry for every claim, by UID (error empty when done or nothing to do). */
  async unprepareAll(claims: ClaimRef[]): Promise<Record<string, { error: string }>> {
    const out: Record<string, { error: string }> = {};
    for (const claim of claims) {
      try {
        this.unprepare(claim);
        out[claim.uid] = { error: '' };
      } catch (error) {
        const message = formatError(error);
        this.o.log.error(`unprepare ${claim.namespace}/${claim.name}: ${message}`);
        out[claim.uid] = { error: message };
      }
    }
    return out;
  }

  private unprepare(claim: ClaimRef): void {
    const uid = checkClaimUid(claim.uid);
    const specFile = path.join(this.o.cdiDir, claimSpecFileName(this.o.driver, uid));
    removeOwnSpec(specFile, claimCdiKind(this.o.driver));
    if (this.checkpoint.claims[uid]) {
      const { [uid]: _gone, ...rest } = this.checkpoint.claims;
      this.checkpoint = { ...this.checkpoint, claims: rest };
      this.saveCheckpoint();
    }
    this.o.log.info(`unprepared ${claim.namespace}/${claim.name} (${uid})`);
  }

  private saveCheckpoint(): void {
    writeFileAtomic(this.checkpointPath, serializeCheckpoint(this.checkpoint), 0o600);
  }

  /** Makes the API server hold this node's slice for the current manifest; retried on the next tick when it fails. */
  syncSlice(): Promise<void> {
    if (this.syncing || !this.manifest || this.stopped) return this.syncing ?? Promise.resolve();
    this.sliceDirty = false;
    const manifest = this.manifest;
    this.syncing = (async () => {
      try {
        if (this.nodeUid === undefined) {
          this.nodeUid = await this.o.api.getNodeUid(this.o.nodeName).catch((error) => {
            this.o.log.warn(`slice without an owner (it will outlive a deleted node): ${formatError(error)}`);
            return null;
          });
        }
        const desired = buildResourceSlice(manifest, { driver: this.o.driver, nodeName: this.o.nodeName, generation: 1, ...(this.nodeUid ? { nodeUid: this.nodeUid } : {}) });
        const existing = await this.o.api.listSlices(this.o.driver, this.o.nodeName);
        for (const action of planSliceSync(existing, desired)) {
          if (action.op === 'create') await this.o.api.createSlice(action.slice);
          else if (action.op === 'update') await this.o.api.replaceSlice(action.slice);
          else await this.o.api.deleteSlice(action.name);
          this.o.log.info(`ResourceSlice: ${action.op} ${action.op === 'delete' ? action.name : `${action.slice.metadata.name} (generation ${action.slice.spec.pool.generation}, ${action.slice.spec.devices.length} device(s))`}`);
        }
      } catch (error) {
        this.sliceDirty = true;
        this.o.log.error(`publishing the ResourceSlice failed, retrying: ${formatError(error)}`);
      } finally {
        this.syncing = null;
      }
      // The manifest changed while we were publishing: publish again.
      if (this.manifest !== manifest && !this.stopped) await this.syncSlice();
    })();
    return this.syncing;
  }
}

/**
 * Removes a claim spec we wrote: a missing file is fine; a file of another kind, a folder or
 * anything but a regular file is left alone (FileError).
 */
function removeOwnSpec(file: string, kind: string): void {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch {
    return;
  }
  if (!st.isFile()) throw new FileError(file, `"${file}" is not a regular file: not removing it`);
  let specKind: unknown;
  try {
    specKind = (JSON.parse(fs.readFileSync(file, 'utf8')) as { kind?: unknown }).kind;
  } catch {
    specKind = undefined;
  }
  if (specKind !== kind) throw new FileError(file, `"${file}" is not a ${kind} spec: not removing it`);
  fs.rmSync(file);
}
