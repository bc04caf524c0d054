import { needs, ROOT } from './needs.js';

// Tests that need root (mknod of fixture hosts, mounts) but nothing installed: as another user they
// are registered as skipped, the reason in the title (`NEEDS_ROOT`). Tests that need podman use
// podmanTests() from podman.ts instead.
const gate = needs(ROOT);
export const IS_ROOT = process.getuid?.() === 0;
export const rootTest = gate.test;
export const rootSerial = gate.serial;
/** Appended to titles of tests that skip without root, so the reason shows where ava lists them. */
export const NEEDS_ROOT = gate.why;

/** Tests that build a fixture host (scripts/fixture-host.ts mknods its device nodes): root only. */
export const FIXTURE_HOSTS = needs({ installable: true, missing: () => (IS_ROOT ? undefined : 'needs root: a fixture host has real device nodes (mknod)') });
