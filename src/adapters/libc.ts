// The one module that calls libc through bun:ffi: unix datagrams (systemd's notify socket, /dev/log),
// flock(2) and execve(2), which neither Node nor Bun offers in JavaScript (Bun.udpSocket is UDP only;
// Node has no unix datagram socket; both can only spawn a child). It works in the compiled binary;
// under Node (bin/, the development entry, and in-process tests) loadLibc() and loadExec() return
// null and callers go without (the wrapper spawns its runtime instead).

/** What oci-gpu needs of libc. Each call returns 0 or the errno it failed with. */
export interface Libc {
  /** Sends one datagram to the unix socket `socketPath` ("@name": abstract), without blocking. */
  sendDatagram(socketPath: string, data: Uint8Array): number;
  /** flock(fd, LOCK_EX | LOCK_NB): EWOULDBLOCK when another open file description holds it. */
  tryLockExclusive(fd: number): number;
}

export const ENOENT = 2;
export const EWOULDBLOCK = 11;
export const ENAMETOOLONG = 36;

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
const LOCK_EX = 2;
const LOCK_NB = 4;
const SUN_PATH_MAX = 108;

let loaded: Promise<Libc | null> | undefined;

/** Returns libc's calls when running as the compiled binary (Bun), null under Node or when dlopen fails. */
export function loadLibc(): Promise<Libc | null> {
  loaded ??= (async () => {
    if (!process.versions.bun) return null;
    try {
      return bind(await import('bun:ffi'));
    } catch {
      return null;
    }
  })();
  return loaded;
}

/** The sockaddr_un for a path ("@name" is the abstract name), and its length; null when it does not fit. */
export function unixAddress(socketPath: string): { bytes: Uint8Array; length: number } | null {
  const name = Buffer.from(socketPath, 'utf8');
  const abstract = socketPath.startsWith('@');
  if (abstract) name[0] = 0;
  // A path needs its NUL inside sun_path; an abstract name is exactly its bytes.
  if (name.length + (abstract ? 0 : 1) > SUN_PATH_MAX || name.length === 0) return null;
  const bytes = new Uint8Array(2 + SUN_PATH_MAX);
  new DataView(bytes.buffer).setUint16(0, AF_UNIX, true);
  bytes.set(name, 2);
  return { bytes, length: 2 + name.length + (abstract ? 0 : 1) };
}

function bind(ffi: typeof import('bun:ffi')): Libc {
  const { FFIType: T, ptr, read } = ffi;
  const { symbols: c } = ffi.dlopen('libc.so.6', {
    socket: { args: [T.i32, T.i32, T.i32], returns: T.i32 },
    sendto: { args: [T.i32, T.ptr, T.u64, T.i32, T.ptr, T.u32], returns: T.i64 },
    close: { args: [T.i32], returns: T.i32 },
    flock: { args: [T.i32, T.i32], returns: T.i32 },
    __errno_location: { args: [], returns: T.ptr },
  });
  const errno = () => read.i32(c.__errno_location()!, 0) || 1;
  return {
    sendDatagram(socketPath, data) {
      const address = unixAddress(socketPath);
      if (!address) return ENAMETOOLONG;
      const fd = c.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (fd < 0) return errno();
      try {
        const payload = data.length ? data : new Uint8Array(1);
        const sent = Number(c.sendto(fd, ptr(payload), data.length, MSG_DONTWAIT | MSG_NOSIGNAL, ptr(address.bytes), address.length));
        return sent < 0 ? errno() : 0;
      } finally {
        c.close(fd);
      }
    },
    tryLockExclusive(fd) {
      return c.flock(fd, LOCK_EX | LOCK_NB) === 0 ? 0 : errno();
    },
  };
}

/** execve(2) for the wrapper, bound on its own so a container start compiles no other call. */
export type Exec = (file: string, args: string[], env: Record<string, string | undefined>) => number;

const IGNORED = [13, 25]; // SIGPIPE, SIGXFSZ
const SIG_DFL = 0;
const SIG_IGN = 1;

/**
 * Returns a call that replaces this process with `file` (argv `args`, environment `env`) and
 * returns only the errno it failed with (this process as it was); null under Node or when dlopen
 * fails. Bun ignores SIGPIPE and SIGXFSZ and an ignored signal stays ignored across execve, so both
 * go back to the default first (as a spawned child gets them); Bun's own descriptors are close-on-exec.
 */
export async function loadExec(): Promise<Exec | null> {
  if (!process.versions.bun) return null;
  try {
    const { dlopen, FFIType: T, ptr, read } = await import('bun:ffi');
    const { symbols: c } = dlopen('libc.so.6', {
      execve: { args: [T.ptr, T.ptr, T.ptr], returns: T.i32 },
      signal: { args: [T.i32, T.ptr], returns: T.ptr },
      __errno_location: { args: [], returns: T.ptr },
    });
    return (file, args, env) => {
      const strings: Buffer[] = [];
      const cstring = (s: string) => {
        const b = Buffer.from(`${s}\0`);
        strings.push(b);
        return b;
      };
      const array = (items: string[]) => {
        const a = new BigUint64Array(items.length + 1);
        items.forEach((item, i) => (a[i] = BigInt(ptr(cstring(item)))));
        return a;
      };
      const argv = array(args);
      const envp = array(Object.entries(env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`])));
      for (const signal of IGNORED) c.signal(signal, SIG_DFL);
      c.execve(ptr(cstring(file)), ptr(argv), ptr(envp));
      const errno = read.i32(c.__errno_location()!, 0) || 1;
      for (const signal of IGNORED) c.signal(signal, SIG_IGN);
      return errno;
    };
  } catch {
    return null;
  }
}

/** A short name for an errno this module returns, for messages. */
export function errnoName(errno: number): string {
  const names: Record<number, string> = { 1: 'EPERM', 2: 'ENOENT', 7: 'E2BIG', 8: 'ENOEXEC', 11: 'EAGAIN', 13: 'EACCES', 20: 'ENOTDIR', 36: 'ENAMETOOLONG', 88: 'ENOTSOCK', 91: 'EPROTOTYPE', 111: 'ECONNREFUSED' };
  return names[errno] ?? `errno ${errno}`;
}
