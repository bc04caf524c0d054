import path from 'node:path/posix';

/** Reads a symlink at an in-root path: its target, or null when the path is not a symlink or does not exist. */
export type ReadLink = (inRootPath: string) => string | null;

const MAX_LINKS = 40;

/**
 * Resolves an absolute path as if `/` were the root, following symlinks with chroot semantics:
 * absolute targets restart at the root and `..` never climbs above it, so the result always lies
 * inside the root. Components that do not exist are kept literally. Returns the in-root path
 * ("/usr/lib/x.so"); throws an Error after 40 links (a loop).
 */
export function resolveInRoot(inRootPath: string, readlink: ReadLink): string {
  let pending = split(inRootPath);
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '.' || part === '') continue;
    if (part === '..') {
      done.pop();
      continue;
    }
    const candidate = '/' + [...done, part].join('/');
    const target = readlink(candidate);
    if (target === null) {
      done.push(part);
      continue;
    }
    if (++links > MAX_LINKS) throw new Error(`too many levels of symbolic links resolving "${inRootPath}"`);
    if (target.startsWith('/')) done.length = 0;
    pending = [...split(target), ...pending];
  }
  return '/' + done.join('/');
}

/** Returns true when `child` is `parent` or lies under it, comparing whole path components. */
export function isWithin(parent: string, child: string): boolean {
  const rel = path.relative(parent, child);
  // "..hidden" is a child; only ".." itself or a "../" prefix leaves the parent.
  return rel === '' || (rel !== '..' && !rel.startsWith('../') && !path.isAbsolute(rel));
}

function split(p: string): string[] {
  return p.split('/').filter((s) => s !== '');
}
