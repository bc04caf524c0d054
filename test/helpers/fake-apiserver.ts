// A stand-in for the Kubernetes API server (no real one can run here): a local HTTP endpoint that
// serves the few paths the DRA plugin uses — ResourceSlices (list, create, replace, delete),
// ResourceClaims (get) and Nodes (get) — validates every request body against the Kubernetes
// OpenAPI schema shipped with @kubernetes/client-node (test/helpers/k8s-schema.ts) plus the API
// server's own ResourceSlice rules that a schema cannot say, answers 422 when invalid, and records
// every request. The plugin under test talks to it with the real client through a kubeconfig.
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { validateK8sObject } from './k8s-schema.js';

type Obj = Record<string, any>;

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: Obj | null;
  /** Why the stand-in refused the body (empty when accepted). */
  problems: string[];
  status: number;
}

export interface FakeApiServer {
  url: string;
  /** A kubeconfig file pointing at it (token auth, plain HTTP). */
  kubeconfig: string;
  requests: RecordedRequest[];
  /** Stored slices by name. */
  slices: Map<string, Obj>;
  /** ResourceClaims served by "namespace/name". */
  claims: Map<string, Obj>;
  /** Node UIDs served by name. */
  nodes: Map<string, string>;
  /** Resolves when a recorded request satisfies `pred` (checked on each new request). */
  waitFor(pred: (r: RecordedRequest) => boolean, what: string, timeoutMs?: number): Promise<RecordedRequest>;
  close(): Promise<void>;
}

const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** The API server's ResourceSlice rules beyond the schema (pkg/apis/resource/validation): what a schema cannot express. */
export function resourceSliceRules(s: Obj): string[] {
  const problems: string[] = [];
  const spec = s.spec ?? {};
  if (!(spec.nodeName || spec.allNodes || spec.nodeSelector || spec.perDeviceNodeSelection)) problems.push('spec: exactly one of nodeName, nodeSelector, allNodes, perDeviceNodeSelection is required');
  if (!Number.isInteger(spec.pool?.generation) || spec.pool.generation < 0) problems.push('spec.pool.generation: must be a non-negative integer');
  if (!(spec.pool?.resourceSliceCount >= 1)) problems.push('spec.pool.resourceSliceCount: must be at least 1');
  const names = new Set<string>();
  (spec.devices ?? []).forEach((d: Obj, i: number) => {
    const at = `spec.devices[${i}]`;
    if (!DNS_LABEL.test(d.name ?? '')) problems.push(`${at}.name: must be a DNS label`);
    if (names.has(d.name)) problems.push(`${at}.name: duplicate`);
    names.add(d.name);
    for (const [k, v] of Object.entries((d.attributes ?? {}) as Obj)) {
      const set = Object.keys(v as Obj).filter((f) => (v as Obj)[f] !== undefined);
      if (set.length !== 1) problems.push(`${at}.attributes.${k}: exactly one value is required, got ${set.length}`);
      if ('string' in (v as Obj) && String((v as Obj).string).length > 64) problems.push(`${at}.attributes.${k}.string: at most 64 characters`);
      if ('version' in (v as Obj) && !SEMVER.test(String((v as Obj).version))) problems.push(`${at}.attributes.${k}.version: must be semver`);
    }
  });
  return problems;
}

