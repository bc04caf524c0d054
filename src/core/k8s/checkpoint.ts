// The DRA plugin's checkpoint: the claims it prepared, so prepare and unprepare stay idempotent
// across plugin restarts.
import { isObject } from '../check.js';
import { ParseError } from '../../errors.js';
import type { ClaimRef, PreparedDevice } from './claim-spec.js';
import { checkClaimUid } from './names.js';

export const CHECKPOINT_SCHEMA = 'oci-gpu.dra-checkpoint/v1';

/** One prepared claim: what prepare returned, the spec file it wrote and the GPUs it holds. */
export interface PreparedEntry {
  claim: ClaimRef;
  specFile: string;
  devices: PreparedDevice[];
  gpuUuids: string[];
}

export interface Checkpoint {
  schema: typeof CHECKPOINT_SCHEMA;
  driver: string;
  /** By claim UID. */
  claims: Record<string, PreparedEntry>;
}

/** An empty checkpoint for a driver. */
export function emptyCheckpoint(driver: string): Checkpoint {
  return { schema: CHECKPOINT_SCHEMA, driver, claims: {} };
}

/** Deterministic text (sorted claims), so "changed?" is a string compare. */
export function serializeCheckpoint(c: Checkpoint): string {
  const claims = Object.fromEntries(Object.entries(c.claims).sort(([a], [b]) => a.localeCompare(b)));
  return JSON.stringify({ schema: c.schema, driver: c.driver, claims }, null, 2) + '\n';
}

/** Parses a checkpoint; throws ParseError (every problem with its dot-path) for another schema or shape. */
export function parseCheckpoint(text: string, source: string): Checkpoint {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new ParseError(`checkpoint "${source}"`, [(error as Error).message], { cause: error });
  }
  const problems: string[] = [];
  if (!isObject(data)) throw new ParseError(`checkpoint "${source}"`, ['(root): must be an object']);
  if (data['schema'] !== CHECKPOINT_SCHEMA) problems.push(`schema: must be "${CHECKPOINT_SCHEMA}"`);
  if (typeof data['driver'] !== 'string') problems.push('driver: must be a string');
  const claims = data['claims'];
  if (!isObject(claims)) problems.push('claims: must be an object');
  else {
    for (const [uid, e] of Object.entries(claims)) {
      const at = `claims.${uid}`;
      try {
        checkClaimUid(uid);
      } catch {
        problems.push(`${at}: key is not a claim uid`);
      }
      if (!isObject(e)) {
        problems.push(`${at}: must be an object`);
        continue;
      }
      const claim = e['claim'];
      if (!isObject(claim) || claim['uid'] !== uid || typeof claim['namespace'] !== 'string' || typeof claim['name'] !== 'string') problems.push(`${at}.claim: must be {namespace, name, uid} with this uid`);
      if (typeof e['specFile'] !== 'string') problems.push(`${at}.specFile: must be a string`);
      if (!Array.isArray(e['devices'])) problems.push(`${at}.devices: must be an array`);
      if (!Array.isArray(e['gpuUuids']) || !e['gpuUuids'].every((u) => typeof u === 'string')) problems.push(`${at}.gpuUuids: must be an array of strings`);
    }
  }
  if (problems.length) throw new ParseError(`checkpoint "${source}"`, problems);
  return data as unknown as Checkpoint;
}
