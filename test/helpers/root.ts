import test from 'ava';

// Most integration tests need root (mknod, podman, mounts); as another user they are listed as skipped.
export const IS_ROOT = process.getuid?.() === 0;
export const rootTest = IS_ROOT ? test : test.skip;
export const rootSerial = IS_ROOT ? test.serial : test.skip;
/** Appended to titles of tests that skip without root, so the reason shows where ava lists them. */
export const NEEDS_ROOT = IS_ROOT ? '' : ' [skipped: needs root]';
