// Validators for what the project emits, against the vendored schemas in test/schemas/.
// Each returns every problem as "dot.path[2].field: message" (empty when valid), never throws on bad input.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
// ajv and ajv-draft-04 are CommonJS: ajv has a named `Ajv` export Node can see; ajv-draft-04 only
// has module.exports (= the class) with `.default` (= the class), which is the one TS types agree on.
import { Ajv, type AnySchemaObject, type ErrorObject, type ValidateFunction } from 'ajv';
import Ajv04Module from 'ajv-draft-04';
import { SCHEMAS } from './paths.js';

const Ajv04 = Ajv04Module.default;

// A base URI per folder, so the schemas' relative $refs ("defs.json#/...") resolve between files.
const BASE = 'https://oci-gpu.invalid/schemas/';

/** The JSON schema files of one test/schemas/ folder (LICENSE, README and example-*.json are not schemas). */
function readSchemaFolder(folder: string): Map<string, AnySchemaObject> {
  const dir = path.join(SCHEMAS, folder);
  const out = new Map<string, AnySchemaObject>();
  for (const name of readdirSync(dir).sort()) {
    if (!name.endsWith('.json') || name.startsWith('example-')) continue;
    out.set(name, JSON.parse(readFileSync(path.join(dir, name), 'utf8')) as AnySchemaObject);
  }
  return out;
}

type Validators = { cdi: ValidateFunction; ociConfig: ValidateFunction; ociState: ValidateFunction };
let compiled: Validators | undefined;

function validators(): Validators {
  if (compiled) return compiled;
  // strict: false — the vendored schemas are upstream's and not strict-clean (cdi/defs.json has a
  // stray `"ref"` where `$ref` was meant); strict mode would refuse to compile them.
  const cdiAjv = new Ajv({ allErrors: true, strict: false });
  for (const [name, schema] of readSchemaFolder('cdi')) {
    cdiAjv.addSchema({ ...schema, $id: `${BASE}cdi/${name}` });
  }
  const ociAjv = new Ajv04({ allErrors: true, strict: false });
  for (const [name, schema] of readSchemaFolder('oci-runtime')) {
    ociAjv.addSchema({ ...schema, id: `${BASE}oci-runtime/${name}` });
  }
  const get = (ajv: Ajv, id: string): ValidateFunction => {
    const fn = ajv.getSchema(`${BASE}${id}`);
    if (!fn) throw new Error(`schema ${id} not found under ${SCHEMAS}`);
    return fn;
  };
  compiled = {
    cdi: get(cdiAjv, 'cdi/schema.json'),
    ociConfig: get(ociAjv, 'oci-runtime/config-schema.json'),
    ociState: get(ociAjv, 'oci-runtime/state-schema.json'),
  };
  return compiled;
}

/** "/devices/2/major" → "devices[2].major"; "" → "(root)". */
function dotPath(pointer: string, child?: string): string {
  const parts = pointer === '' ? [] : pointer.slice(1).split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (child !== undefined) parts.push(child);
  let out = '';
  for (const part of parts) {
    if (/^\d+$/.test(part)) out += `[${part}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(part)) out += out === '' ? part : `.${part}`;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out === '' ? '(root)' : out;
}

function formatError(e: ErrorObject): string {
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return `${dotPath(e.instancePath, String(params['missingProperty']))}: is required`;
    case 'additionalProperties':
      return `${dotPath(e.instancePath, String(params['additionalProperty']))}: is not allowed`;
    default:
      return `${dotPath(e.instancePath)}: ${e.message ?? e.keyword}`;
  }
}

function run(fn: ValidateFunction, value: unknown): string[] {
  if (fn(value)) return [];
  return [...new Set((fn.errors ?? []).map(formatError))];
}

/** Problems of a CDI spec against test/schemas/cdi/schema.json (draft-07); [] when valid. */
export function validateCdiSpec(spec: unknown): string[] {
  return run(validators().cdi, spec);
}

/** Problems of an OCI bundle config.json against test/schemas/oci-runtime/config-schema.json (draft-04); [] when valid. */
export function validateOciConfig(config: unknown): string[] {
  return run(validators().ociConfig, config);
}

/** Problems of an OCI state (what hooks get on stdin) against test/schemas/oci-runtime/state-schema.json; [] when valid. */
export function validateOciState(state: unknown): string[] {
  return run(validators().ociState, state);
}
