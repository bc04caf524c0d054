// Docker and containerd for the integration tests, each a daemon of the test's own: started on a
// temp folder (data, state, sockets, pid file there; no network set-up, no iptables), waited for,
// and stopped with whatever it left (shims, mounts) by test.after.always — never the machine's own
// docker or containerd service. scripts/setup-host.sh installs Debian's docker.io (20.10) and
// containerd (1.6) without starting them.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { need, type Need } from './needs.js';
import { run, TEST_ROOTFS, type RunResult } from './podman.js';

export const DOCKER = '/usr/bin/docker';
export const DOCKERD = '/usr/sbin/dockerd';
export const CONTAINERD = '/usr/bin/containerd';
export const CTR = '/usr/bin/ctr';

function missing(bins: readonly string[], pkg: string): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (it starts its own daemon)';
  for (const bin of bins) if (!existsSync(bin)) return `${bin} is missing (apt-get install ${pkg}; scripts/setup-host.sh does)`;
  if (!existsSync(path.join(TEST_ROOTFS, 'bin/busybox'))) return `the test rootfs ${TEST_ROOTFS} is missing: run scripts/setup-host.sh`;
  return undefined;
}

/** Root, Debian's docker.io (docker, dockerd, containerd, runc) and the test rootfs. */
export const DOCKER_NEED: Need = need(() => missing([DOCKER, DOCKERD, CONTAINERD, '/usr/sbin/runc'], 'docker.io'));
/** Root, Debian's containerd (containerd, ctr), runc and the test rootfs. */
export const CONTAINERD_NEED: Need = need(() => missing([CONTAINERD, CTR, '/usr/sbin/runc'], 'containerd'));

export interface Daemon {
  /** The API socket (unix path). */
  socket: string;
  /** What the daemon wrote so far (stdout and stderr). */
  log(): string;
  /** Stops it (SIGTERM, then SIGKILL), then whatever it left behind under its folder: processes, mounts. */
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Pids of processes whose command line names `dir` (shims a daemon left): found by id, ended by id. */
function processesUnder(dir: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(dir)) out.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Mount points at or under `dir` in this mount namespace, deepest first. */
function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => m !== undefined)
    .map((m) => m.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/**
 * Starts `argv` as a daemon logging to `<dir>/daemon.log` and waits until `ready()` resolves true
 * (60 s at most); throws with the log's end when it exits or never gets ready.
 */
async function startDaemon(dir: string, argv: string[], socket: string, ready: () => Promise<boolean>): Promise<Daemon> {
  const logFile = path.join(dir, 'daemon.log');
  const fd = openSync(logFile, 'a');
  const child: ChildProcess = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', fd, fd], cwd: dir, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: dir } });
  closeSync(fd);
  let exited = false;
  const done = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
  // Last resort when the test process ends without its after hook.
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  const stop = async () => {
    process.off('exit', kill);
    if (!exited) {
      child.kill('SIGTERM');
      await Promise.race([done, sleep(30_000)]);
      if (!exited) {
        child.kill('SIGKILL');
        await done;
      }
    }
    for (const pid of processesUnder(dir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const m of mountsUnder(dir)) await run('/usr/bin/umount', ['--lazy', m]);
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) throw new Error(`${argv[0]} exited before it was ready:\n${log().split('\n').slice(-15).join('\n')}`);
    if (await ready()) return { socket, log, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${argv[0]} was not ready within 60 s:\n${log().split('\n').slice(-15).join('\n')}`);
    }
    await sleep(250);
  }
}

/**
 * Starts dockerd with `configFile` (the daemon.json `oci-gpu install --docker` wrote) and everything
 * else under `dir`: no bridge, no iptables, cgroupfs (no systemd here), and a nofile default this
 * VM allows (it lacks CAP_SYS_RESOURCE). dockerd starts its own containerd under its exec root.
 */
export function startDockerd(dir: string, configFile: string): Promise<Daemon> {
  const socket = path.join(dir, 'docker.sock');
  const argv = [
    DOCKERD,
    '--config-file', configFile,
    '--data-root', path.join(dir, 'data'),
    '--exec-root', path.join(dir, 'exec'),
    '--pidfile', path.join(dir, 'docker.pid'),
    '-H', `unix://${socket}`,
    '--bridge', 'none',
    '--iptables=false',
    '--ip6tables=false',
    '--exec-opt', 'native.cgroupdriver=cgroupfs',
    '--default-ulimit', 'nofile=16384:16384',
  ];
  return startDaemon(dir, argv, socket, async () => existsSync(socket) && (await docker(socket, ['version'], 10_000)).exitCode === 0);
}

/** `docker -H unix://<socket> ARGS`. */
export function docker(socket: string, args: readonly string[], timeout = 120_000): Promise<RunResult> {
  return run(DOCKER, ['-H', `unix://${socket}`, ...args], { timeout });
}

/** Starts containerd (1.6) with a config of its own under `dir`: root, state and sockets there, no CRI plugin. */
export function startContainerd(dir: string): Promise<Daemon> {
  const socket = path.join(dir, 'containerd.sock');
  const config = path.join(dir, 'config.toml');
  writeFileSync(
    config,
    [
      'version = 2',
      `root = ${JSON.stringify(path.join(dir, 'root'))}`,
      `state = ${JSON.stringify(path.join(dir, 'state'))}`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = ${JSON.stringify(socket)}`,
      '[ttrpc]',
      `  address = ${JSON.stringify(`${socket}.ttrpc`)}`,
      '',
    ].join('\n'),
  );
  return startDaemon(dir, [CONTAINERD, '--config', config], socket, async () => existsSync(socket) && (await ctr(socket, 'default', ['version'], 10_000)).exitCode === 0);
}

/** `ctr -a <socket> -n <namespace> ARGS`. */
export function ctr(socket: string, namespace: string, args: readonly string[], timeout = 120_000): Promise<RunResult> {
  return run(CTR, ['-a', socket, '-n', namespace, ...args], { timeout });
}

/** True when this docker's `run` knows --annotation (Docker 24 and later; Debian 12 has 20.10). Needs no daemon. */
export function dockerRunHasAnnotation(): boolean {
  if (!existsSync(DOCKER)) return false;
  const r = spawnSync(DOCKER, ['run', '--help'], { encoding: 'utf8', timeout: 30_000, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/tmp' } });
  return /^\s+--annotation\b/m.test(r.stdout ?? '');
}
