import type { HostFs } from '../adapters/host-fs.js';
import type { HostTools } from '../model/manifest.js';
import type { Warn } from './warn.js';

// Ubuntu's /sbin/ldconfig is a shell wrapper around ldconfig.real: only an ELF binary takes -r reliably.
const LDCONFIG = ['/sbin/ldconfig.real', '/usr/sbin/ldconfig.real', '/sbin/ldconfig', '/usr/sbin/ldconfig'];
const NSENTER = ['/usr/bin/nsenter', '/bin/nsenter', '/usr/sbin/nsenter', '/sbin/nsenter'];
const SH = ['/bin/sh', '/usr/bin/sh'];
const AWK = ['/usr/bin/awk', '/bin/awk', '/usr/bin/mawk', '/usr/bin/gawk'];
const MOUNT = ['/usr/bin/mount', '/bin/mount'];

/** Returns the host programs the post-mount step runs, as real paths; "" (and a warning) for one not found. */
export function discoverHostTools(fs: HostFs, warn: Warn): HostTools {
  const find = (candidates: string[], what: string, accept: (hostPath: string) => boolean) => {
    for (const c of candidates) {
      const target = fs.resolve(c);
      const s = fs.stat(target);
      if (s?.kind === 'file' && (s.mode & 0o111) !== 0 && accept(target)) return fs.real(target);
    }
    warn(`no ${what} found (looked for ${candidates.map((c) => `"${fs.real(c)}"`).join(', ')})`);
    return '';
  };
  const isElf = (hostPath: string) => {
    try {
      const head = fs.readHead(hostPath, 4);
      return head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46;
    } catch {
      return false;
    }
  };
  return {
    ldconfig: find(LDCONFIG, 'ldconfig binary', isElf),
    nsenter: find(NSENTER, 'nsenter', () => true),
    sh: find(SH, 'sh', () => true),
    awk: find(AWK, 'awk', () => true),
    mount: find(MOUNT, 'mount', () => true),
  };
}
