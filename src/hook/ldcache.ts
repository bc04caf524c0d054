import fs from 'node:fs';
import path from 'node:path';
import { isObject } from '../core/check.js';
import { ParseError, UsageError } from '../errors.js';
import type { OciState } from '../model/oci.js';

/** Returns the container's rootfs as an absolute host path, from `<bundle>/config.json`'s root.path. */
export function rootfsOf(bundle: string): string {
  const file = path.join(bundle, 'config.json');
  let config: unknown;
  try {
    config = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ParseError(`bundle config "${file}"`, [(error as Error).message], { cause: error });
  }
  const root = isObject(config) && isObject(config.root) ? config.root.path : undefined;
  if (typeof root !== 'string' || root === '') throw new ParseError(`bundle config "${file}"`, ['root.path: must be a string']);
  return path.resolve(bundle, root);
}

/**
 * The CDI spec's post-mount step: runs the host's ldconfig inside the container's mount namespace
 * against its rootfs, for the given library folders. Throws UsageError for missing flags,
 * ExecError when ldconfig fails.
 */
export async function updateLdCache(state: OciState, flags: { ldconfig?: string; nsenter?: string; folders: string[] }): Promise<void> {
  const { ldconfig, nsenter, folders } = flags;
  if (!ldconfig || !nsenter || !folders.length) throw new UsageError('oci-gpu-hook ldcache: needs --ldconfig, --nsenter and at least one --folder');
  for (const f of [ldconfig, nsenter, ...folders]) {
    if (!path.isAbsolute(f) || f.split('/').includes('..')) throw new UsageError(`oci-gpu-hook ldcache: "${f}" must be an absolute path without ".."`);
  }
  const rootfs = rootfsOf(state.bundle);
  // Imported here, not at the top: execa's import makes fd 0 non-blocking (it creates process.stdin),
  // and the state on stdin is read after this module loads; a runtime that writes it late got EAGAIN.
  const { runCommand } = await import('../adapters/exec.js');
  await runCommand(nsenter, ['--target', String(state.pid), '--mount', '--', ldconfig, '-r', rootfs, ...folders]);
}
