// What a test needs from the machine, and how it is registered when that is missing.
//
// Two kinds of prerequisite:
// - installable (root, podman, docker, containerd, systemd-analyze…): outside `npm run test:all` a
//   missing one registers the tests as skipped, the reason in the title; under test:all
//   (OCI_GPU_TEST_ALL=1, set by scripts/test-all.sh after setup-host.sh installed everything) they
//   run, and each fails first thing with the reason: a missing prerequisite there is a failure.
// - what the host is (cgroup v1 devices controller, systemd not PID 1): tests tied to it say so in
//   their title and skip elsewhere, test:all or not.
import test from 'ava';
import { accessSync, constants, existsSync, readlinkSync } from 'node:fs';

/** True under `npm run test:all` (scripts/test-all.sh sets it): there a missing prerequisite is a failure, never a skip. */
export const TEST_ALL = process.env.OCI_GPU_TEST_ALL === '1';

export interface Need {
  /** Why it is missing here; undefined when it is in place. Called once per process (memoized by needs()). */
  missing(): string | undefined;
  /** false for what the host is rather than has (skipped elsewhere even under test:all). */
  installable: boolean;
  /** Said in every title of the tests that need it (kinds of host only), e.g. "cgroup v1 host". */
  label?: string;
}

/** One need from a reason function: installable, no label. */
export function need(missing: () => string | undefined): Need {
  return { missing, installable: true };
}

/** Root (mknod, mounts, podman). test:all refuses to start without it. */
export const ROOT: Need = need(() => (process.getuid?.() === 0 ? undefined : 'needs root'));

/** The first of `bins` that is not executable, as a reason naming what installs it. */
export function missingBinary(bins: readonly string[], install: string): string | undefined {
  for (const bin of bins) {
    try {
      accessSync(bin, constants.X_OK);
    } catch {
      return `${bin} is missing (${install})`;
    }
  }
  return undefined;
}

/** The devices controller of cgroup v1 is mounted (v1 or hybrid, as on this VM): hooks can write devices.allow. */
export function hasCgroupV1Devices(): boolean {
  return existsSync('/sys/fs/cgroup/devices/devices.allow');
}

/**
 * A cgroup v1 host: the legacy createRuntime/prestart stage allows devices by writing devices.allow,
 * which cgroup v2 does not have (there it refuses: src/hook/legacy.ts).
 */
export const CGROUP_V1: Need = {
  installable: false,
  label: 'cgroup v1 host',
  missing: () => (hasCgroupV1Devices() ? undefined : 'no cgroup v1 devices controller here (cgroup v2)'),
};

/** True when PID 1 is systemd (as far as this process can see). */
export function systemdIsPid1(): boolean {
  try {
    return /\/systemd$/.test(readlinkSync('/proc/1/exe'));
  } catch {
    return existsSync('/run/systemd/system');
  }
}

/** A host where systemd is not PID 1 (this VM, the GPU lab host): what install and postinst say there. */
export const NO_SYSTEMD: Need = {
  installable: false,
  label: 'host without systemd as PID 1',
  missing: () => (systemdIsPid1() ? 'systemd is PID 1 here' : undefined),
};

// What each need said the first time it was asked in this process (podman's check runs podman).
const firstAnswers = new Map<Need, string | undefined>();
function atLoad(n: Need): string | undefined {
  if (!firstAnswers.has(n)) firstAnswers.set(n, n.missing());
  return firstAnswers.get(n);
}

/** A test registrar as ava's, whose tests wait for their needs. */
export interface Gate {
  /** Like ava's `test` (hooks, macro, skip… included). */
  test: typeof test;
  /** Like ava's `test.serial`. */
  serial: typeof test.serial;
  /**
   * Appended to every title: the labels of host kinds it is tied to, and "skipped: reason" when
   * it is registered as skipped. Empty when there is nothing to say.
   */
  why: string;
  /** Why a need is missing now (checked again), or undefined. */
  missing(): string | undefined;
  /** True when its tests are registered as skipped. */
  skipped: boolean;
}

type Register = (...args: any[]) => void;
type Implementation = ((t: any, ...args: any[]) => unknown) | { exec: (t: any, ...args: any[]) => unknown; title?: unknown };

/**
 * Registers tests that need `list`: skipped (reason in the title) when one is missing, except an
 * installable one under test:all, where each test runs and fails at once with the reason.
 */
export function needs(...list: Need[]): Gate {
  const reasons = list.map((n) => ({ n, reason: atLoad(n) }));
  const labels = list.flatMap((n) => (n.label ? [n.label] : []));
  const hostKind = reasons.find((r) => r.reason !== undefined && !r.n.installable);
  const installable = reasons.find((r) => r.reason !== undefined && r.n.installable);
  const skipReason = hostKind?.reason ?? (TEST_ALL ? undefined : installable?.reason);
  const tags = [...labels.map((l) => `${l} only`), ...(skipReason === undefined ? [] : [`skipped: ${skipReason}`])];
  const why = tags.length ? ` [${tags.join('; ')}]` : '';
  const missing = () => {
    for (const n of list) {
      const r = n.missing();
      if (r !== undefined) return r;
    }
    return undefined;
  };
  if (skipReason !== undefined) {
    const skipTest = Object.assign((...args: any[]) => (test.skip as Register)(...args), test, { serial: test.serial.skip }) as unknown as typeof test;
    return { test: skipTest, serial: test.serial.skip as unknown as typeof test.serial, why, missing, skipped: true };
  }
  // Each test checks its needs first: under test:all a missing one (as found at load) fails it with the reason.
  const guard = (impl: Implementation): Implementation => {
    const exec = typeof impl === 'function' ? impl : impl.exec;
    const title = (impl as { title?: unknown }).title;
    return {
      exec: (t: any, ...args: any[]) => {
        if (installable !== undefined) return t.fail(`a prerequisite is missing (under test:all it must be in place): ${installable.reason}`);
        return exec(t, ...args);
      },
      ...(title ? { title } : {}),
    };
  };
  const wrap = (register: Register): Register => (...args: any[]) => {
    if (typeof args[0] === 'string') register(args[0], guard(args[1] as Implementation), ...args.slice(2));
    else register(guard(args[0] as Implementation), ...args.slice(1));
  };
  const serial = Object.assign(wrap(test.serial as Register), test.serial) as unknown as typeof test.serial;
  const gated = Object.assign(wrap(test as Register), test, { serial }) as unknown as typeof test;
  return { test: gated, serial, why, missing, skipped: false };
}
