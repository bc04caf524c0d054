// Refusals to syslog: one datagram to /dev/log (journald's or rsyslog's socket), in the form
// glibc's syslog(3) sends, less the timestamp the receiver adds. Only a refused container start
// pays for it (loading libc through bun:ffi and three syscalls); a start that succeeds never loads
// this module.
import { syslogMessage } from '../core/refusal/refusal.js';
import { errnoName, loadLibc } from './libc.js';

/** The socket syslog(3) writes to. */
export const SYSLOG_SOCKET = '/dev/log';

/**
 * Sends one error-priority message tagged `tag[pid]` to `socket` without blocking. Returns null
 * when sent, else why not ("ENOENT", "not the compiled binary"); never throws.
 */
export async function sendSyslog(socket: string, tag: string, text: string): Promise<string | null> {
  try {
    const libc = await loadLibc();
    if (!libc) return 'not the compiled binary';
    const errno = libc.sendDatagram(socket, Buffer.from(syslogMessage(tag, process.pid, text)));
    return errno ? errnoName(errno) : null;
  } catch (error) {
    return (error as Error).message;
  }
}
