// Setup shared by the Kubernetes plugin harness tests: when they may run, a unique name per run,
// and a manifest copy the test can change under a running plugin.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { podmanUnavailableReason } from './podman.js';

/**
 * Why the harness tests cannot run here (they need root, podman and the fixture hosts), or
 * undefined. Under `npm run test:all` (OCI_GPU_TEST_ALL=1) a missing prerequisite is a failure,
 * not a skip: the tests run and their before-hook reports the reason.
 */
export const K8S_SKIP_REASON = process.env['OCI_GPU_TEST_ALL'] === '1' ? undefined : podmanUnavailableReason();
/** `test.serial`, or `test.skip` with the reason in the title when the prerequisites are missing. */
export const harnessTest = K8S_SKIP_REASON ? test.skip : test.serial;
export const SKIPPED = K8S_SKIP_REASON ? ` [skipped: ${K8S_SKIP_REASON}]` : '';

/** "k8s-<6 hex>": names of this run (driver, node, CDI kind), unique beside other test files. */
export function runName(): string {
  return `k8s-${randomBytes(3).toString('hex')}`;
}

/** Copies a manifest to `dir/manifest.json`; returns its path. */
export function copyManifest(from: string, dir: string): string {
  const file = path.join(dir, 'manifest.json');
  writeFileSync(file, readFileSync(from));
  return file;
}

/** Rewrites a manifest in place the way the watcher does (temp file + rename). */
export function editManifestFile(file: string, edit: (m: Record<string, any>) => void): void {
  const m = JSON.parse(readFileSync(file, 'utf8')) as Record<string, any>;
  edit(m);
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(m, null, 2));
  renameSync(tmp, file);
}
