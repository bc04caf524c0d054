// `oci-gpu device-plugin`: a kubelet device plugin that is a view of the watcher's manifest. It
// advertises the GPUs (by UUID) with health that follows the manifest and the device nodes, and
// answers Allocate with CDI names of the watcher's own CDI spec.
import fs from 'node:fs';
import path from 'node:path';
import { watchContent, type ContentWatch } from '../adapters/file-poll.js';
import { callUnary, grpc, kubeletServices, serveUnix, socketIdentity, statusError, unixClient, type UnixServer } from '../adapters/grpc.js';
import { planAllocation, pluginDevices, preferredAllocation, UNHEALTHY, type PluginDevice } from '../core/k8s/device-plugin.js';
import { DEVICE_PLUGIN_VERSION } from '../core/k8s/names.js';
import { manifestUpdate } from './manifest-update.js';
import { formatError, RequestError } from '../errors.js';
import type { Logger } from '../model/logger.js';
import { MANIFEST_SCHEMA, type Manifest } from '../model/manifest.js';

export interface DevicePluginOptions {
  resourceName: string;
  /** The kubelet's device-plugins folder: kubelet.sock is there, and our socket goes there. */
  pluginDir: string;
  socketName: string;
  manifestPath: string;
  /** The kind of the watcher's CDI spec (its devices are named by UUID). */
  cdiKind: string;
  checkIntervalMs: number;
  log: Logger;
  /** Whether a device node exists (a host path); injected so tests can use plain files. */
  nodeExists?: (hostPath: string) => boolean;
}

const EMPTY: Manifest = { schema: MANIFEST_SCHEMA, generatedAt: '', root: '/', driver: null, gpus: [], controlNodes: [], capNodes: [], imexChannels: [], paramsMask: null, capabilities: {}, files: [], libraryDirs: [], tools: { ldconfig: '', nsenter: '', sh: '', awk: '', mount: '' }, warnings: [] };

export class DevicePlugin {
  private manifest: Manifest = EMPTY;
  private devices: PluginDevice[] = [];
  private streams = new Set<grpc.ServerWritableStream<unknown, unknown>>();
  private server: UnixServer | null = null;
  private ownIdentity: string | null = null;
  private kubeletIdentity: string | null = null;
  private registered = false;
  private watch: ContentWatch | null = null;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private busy = false;

  readonly socket: string;
  readonly kubeletSocket: string;

  constructor(private readonly o: DevicePluginOptions) {
    this.socket = path.join(o.pluginDir, o.socketName);
    this.kubeletSocket = path.join(o.pluginDir, 'kubelet.sock');
  }

