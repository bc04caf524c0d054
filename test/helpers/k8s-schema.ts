// Offline validation of Kubernetes objects against the Kubernetes API schema, with ajv.
// The schema comes from @kubernetes/client-node (a devDependency): its models are generated from the
// Kubernetes OpenAPI spec (release-1.36), each with an attributeTypeMap (every field's JSON name and
// type) and a .d.ts that marks optional fields with "?". From those this builds a JSON schema per
// model, strict like kubeconform -strict / kubectl's field validation: a field the API does not have is
// an error ("additionalProperties": false), so a typo'd field fails. The model files are imported one
// by one: the package's index pulls in an HTTP client that needs a newer Node than 20.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { REPO_ROOT } from './paths.js';

const MODELS = path.join(REPO_ROOT, 'node_modules/@kubernetes/client-node/dist/gen/models');

/** The kinds our manifests use, by "apiVersion kind", and their model. */
export const KINDS: Record<string, string> = {
  'v1 Namespace': 'V1Namespace',
  'v1 ConfigMap': 'V1ConfigMap',
  'v1 ServiceAccount': 'V1ServiceAccount',
  'apps/v1 DaemonSet': 'V1DaemonSet',
  'v1 Pod': 'V1Pod',
  'rbac.authorization.k8s.io/v1 ClusterRole': 'V1ClusterRole',
  'rbac.authorization.k8s.io/v1 ClusterRoleBinding': 'V1ClusterRoleBinding',
  'admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy': 'V1ValidatingAdmissionPolicy',
  'admissionregistration.k8s.io/v1 ValidatingAdmissionPolicyBinding': 'V1ValidatingAdmissionPolicyBinding',
  'resource.k8s.io/v1 ResourceSlice': 'V1ResourceSlice',
  'resource.k8s.io/v1 DeviceClass': 'V1DeviceClass',
  // V1ResourceClaim is core/v1's (a container's claim reference): the generator renamed this one.
  'resource.k8s.io/v1 ResourceClaim': 'ResourceV1ResourceClaim',
  'resource.k8s.io/v1 ResourceClaimTemplate': 'V1ResourceClaimTemplate',
};

type Attr = { name: string; baseName: string; type: string; format: string };
type Schema = Record<string, unknown>;

async function loadModel(name: string): Promise<{ attrs: Attr[]; required: Set<string> }> {
  const mod = (await import(pathToFileURL(path.join(MODELS, `${name}.js`)).href)) as Record<string, { attributeTypeMap: Attr[] }>;
  const attrs = mod[name]!.attributeTypeMap;
  const dts = readFileSync(path.join(MODELS, `${name}.d.ts`), 'utf8');
  const required = new Set<string>();
  for (const m of dts.matchAll(/^\s+'([^']+)'(\??):/gm)) if (m[2] !== '?') required.add(m[1]!);
  return { attrs, required };
}

/** The JSON schema of every model reachable from `root`, as draft-07 definitions. */
async function definitions(root: string): Promise<Record<string, Schema>> {
  const defs: Record<string, Schema> = {};
  const pending = [root];
  const typeSchema = (type: string, format: string): Schema => {
    let m: RegExpExecArray | null;
    if ((m = /^Array<(.+)>$/.exec(type))) return { type: 'array', items: typeSchema(m[1]!, '') };
    if ((m = /^\{ \[key: string\]: (.+); \}$/.exec(type))) return { type: 'object', additionalProperties: typeSchema(m[1]!, '') };
    switch (type) {
      case 'string':
        return { type: 'string' };
      case 'Date':
        return { type: 'string' };
      case 'boolean':
        return { type: 'boolean' };
      case 'number':
        return format === 'int32' || format === 'int64' ? { type: 'integer' } : { type: 'number' };
      case 'IntOrString':
        return { type: ['integer', 'string'] };
      case 'any':
      case 'object':
        return {};
      default:
        if (!/^[A-Z][A-Za-z0-9]+$/.test(type)) throw new Error(`k8s-schema: unknown type "${type}"`);
        if (!(type in defs) && !pending.includes(type)) pending.push(type);
        return { $ref: `#/definitions/${type}` };
    }
  };
  while (pending.length) {
    const name = pending.shift()!;
    if (name in defs) continue;
    defs[name] = {};
    const { attrs, required } = await loadModel(name);
    defs[name] = {
      type: 'object',
      properties: Object.fromEntries(attrs.map((a) => [a.baseName, typeSchema(a.type, a.format)])),
      required: attrs.filter((a) => required.has(a.name)).map((a) => a.baseName),
      additionalProperties: false,
    };
  }
  return defs;
}

const compiled = new Map<string, ValidateFunction>();

/**
 * Validates one Kubernetes object; returns every problem as "path: message" (empty when valid):
 * unknown apiVersion/kind, unknown fields, wrong types, missing required fields.
 */
export async function validateK8sObject(obj: unknown): Promise<string[]> {
  const o = obj as { apiVersion?: unknown; kind?: unknown };
  const model = KINDS[`${String(o?.apiVersion)} ${String(o?.kind)}`];
  if (!model) return [`apiVersion/kind: "${String(o?.apiVersion)}" "${String(o?.kind)}" is not one of ${Object.keys(KINDS).join(', ')}`];
  let validate = compiled.get(model);
  if (!validate) {
    const ajv = new Ajv({ allErrors: true, strict: false });
    validate = ajv.compile({ definitions: await definitions(model), $ref: `#/definitions/${model}` });
    compiled.set(model, validate);
  }
  if (validate(obj)) return [];
  return (validate.errors ?? []).map(describe);
}

function describe(e: ErrorObject): string {
  const at = e.instancePath.replace(/^\//, '').replace(/\/(\d+)(?=\/|$)/g, '[$1]').replace(/\//g, '.') || '(root)';
  if (e.keyword === 'additionalProperties') return `${at}: unknown field "${(e.params as { additionalProperty: string }).additionalProperty}"`;
  if (e.keyword === 'required') return `${at}: missing required field "${(e.params as { missingProperty: string }).missingProperty}"`;
  return `${at}: ${e.message}`;
}