/** Starts the stand-in on 127.0.0.1 and writes a kubeconfig for it into `dir`. */
export async function startFakeApiServer(dir: string): Promise<FakeApiServer> {
  const requests: RecordedRequest[] = [];
  const slices = new Map<string, Obj>();
  const claims = new Map<string, Obj>();
  const nodes = new Map<string, string>();
  const waiters: { pred: (r: RecordedRequest) => boolean; resolve: (r: RecordedRequest) => void }[] = [];
  let rv = 100;

  const handle = async (method: string, url: URL, body: Obj | null): Promise<[number, Obj, string[]]> => {
    const p = url.pathname;
    const status = (code: number, message: string): Obj => ({ apiVersion: 'v1', kind: 'Status', status: 'Failure', message, code });
    let m: RegExpExecArray | null;
    if (p === '/apis/resource.k8s.io/v1/resourceslices' && method === 'GET') {
      const field = url.searchParams.get('fieldSelector') ?? '';
      const node = /^spec\.nodeName=(.+)$/.exec(field)?.[1];
      const items = [...slices.values()].filter((s) => !node || s.spec.nodeName === node);
      return [200, { apiVersion: 'resource.k8s.io/v1', kind: 'ResourceSliceList', metadata: { resourceVersion: String(rv) }, items }, []];
    }
    if ((p === '/apis/resource.k8s.io/v1/resourceslices' && method === 'POST') || ((m = /^\/apis\/resource\.k8s\.io\/v1\/resourceslices\/([^/]+)$/.exec(p)) && method === 'PUT')) {
      const problems = [...(await validateK8sObject(body)), ...(body ? resourceSliceRules(body) : ['(root): no body'])];
      if (problems.length) return [422, status(422, problems.join('; ')), problems];
      const name = body!.metadata.name as string;
      if (method === 'POST' && slices.has(name)) return [409, status(409, `resourceslices "${name}" already exists`), []];
      if (method === 'PUT') {
        if (m![1] !== name) return [400, status(400, 'the name in the body does not match the URL'), ['metadata.name: does not match the URL']];
        const old = slices.get(name);
        if (!old) return [404, status(404, `resourceslices "${name}" not found`), []];
        if (body!.metadata.resourceVersion !== old.metadata.resourceVersion) return [409, status(409, 'the object has been modified'), []];
      }
      const stored = { ...body!, metadata: { ...body!.metadata, uid: `uid-${name}`, resourceVersion: String(++rv) } };
      slices.set(name, stored);
      return [method === 'POST' ? 201 : 200, stored, []];
    }
    if ((m = /^\/apis\/resource\.k8s\.io\/v1\/resourceslices\/([^/]+)$/.exec(p)) && method === 'DELETE') {
      if (!slices.delete(m[1]!)) return [404, status(404, `resourceslices "${m[1]}" not found`), []];
      return [200, { apiVersion: 'v1', kind: 'Status', status: 'Success' }, []];
    }
    if ((m = /^\/apis\/resource\.k8s\.io\/v1\/namespaces\/([^/]+)\/resourceclaims\/([^/]+)$/.exec(p)) && method === 'GET') {
      const claim = claims.get(`${m[1]}/${m[2]}`);
      return claim ? [200, claim, []] : [404, status(404, `resourceclaims "${m[2]}" not found`), []];
    }
    if ((m = /^\/api\/v1\/nodes\/([^/]+)$/.exec(p)) && method === 'GET') {
      const uid = nodes.get(m[1]!);
      return uid ? [200, { apiVersion: 'v1', kind: 'Node', metadata: { name: m[1], uid } }, []] : [404, status(404, `nodes "${m[1]}" not found`), []];
    }
    return [404, status(404, `the stand-in API server does not serve ${method} ${p}`), []];
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const url = new URL(req.url ?? '/', 'http://x');
        const text = Buffer.concat(chunks).toString('utf8');
        let body: Obj | null = null;
        let parseProblem: string[] = [];
        try {
          body = text ? (JSON.parse(text) as Obj) : null;
        } catch (error) {
          parseProblem = [`(root): not JSON: ${(error as Error).message}`];
        }
        const [code, out, problems] = parseProblem.length ? [400, { kind: 'Status', code: 400 }, parseProblem] : await handle(req.method ?? 'GET', url, body);
        const record: RecordedRequest = { method: req.method ?? 'GET', path: url.pathname, query: Object.fromEntries(url.searchParams), body, problems, status: code };
        requests.push(record);
        for (const w of [...waiters]) if (w.pred(record)) (waiters.splice(waiters.indexOf(w), 1), w.resolve(record));
        res.writeHead(code, { 'content-type': 'application/json' });
        res.end(JSON.stringify(out));
      })();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const kubeconfig = path.join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      // Plain HTTP: client-node 2 refuses it unless TLS verification is off.
      clusters: [{ name: 'stand-in', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'plugin', user: { token: 'stand-in-token' } }],
      contexts: [{ name: 'stand-in', context: { cluster: 'stand-in', user: 'plugin' } }],
      'current-context': 'stand-in',
    }),
  );
  return {
    url,
    kubeconfig,
    requests,
    slices,
    claims,
    nodes,
    waitFor: (pred, what, timeoutMs = 30_000) => {
      const seen = requests.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`stand-in API server: no ${what} within ${timeoutMs} ms; saw ${requests.map((r) => `${r.method} ${r.path} ${r.status}`).join(', ')}`)), timeoutMs);
        waiters.push({ pred, resolve: (r) => (clearTimeout(timer), resolve(r)) });
      });
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}