  async start(): Promise<void> {
    this.watch = watchContent(this.o.manifestPath, this.o.checkIntervalMs, (t) => this.onManifest(t));
    await this.serve();
    await this.register();
    this.timer = setInterval(() => void this.tick(), this.o.checkIntervalMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.watch?.close();
    for (const s of this.streams) s.end();
    await this.server?.close();
  }

  private onManifest(text: string | null): void {
    const manifest = manifestUpdate(text, this.o.manifestPath, this.o.log);
    if (!manifest) return;
    this.manifest = manifest;
    this.refreshDevices();
  }

  // Recomputes health; sends the list to every ListAndWatch stream when it changed.
  private refreshDevices(): void {
    const exists = this.o.nodeExists ?? ((p: string) => fs.existsSync(p));
    const next = pluginDevices(this.manifest, this.devices.map((d) => d.ID), exists);
    if (JSON.stringify(next) === JSON.stringify(this.devices)) return;
    this.devices = next;
    this.o.log.info(`devices: ${next.map((d) => `${d.ID} ${d.health}`).join(', ') || 'none'}`);
    for (const s of this.streams) s.write({ devices: next });
  }

  private async tick(): Promise<void> {
    if (this.stopped || this.busy) return;
    this.busy = true;
    try {
      this.watch?.check();
      this.refreshDevices();
      // A kubelet restart removes every socket in its folder and makes a new kubelet.sock.
      const kubelet = socketIdentity(this.kubeletSocket);
      if (socketIdentity(this.socket) !== this.ownIdentity) {
        this.o.log.warn(`socket ${this.socket} vanished (kubelet restart?): serving it again`);
        await this.serve();
        this.registered = false;
      }
      if (kubelet !== this.kubeletIdentity || !this.registered) await this.register();
    } catch (error) {
      this.o.log.error(formatError(error));
    } finally {
      this.busy = false;
    }
  }

  private async serve(): Promise<void> {
    for (const s of this.streams) s.end();
    this.streams.clear();
    await this.server?.close();
    const { devicePlugin } = kubeletServices();
    this.server = await serveUnix(this.socket, [{ service: devicePlugin, impl: this.handlers() }]);
    this.ownIdentity = socketIdentity(this.socket);
    this.o.log.info(`serving the device plugin API on ${this.socket}`);
  }

  private async register(): Promise<void> {
    this.kubeletIdentity = socketIdentity(this.kubeletSocket);
    if (!this.kubeletIdentity) {
      this.registered = false;
      this.o.log.warn(`no kubelet socket at ${this.kubeletSocket} yet: will register when it appears`);
      return;
    }
    const { deviceRegistration } = kubeletServices();
    const client = unixClient(deviceRegistration, this.kubeletSocket);
    try {
      await callUnary(client, 'Register', {
        version: DEVICE_PLUGIN_VERSION,
        endpoint: this.o.socketName,
        resource_name: this.o.resourceName,
        options: { pre_start_required: false, get_preferred_allocation_available: true },
      });
      this.registered = true;
      this.o.log.info(`registered ${this.o.resourceName} with the kubelet (${this.kubeletSocket})`);
    } catch (error) {
      this.registered = false;
      this.o.log.error(`registering with the kubelet failed, retrying: ${(error as Error).message}`);
    } finally {
      client.close();
    }
  }

  private handlers(): grpc.UntypedServiceImplementation {
    return {
      GetDevicePluginOptions: (_call: unknown, cb: grpc.sendUnaryData<any>) => cb(null, { pre_start_required: false, get_preferred_allocation_available: true }),
      ListAndWatch: (call: grpc.ServerWritableStream<unknown, unknown>) => {
        this.streams.add(call);
        const drop = () => this.streams.delete(call);
        call.on('cancelled', drop);
        call.on('close', drop);
        call.on('error', drop);
        call.write({ devices: this.devices });
      },
      GetPreferredAllocation: (call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) => {
        const container_responses = (call.request.container_requests ?? []).map((r: any) => ({
          deviceIDs: preferredAllocation(this.manifest, r.available_deviceIDs ?? [], r.must_include_deviceIDs ?? [], r.allocation_size ?? 0),
        }));
        cb(null, { container_responses });
      },
      Allocate: (call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) => {
        try {
          const unhealthy = new Set(this.devices.filter((d) => d.health === UNHEALTHY).map((d) => d.ID));
          const container_responses = (call.request.container_requests ?? []).map((r: any) =>
            planAllocation(this.manifest, r.devices_ids ?? [], { cdiKind: this.o.cdiKind, annotationName: 'oci-gpu-device-plugin', unhealthy }),
          );
          this.o.log.info(`allocate: ${container_responses.map((c: any) => c.cdi_devices.map((d: any) => d.name).join(',')).join(' ')}`);
          cb(null, { container_responses });
        } catch (error) {
          this.o.log.error(formatError(error));
          cb(statusError(error instanceof RequestError ? grpc.status.INVALID_ARGUMENT : grpc.status.INTERNAL, formatError(error)));
        }
      },
      PreStartContainer: (_call: unknown, cb: grpc.sendUnaryData<any>) => cb(null, {}),
    };
  }
}
