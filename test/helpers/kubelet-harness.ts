// A kubelet, as far as the plugins can tell: it speaks the kubelet's side of the real protocols
// (plugin registration v1 + DRA v1; device plugin v1beta1) over real unix sockets, with the same
// .proto files the plugins use (test/unit/k8s-protos.test.ts checks their field numbers against
// hand-encoded bytes). Also runs a plugin process and reads its log.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { callUnary, grpc, kubeletServices, serveUnix, unixClient, type UnixServer } from '../../src/adapters/grpc.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns a value (not undefined/false) or `timeoutMs` passes; then throws with `what`. */
export async function waitUntil<T>(check: () => T | undefined | false | Promise<T | undefined | false>, what: string | (() => string), timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await sleep(50);
  }
}

// ------------------------------------------------------------------------------ DRA side

/** GetInfo on a plugin's registration socket, as the kubelet's plugin watcher does. */
export async function getInfo(regSocket: string): Promise<{ type: string; name: string; endpoint: string; supported_versions: string[] }> {
  const client = unixClient(kubeletServices().pluginRegistration, regSocket);
  try {
    return await callUnary(client, 'GetInfo', {});
  } finally {
    client.close();
  }
}

export async function notifyRegistrationStatus(regSocket: string, registered: boolean, error = ''): Promise<void> {
  const client = unixClient(kubeletServices().pluginRegistration, regSocket);
  try {
    await callUnary(client, 'NotifyRegistrationStatus', { plugin_registered: registered, error });
  } finally {
    client.close();
  }
}

export interface Claim {
  namespace: string;
  name: string;
  uid: string;
}
export interface PreparedDeviceMsg {
  request_names: string[];
  pool_name: string;
  device_name: string;
  cdi_device_ids: string[];
}

export async function nodePrepareResources(endpoint: string, claims: Claim[]): Promise<Record<string, { devices: PreparedDeviceMsg[]; error: string }>> {
  const client = unixClient(kubeletServices().draPlugin, endpoint);
  try {
    return (await callUnary<{ claims: Record<string, { devices: PreparedDeviceMsg[]; error: string }> }>(client, 'NodePrepareResources', { claims })).claims;
  } finally {
    client.close();
  }
}

export async function nodeUnprepareResources(endpoint: string, claims: Claim[]): Promise<Record<string, { error: string }>> {
  const client = unixClient(kubeletServices().draPlugin, endpoint);
  try {
    return (await callUnary<{ claims: Record<string, { error: string }> }>(client, 'NodeUnprepareResources', { claims })).claims;
  } finally {
    client.close();
  }
}

// ----------------------------------------------------------------------- device plugin side

export interface RegisterRequest {
  version: string;
  endpoint: string;
  resource_name: string;
  options: { pre_start_required: boolean; get_preferred_allocation_available: boolean } | null;
}

/** The kubelet's Registration service on `<dir>/kubelet.sock`, recording each Register call. */
export interface KubeletRegistration {
  socket: string;
  registrations: RegisterRequest[];
  close(): Promise<void>;
}

export async function startKubeletRegistration(socket: string): Promise<KubeletRegistration> {
  const registrations: RegisterRequest[] = [];
  const server: UnixServer = await serveUnix(socket, [
    {
      service: kubeletServices().deviceRegistration,
      impl: {
        Register: (call: grpc.ServerUnaryCall<RegisterRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => {
          registrations.push(call.request);
          cb(null, {});
        },
      },
    },
  ]);
  return { socket, registrations, close: () => server.close() };
}

export interface DeviceMsg {
  ID: string;
  health: string;
}

/** A ListAndWatch stream: every message kept in order; `next` waits for one more. */
export interface DeviceStream {
  messages: DeviceMsg[][];
  /** Resolves with the first message after the `seen`-th that satisfies `pred`. */
  waitFor(pred: (devices: DeviceMsg[]) => boolean, what: string, timeoutMs?: number): Promise<DeviceMsg[]>;
  ended: () => boolean;
  close(): void;
}

export function listAndWatch(endpoint: string): DeviceStream {
  const client = unixClient(kubeletServices().devicePlugin, endpoint);
  const messages: DeviceMsg[][] = [];
  let ended = false;
  const call = (client as any).ListAndWatch({}) as grpc.ClientReadableStream<{ devices: DeviceMsg[] }>;
  call.on('data', (m) => messages.push(m.devices));
  call.on('error', () => (ended = true));
  call.on('end', () => (ended = true));
  return {
    messages,
    waitFor: (pred, what, timeoutMs = 30_000) => waitUntil(() => messages.find(pred), () => `ListAndWatch: ${what}; got ${JSON.stringify(messages)}`, timeoutMs),
    ended: () => ended,
    close: () => {
      call.cancel();
      client.close();
    },
  };
}

export async function devicePluginCall<T>(endpoint: string, method: string, request: unknown): Promise<T> {
  const client = unixClient(kubeletServices().devicePlugin, endpoint);
  try {
    return await callUnary<T>(client, method, request);
  } finally {
    client.close();
  }
}

// ----------------------------------------------------------------------------- the plugin process

export interface PluginProcess {
  child: ChildProcess;
  /** stderr so far (the plugin logs there). */
  log(): string;
  waitForLog(re: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGTERM, then SIGKILL after 5 s; resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL: a crash, with no cleanup. */
  kill(): Promise<void>;
}

/** Starts `bin args` with a minimal environment (+ `env`); its stderr is collected. */
export function startPlugin(bin: string, args: string[], env: Record<string, string> = {}): PluginProcess {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', ...env } });
  let text = '';
  child.stdout!.on('data', (d: Buffer) => (text += d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => (text += d.toString('utf8')));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return {
    child,
    log: () => text,
    waitForLog: (re, timeoutMs = 30_000) => waitUntil(() => re.exec(text)?.[0] ?? (child.exitCode !== null ? Promise.reject(new Error(`plugin exited ${child.exitCode}: ${text}`)) : undefined), () => `log ${re}; log so far:\n${text}`, timeoutMs),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
    kill: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}

export const socketExists = (p: string) => existsSync(p);
