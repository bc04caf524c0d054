// gRPC over unix sockets for the Kubernetes plugins: the one module that owns @grpc/grpc-js,
// @grpc/proto-loader and protobufjs. The .proto files are embedded as text (src/k8s/proto/protos.ts),
// so the compiled binary needs no files beside it.
import fs from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { FileError } from '../errors.js';
import { PROTOS } from '../k8s/proto/protos.js';

export { grpc };

/** A service constructor of a loaded package: a client class with `.service` for servers. */
export type ServiceClient = grpc.ServiceClientConstructor;

/** The services of the three kubelet APIs. */
export interface KubeletServices {
  /** pluginregistration v1: served by a DRA plugin on its registration socket. */
  pluginRegistration: ServiceClient;
  /** dra v1: served by a DRA plugin on its endpoint. */
  draPlugin: ServiceClient;
  /** deviceplugin v1beta1: served by the kubelet on kubelet.sock. */
  deviceRegistration: ServiceClient;
  /** deviceplugin v1beta1: served by a device plugin on its socket. */
  devicePlugin: ServiceClient;
}

let loaded: KubeletServices | undefined;

/** Loads the embedded protos once; fields keep their proto names (snake_case), maps and repeated fields default to empty. */
export function kubeletServices(): KubeletServices {
  if (loaded) return loaded;
  const load = (file: string): grpc.GrpcObject => {
    const root = protobuf.parse(PROTOS[file]!, { keepCase: true }).root;
    const def = protoLoader.fromJSON(root.toJSON(), { keepCase: true, longs: Number, enums: String, defaults: true, arrays: true, objects: true });
    return grpc.loadPackageDefinition(def);
  };
  const at = (o: grpc.GrpcObject, path: string) => path.split('.').reduce((x: any, k) => x[k], o) as ServiceClient;
  const reg = load('pluginregistration-v1.proto');
  const dra = load('dra-v1.proto');
  const dp = load('deviceplugin-v1beta1.proto');
  loaded = {
    pluginRegistration: at(reg, 'pluginregistration.Registration'),
    draPlugin: at(dra, 'k8s.io.kubelet.pkg.apis.dra.v1.DRAPlugin'),
    deviceRegistration: at(dp, 'v1beta1.Registration'),
    devicePlugin: at(dp, 'v1beta1.DevicePlugin'),
  };
  return loaded;
}

/** A running server on one unix socket. */
export interface UnixServer {
  socket: string;
  /** Stops accepting, ends open calls (streams included) and removes the socket file. */
  close(): Promise<void>;
}

/**
 * Serves `services` on the unix socket `socket`, replacing a stale socket file there (never a
 * file of another type: FileError). Resolves once it listens.
 */
export async function serveUnix(socket: string, services: { service: ServiceClient; impl: grpc.UntypedServiceImplementation }[]): Promise<UnixServer> {
  removeSocket(socket);
  fs.mkdirSync(path.dirname(socket), { recursive: true });
  const server = new grpc.Server();
  for (const s of services) server.addService(s.service.service, s.impl);
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix:${socket}`, grpc.ServerCredentials.createInsecure(), (error) =>
      error ? reject(new FileError(socket, `cannot listen on "${socket}": ${error.message}`, { cause: error })) : resolve(),
    ),
  );
  return {
    socket,
    close: async () => {
      server.forceShutdown();
      removeSocket(socket);
    },
  };
}

/** Removes a socket file (a missing one is fine); refuses to remove anything that is not a socket. */
export function removeSocket(socket: string): void {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(socket);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new FileError(socket, `"${socket}" exists and is not a socket: not replacing it`);
  fs.rmSync(socket, { force: true });
}

/** "<dev>:<ino>" of a socket file, or null when there is none: a new value means it was recreated. */
export function socketIdentity(socket: string): string | null {
  try {
    const st = fs.lstatSync(socket);
    return st.isSocket() ? `${st.dev}:${st.ino}` : null;
  } catch {
    return null;
  }
}

/** A client of `service` on a unix socket. */
export function unixClient<T = any>(service: ServiceClient, socket: string): T & grpc.Client {
  return new service(`unix:${socket}`, grpc.credentials.createInsecure()) as unknown as T & grpc.Client;
}

/** Calls a unary method as a promise, with a deadline. */
export function callUnary<Res>(client: grpc.Client, method: string, request: unknown, timeoutMs = 10_000): Promise<Res> {
  return new Promise((resolve, reject) => {
    (client as any)[method](request, { deadline: Date.now() + timeoutMs }, (error: grpc.ServiceError | null, response: Res) => (error ? reject(error) : resolve(response)));
  });
}

/** A gRPC status error for a handler's callback: `code` from grpc.status, one-line `message`. */
export function statusError(code: grpc.status, message: string): Partial<grpc.StatusObject> & Error {
  return Object.assign(new Error(message), { code, details: message });
}
