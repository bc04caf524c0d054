import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../adapters/atomic-write.js';
import { readManifestForStart } from '../adapters/manifest-file.js';
import { refuseLinkedDeviceFolders } from '../adapters/rootfs.js';
import { editConfigForRequest } from '../core/plan/plan-config.js';
import { asOciConfig, requestInputs } from '../core/request/oci-config.js';
import { parseRequest } from '../core/request/request.js';
import { ParseError } from '../errors.js';
import type { Config } from '../model/config.js';

/**
 * Edits `<bundle>/config.json` in place (atomically, mode kept) for the GPUs it asks for;
 * leaves the file untouched when it asks for nothing. Returns true when it changed the file.
 */
export async function editBundle(bundle: string, config: Config): Promise<boolean> {
  const file = path.join(bundle, 'config.json');
  const text = fs.readFileSync(file, 'utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ParseError(`bundle config "${file}"`, [(error as Error).message], { cause: error });
  }
  const { annotations, env } = requestInputs(value, `bundle config "${file}"`);
  const request = parseRequest(annotations, env, config.cdi.kind);
  if (!request) return false;
  const oci = asOciConfig(value, `bundle config "${file}"`);
  const rootfs = path.resolve(bundle, oci.root?.path ?? 'rootfs');
  const edited = editConfigForRequest(oci, await readManifestForStart(config), request, config.container, rootfs);
  refuseLinkedDeviceFolders(rootfs, (edited.linux?.devices ?? []).map((d) => d.path));
  // The bundle lives as long as the container (Docker's and containerd's are on /run): atomic, no fsync.
  writeFileAtomic(file, JSON.stringify(edited), fs.statSync(file).mode & 0o777, { durable: false });
  return true;
}
