import test from 'ava';
import fc from 'fast-check';
import { isWithin, resolveInRoot, type ReadLink } from '../../src/core/resolve-in-root.js';

/** A ReadLink over a table of symlinks (in-root path → target); records every path it is asked about. */
function links(table: Record<string, string>): ReadLink & { asked: string[] } {
  const asked: string[] = [];
  const fn = (p: string) => {
    asked.push(p);
    return Object.hasOwn(table, p) ? table[p]! : null;
  };
  return Object.assign(fn, { asked });
}

// The h200 fixture host's chains (test/fixtures/hosts/h200/host.json).
const H200: Record<string, string> = {
  '/usr/local/cuda': '/etc/alternatives/cuda',
  '/etc/alternatives/cuda': '/usr/local/cuda-13.0',
  '/usr/local/cuda-13.0/lib64': 'targets/x86_64-linux/lib',
  '/usr/local/nvidia/lib': 'lib64',
  '/usr/local/nvidia/lib64/libcuda.so': 'libcuda.so.1',
  '/usr/local/nvidia/lib64/libcuda.so.1': 'libcuda.so.580.159.04',
  '/usr/lib/libcuda.so.1': '/usr/local/nvidia/lib64/libcuda.so.1',
  '/lib': 'usr/lib',
};

const resolves = test.macro({
  exec(t, table: Record<string, string>, input: string, expected: string) {
    t.is(resolveInRoot(input, links(table)), expected);
  },
  title: (_, table: Record<string, string>, input: string, expected: string) =>
    `resolveInRoot("${input}") is "${expected}"${table === H200 ? ' (h200 links)' : Object.keys(table).length ? ` with ${JSON.stringify(table)}` : ''}`,
});

// Plain paths are normalised.
test(resolves, {}, '/usr/lib/x.so', '/usr/lib/x.so');
test(resolves, {}, '//usr/./lib//x.so/', '/usr/lib/x.so');
test(resolves, {}, '/a/b/../c', '/a/c');
test(resolves, {}, '/', '/');
test(resolves, {}, '/..', '/');
test(resolves, {}, '/../../etc/passwd', '/etc/passwd');
test(resolves, {}, '/missing/dir/file', '/missing/dir/file');
// Relative, directory and absolute links, chained.
test(resolves, H200, '/usr/local/nvidia/lib64/libcuda.so', '/usr/local/nvidia/lib64/libcuda.so.580.159.04');
test(resolves, H200, '/usr/local/nvidia/lib/libcuda.so.1', '/usr/local/nvidia/lib64/libcuda.so.580.159.04');
test(resolves, H200, '/usr/lib/libcuda.so.1', '/usr/local/nvidia/lib64/libcuda.so.580.159.04');
test(resolves, H200, '/lib/libcuda.so.1', '/usr/local/nvidia/lib64/libcuda.so.580.159.04');
test(resolves, H200, '/usr/local/cuda/lib64/libcudart.so.13', '/usr/local/cuda-13.0/targets/x86_64-linux/lib/libcudart.so.13');
test(resolves, H200, '/usr/local/cuda', '/usr/local/cuda-13.0');
// ".." after a directory link climbs from where the link points (as the kernel does), not lexically.
test(resolves, { '/a/link': 'x/y' }, '/a/link/..', '/a/x');
test(resolves, { '/a/link': '/opt/deep/dir' }, '/a/link/../file', '/opt/deep/file');
// Nothing climbs above the root.
test(resolves, { '/usr/lib/evil': '../../../../../../etc/shadow' }, '/usr/lib/evil', '/etc/shadow');
test(resolves, { '/usr/lib/evil': '/../../../etc/shadow' }, '/usr/lib/evil', '/etc/shadow');
test(resolves, { '/up': '..' }, '/up/up/up/etc', '/etc');
test(resolves, { '/usr/lib/root': '/' }, '/usr/lib/root/etc/hosts', '/etc/hosts');
test(resolves, { '/a/dot': '.' }, '/a/dot/dot/dot/f', '/a/f');

test('readlink is only asked about absolute, normalised in-root paths', (t) => {
  const table = links({ '/usr/lib/evil': '../../../../x/../y', '/y': '/z/./w' });
  t.is(resolveInRoot('/usr/lib/./evil/f', table), '/z/w/f');
  t.true(table.asked.length > 0);
  for (const p of table.asked) {
    t.true(p.startsWith('/'), p);
    t.false(p.split('/').slice(1).some((s) => s === '' || s === '.' || s === '..'), p);
  }
});

const loops = test.macro({
  exec(t, table: Record<string, string>, input: string) {
    t.throws(() => resolveInRoot(input, links(table)), { message: /too many levels of symbolic links resolving "/ });
  },
  title: (_, table: Record<string, string>) => `a loop throws: ${JSON.stringify(table)}`,
});
test(loops, { '/a': '/a' }, '/a/x');
test(loops, { '/a': 'b', '/b': 'a' }, '/a');
test(loops, { '/d/l': 'l' }, '/d/l');
test(loops, { '/d/l': '../d/l' }, '/d/l/file');
test(loops, { '/a': '/b/c', '/b': '/a' }, '/a');

test('40 links are followed; the 41st throws', (t) => {
  const chain = (n: number) => {
    const table: Record<string, string> = {};
    for (let i = 0; i < n; i++) table[`/l${i}`] = `l${i + 1}`;
    return links(table);
  };
  t.is(resolveInRoot('/l0', chain(40)), '/l40');
  t.throws(() => resolveInRoot('/l0', chain(41)), { message: /too many levels/ });
});

test('the result always lies inside the root and is normalised, or a loop is reported (property)', (t) => {
  const segment = fc.constantFrom('a', 'b', 'c', '..', '.', '');
  const pathArb = fc.array(segment, { maxLength: 6 }).map((s) => '/' + s.join('/'));
  const target = fc.tuple(fc.boolean(), fc.array(segment, { maxLength: 5 })).map(([abs, s]) => (abs ? '/' : '') + s.join('/'));
  const tableArb = fc.dictionary(
    fc.array(fc.constantFrom('a', 'b', 'c'), { minLength: 1, maxLength: 3 }).map((s) => '/' + s.join('/')),
    target,
    { maxKeys: 5 },
  );
  fc.assert(
    fc.property(tableArb, pathArb, (table, p) => {
      let out: string;
      try {
        out = resolveInRoot(p, links(table));
      } catch (error) {
        t.regex((error as Error).message, /too many levels of symbolic links/);
        return;
      }
      t.true(out.startsWith('/'));
      if (out !== '/') t.false(out.slice(1).split('/').some((s) => s === '' || s === '.' || s === '..'), out);
      t.true(isWithin('/', out));
    }),
  );
});

// --- isWithin: whole components, never string prefixes ---

const within = test.macro({
  exec(t, parent: string, child: string, expected: boolean) {
    t.is(isWithin(parent, child), expected);
  },
  title: (_, parent: string, child: string, expected: boolean) => `isWithin("${parent}", "${child}") is ${expected}`,
});
test(within, '/driver', '/driver', true);
test(within, '/driver', '/driver/lib64/libcuda.so', true);
test(within, '/driver/', '/driver/lib64', true);
test(within, '/driver', '/driver/', true);
test(within, '/driver', '/driver-old', false);
test(within, '/driver', '/driver-old/lib64', false);
test(within, '/driver', '/driverx', false);
test(within, '/driver/lib', '/driver', false);
test(within, '/driver', '/', false);
test(within, '/driver', '/driver/../etc', false);
test(within, '/driver', '/other/../driver/x', true);
test(within, '/', '/', true);
test(within, '/', '/anything/at/all', true);
// Names that merely start with dots are ordinary components.
test(within, '/driver', '/driver/..hidden', true);
test(within, '/driver', '/driver/...', true);
test(within, '/driver', '/driver/..', false);
