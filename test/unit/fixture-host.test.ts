import test from 'ava';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  buildFixtureHost,
  copyFixtureHost,
  fixtureBuildDir,
  listLdCache,
  readHostSpec,
  resolveInTree,
  type FixtureHostName,
} from '../../scripts/fixture-host.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { missingBinary, need, needs, ROOT } from '../helpers/needs.js';
import { NEEDS_ROOT, rootTest } from '../helpers/root.js';

const CLI = path.join(REPO_ROOT, 'dist/scripts/fixture-host.js');
// Building needs mknod (root); without root these tests cannot run at all.

function devOf(file: string): { type: string; major: number; minor: number; mode: number } {
  const st = fs.lstatSync(file);
  const rdev = st.rdev;
  return {
    type: st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : 'other',
    major: (rdev >> 8) & 0xfff,
    minor: (rdev & 0xff) | ((rdev >> 12) & 0xfff00),
    mode: st.mode & 0o7777,
  };
}

function hasTool(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}
const HAVE_READELF = hasTool('readelf');

/** Minimal ELF reader: class (32/64) and DT_SONAME, from the section headers (little-endian only). */
function parseElf(file: string): { bits: 32 | 64; soname: string | undefined } {
  const b = fs.readFileSync(file);
  if (b.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${file}: not ELF`);
  const bits = b[4] === 2 ? 64 : 32;
  const word = (o: number): number => (bits === 64 ? Number(b.readBigUInt64LE(o)) : b.readUInt32LE(o));
  const shoff = bits === 64 ? Number(b.readBigUInt64LE(0x28)) : b.readUInt32LE(0x20);
  const shentsize = b.readUInt16LE(bits === 64 ? 0x3a : 0x2e);
  const shnum = b.readUInt16LE(bits === 64 ? 0x3c : 0x30);
  const sh = (i: number) => {
    const o = shoff + i * shentsize;
    return bits === 64
      ? { type: b.readUInt32LE(o + 4), offset: word(o + 0x18), size: word(o + 0x20), link: b.readUInt32LE(o + 0x28) }
      : { type: b.readUInt32LE(o + 4), offset: word(o + 0x10), size: word(o + 0x14), link: b.readUInt32LE(o + 0x18) };
  };
  for (let i = 0; i < shnum; i++) {
    const s = sh(i);
    if (s.type !== 6 /* SHT_DYNAMIC */) continue;
    const strtab = sh(s.link);
    const ent = bits === 64 ? 16 : 8;
    for (let o = s.offset; o + ent <= s.offset + s.size; o += ent) {
      const tag = word(o);
      if (tag === 0) break;
      if (tag === 14 /* DT_SONAME */) {
        const start = strtab.offset + word(o + ent / 2);
        return { bits, soname: b.toString('latin1', start, b.indexOf(0, start)) };
      }
    }
  }
  return { bits, soname: undefined };
}

/** The DT_SONAME of a library: readelf -d when binutils is here, else the minimal parser. */
function soname(file: string): string | undefined {
  if (!HAVE_READELF) return parseElf(file).soname;
  const out = execFileSync('readelf', ['-d', file], { encoding: 'utf8' });
  return /\(SONAME\)\s+Library soname: \[([^\]]+)\]/.exec(out)?.[1];
}

function lsTree(root: string): string[] {
  return execFileSync('find', ['.', '-printf', '%y %m %p %l\\n'], { cwd: root, encoding: 'utf8' }).split('\n').filter(Boolean).sort();
}

// ------------------------------------------------------------------------------------------------- h200

rootTest(`h200: the char device nodes of the real host, with its majors, minors and modes${NEEDS_ROOT}`, (t) => {
  const root = buildFixtureHost('h200');
  t.true(path.isAbsolute(root));
  const want: [string, number, number, number][] = [
    ['dev/nvidia0', 195, 0, 0o666],
    ['dev/nvidiactl', 195, 255, 0o666],
    ['dev/nvidia-uvm', 238, 0, 0o666],
    ['dev/nvidia-uvm-tools', 238, 1, 0o666],
    ['dev/nvidia-caps/nvidia-cap1', 241, 1, 0o400],
    ['dev/nvidia-caps/nvidia-cap2', 241, 2, 0o444],
  ];
  for (const [p, major, minor, mode] of want) {
    t.deepEqual(devOf(path.join(root, p)), { type: 'c', major, minor, mode }, p);
  }
  for (const absent of ['dev/dri', 'dev/nvidia-modeset', 'dev/char', 'sys/bus/pci/devices/0000:00:06.0/drm']) {
    t.false(fs.existsSync(path.join(root, absent)), absent);
  }
  t.deepEqual(fs.readdirSync(path.join(root, 'dev')).sort(), ['nvidia-caps', 'nvidia-uvm', 'nvidia-uvm-tools', 'nvidia0', 'nvidiactl']);
});

rootTest(`h200: proc and sys files read exactly as on the real host${NEEDS_ROOT}`, (t) => {
  const root = buildFixtureHost('h200');
  const facts = fs.readFileSync(path.join(REPO_ROOT, 'test/fixtures/real-h200/facts.txt'), 'utf8');
  t.is(fs.readFileSync(path.join(root, 'sys/module/nvidia/version'), 'utf8'), '580.159.04\n');
  const version = fs.readFileSync(path.join(root, 'proc/driver/nvidia/version'), 'utf8');
  t.true(facts.includes(version), 'proc/driver/nvidia/version is the lines of facts.txt');
  t.regex(version, /Open Kernel Module for x86_64 {2}580\.159\.04 /);
  const devices = fs.readFileSync(path.join(root, 'proc/devices'), 'utf8');
  t.true(facts.includes(devices));
  t.regex(devices, /^195 nvidia\n195 nvidiactl\n/m);
  t.regex(devices, /^238 nvidia-uvm$/m);
  t.regex(devices, /^241 nvidia-caps$/m);
  const info = fs.readFileSync(path.join(root, 'proc/driver/nvidia/gpus/0000:00:06.0/information'), 'utf8');
  const catA = info.replace(/\t/g, '^I').replace(/\n/g, '$\n');
  t.true(facts.includes(catA), 'information is facts.txt\'s cat -A output');
  t.regex(info, /^GPU UUID: \t GPU-8b472ccd-7f02-9c7a-ca0f-35527f14b320$/m);
  const pci = path.join(root, 'sys/bus/pci/devices/0000:00:06.0');
  t.is(fs.readFileSync(path.join(pci, 'vendor'), 'utf8'), '0x10de\n');
  t.is(fs.readFileSync(path.join(pci, 'device'), 'utf8'), '0x2335\n');
  t.is(fs.readFileSync(path.join(pci, 'class'), 'utf8'), '0x030200\n');
  t.is(path.basename(fs.readlinkSync(path.join(pci, 'driver'))), 'nvidia');
});

rootTest(`h200: every fake library is an ELF shared object with its soname and its symlink chain${NEEDS_ROOT}`, (t) => {
  const root = buildFixtureHost('h200');
  const spec = readHostSpec('h200');
  t.true((spec.libraries ?? []).length > 40);
  for (const lib of spec.libraries ?? []) {
    const file = path.join(root, lib.path);
    t.true(fs.lstatSync(file).isFile(), lib.path);
    t.is(soname(file), lib.soname, lib.path);
    t.is(parseElf(file).soname, lib.soname, `${lib.path} (own ELF parser)`);
    t.is(parseElf(file).bits, 64, lib.path);
    for (const link of lib.links ?? []) {
      const l = path.join(path.dirname(file), link);
      t.true(fs.lstatSync(l).isSymbolicLink(), `${link} is a symlink`);
      t.is(fs.realpathSync(l), fs.realpathSync(file), `${link} resolves to ${lib.path}`);
    }
  }
  const lib64 = path.join(root, 'usr/local/nvidia/lib64');
  t.is(fs.readlinkSync(path.join(lib64, 'libcuda.so')), 'libcuda.so.1');
  t.is(fs.readlinkSync(path.join(lib64, 'libcuda.so.1')), 'libcuda.so.580.159.04');
  t.is(fs.readlinkSync(path.join(lib64, 'libnvidia-glcore.so')), 'libnvidia-glcore.so.580.159.04');
  t.false(fs.existsSync(path.join(lib64, 'libnvidia-glcore.so.1')));
  t.is(fs.readlinkSync(path.join(root, 'usr/local/nvidia/lib')), 'lib64');
  // The traps
  t.is(soname(path.join(root, 'usr/lib/x86_64-linux-gnu/libcuda.so.570.86.15')), 'libcuda.so.1');
  t.is(soname(path.join(lib64, 'libnvidia-future.so.580.159.04')), 'libnvidia-future.so.1');
  t.is(soname(path.join(root, 'usr/local/cuda-13.0/targets/x86_64-linux/lib/libcudart.so.13.0.96')), 'libcudart.so.13');
  t.is(soname(path.join(root, 'usr/local/cuda-13.0/targets/x86_64-linux/lib/stubs/libcuda.so')), 'libcuda.so.1');
  t.is(fs.readlinkSync(path.join(root, 'usr/local/cuda')), '/etc/alternatives/cuda', 'absolute symlink, to resolve inside the root');
  t.is(resolveInTree(root, '/usr/local/cuda/lib64/libcudart.so.13'), path.join(root, 'usr/local/cuda-13.0/targets/x86_64-linux/lib/libcudart.so.13.0.96'));
  t.is(resolveInTree(root, '/lib/libcuda.so.1'), path.join(lib64, 'libcuda.so.580.159.04'));
});

rootTest(`h200: the rest of the driver folder (bin, firmware, JSON) and the /usr/share copies${NEEDS_ROOT}`, (t) => {
  const root = buildFixtureHost('h200');
  const nv = path.join(root, 'usr/local/nvidia');
  for (const b of ['nvidia-smi', 'nvidia-debugdump', 'nvidia-persistenced', 'nvidia-cuda-mps-control', 'nvidia-cuda-mps-server']) {
    const st = fs.statSync(path.join(nv, 'bin', b));
    t.true(st.isFile() && (st.mode & 0o111) !== 0, b);
  }
  t.regex(execFileSync(path.join(nv, 'bin/nvidia-debugdump'), { encoding: 'utf8' }), /^nvidia-debugdump 580\.159\.04/);
  for (const f of ['firmware/nvidia/580.159.04/gsp_ga10x.bin', 'firmware/nvidia/580.159.04/gsp_tu10x.bin']) {
    t.true(fs.statSync(path.join(nv, f)).isFile(), f);
  }
  for (const f of [
    'usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json',
    'usr/local/nvidia/share/vulkan/implicit_layer.d/nvidia_layers.json',
    'usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json',
    'usr/share/vulkan/icd.d/nvidia_icd.json',
    'usr/share/glvnd/egl_vendor.d/10_nvidia.json',
  ]) {
    t.notThrows(() => JSON.parse(fs.readFileSync(path.join(root, f), 'utf8')), f);
  }
  // Byte sizes of the real files (facts.txt's ls -la): the reconstructions match them.
  t.is(fs.statSync(path.join(nv, 'share/vulkan/icd.d/nvidia_icd.json')).size, 140);
  t.is(fs.statSync(path.join(nv, 'share/glvnd/egl_vendor.d/10_nvidia.json')).size, 107);
  t.is(fs.statSync(path.join(nv, 'share/vulkan/implicit_layer.d/nvidia_layers.json')).size, 1243);
  t.is(fs.readFileSync(path.join(nv, 'version'), 'utf8'), '580.159.04');
});

rootTest(`h200: etc/ld.so.cache is a real cache whose entries are tree paths, running driver first${NEEDS_ROOT}`, (t) => {
  const root = buildFixtureHost('h200');
  const cache = path.join(root, 'etc/ld.so.cache');
  t.is(fs.readFileSync(cache).subarray(0, 20).toString('latin1'), 'glibc-ld.so.cache1.1');
  const out = execFileSync('ldconfig', ['-p', '-C', cache], { encoding: 'utf8' });
  t.regex(out, /^\tlibcuda\.so\.1 \(libc6,x86-64\) => \/usr\/local\/nvidia\/lib64\/libcuda\.so\.1$/m);
  const entries = listLdCache(cache);
  for (const e of entries) {
    t.false(e.path.startsWith(root), `${e.path} is a tree path, not a path of this machine`);
    const real = resolveInTree(root, e.path);
    t.truthy(real && fs.statSync(real).isFile(), `${e.path} resolves in the tree`);
  }
  const cuda1 = entries.filter((e) => e.name === 'libcuda.so.1').map((e) => e.path);
  t.deepEqual(cuda1, ['/usr/local/nvidia/lib64/libcuda.so.1', '/lib/x86_64-linux-gnu/libcuda.so.1', '/lib/libcuda.so.1']);
  t.is(resolveInTree(root, '/lib/x86_64-linux-gnu/libcuda.so.1'), path.join(root, 'usr/lib/x86_64-linux-gnu/libcuda.so.570.86.15'));
  t.true(entries.some((e) => e.name === 'libnvidia-future.so.1' && e.path === '/usr/local/nvidia/lib64/libnvidia-future.so.1'));
  t.true(entries.some((e) => e.name === 'libcudart.so.13' && e.path === '/usr/local/cuda/targets/x86_64-linux/lib/libcudart.so.13'));
  t.false(entries.some((e) => e.path.includes('/stubs/')), 'stubs are not in the cache');
  t.false(entries.some((e) => e.path.includes('/usr/local/nvidia/glibc/')), 'the driver folder\'s glibc is not in the cache');
  t.false(entries.some((e) => e.path.includes('/usr/local/nvidia/lib/')), 'lib -> lib64 is one directory');

  // Same NVIDIA entries, in the same order, as the real host's cache (its CUDA toolkit has more libraries).
  const real = listLdCache(path.join(REPO_ROOT, 'test/fixtures/real-h200/ld.so.cache'));
  const key = (e: { name: string; path: string }) => `${e.name} => ${e.path}`;
  const nvidia = (e: { path: string }) => e.path.startsWith('/usr/local/nvidia/') || /^\/lib\/lib[^/]*$/.test(e.path);
  const ours = entries.filter(nvidia).map(key).filter((k) => !k.startsWith('libnvidia-future.so.1 '));
  t.deepEqual(ours, real.filter(nvidia).map(key), 'same entries in the same order');
});

rootTest(`h200: the fake nvidia-smi loads libnvidia-ml.so.1 without rpath and opens the tree's nodes${NEEDS_ROOT}`, (t) => {
  const root = buildFixtureHost('h200');
  const smi = path.join(root, 'usr/local/nvidia/bin/nvidia-smi');
  if (HAVE_READELF) {
    const dyn = execFileSync('readelf', ['-d', smi], { encoding: 'utf8' });
    t.regex(dyn, /\(NEEDED\)\s+Shared library: \[libnvidia-ml\.so\.1\]/);
    t.notRegex(dyn, /RPATH|RUNPATH/);
  }
  const env = { PATH: '/usr/bin:/bin', LD_LIBRARY_PATH: path.join(root, 'usr/local/nvidia/lib64'), OCI_GPU_FAKE_DEV_DIR: path.join(root, 'dev') };
  const r = spawnSync(smi, [], { env, encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n');
  t.is(lines[0], 'Driver Version: 580.159.04');
  t.is(lines[1], `NVML library: ${path.join(root, 'usr/local/nvidia/lib64/libnvidia-ml.so.1')}`);
  // 195:0 exists in the tree but no driver is behind it on this machine: ENXIO, as in an allowed container.
  t.is(lines[2], `GPU 0: ${path.join(root, 'dev/nvidia0')} open: No such device or address`);
  t.is(lines.filter((l) => l.startsWith('GPU ')).length, 1);

  const noLib = spawnSync(smi, [], { env: { PATH: '/usr/bin:/bin' }, encoding: 'utf8' });
  t.not(noLib.status, 0);
  t.regex(noLib.stderr, /libnvidia-ml\.so\.1: cannot open shared object file/);

  const noDev = spawnSync(smi, [], { env: { ...env, OCI_GPU_FAKE_DEV_DIR: path.join(root, 'usr') }, encoding: 'utf8' });
  t.is(noDev.status, 6);
  t.regex(noDev.stdout, /^No devices were found$/m);
});

rootTest(`h200: host tools copied from this machine run from the tree path${NEEDS_ROOT}`, (t) => {
  const root = buildFixtureHost('h200');
  t.regex(execFileSync(path.join(root, 'sbin/ldconfig.real'), ['--version'], { encoding: 'utf8' }), /^ldconfig /);
  t.regex(execFileSync(path.join(root, 'usr/bin/nsenter'), ['--version'], { encoding: 'utf8' }), /^nsenter from util-linux/);
  t.is(execFileSync(path.join(root, 'bin/sh'), ['-c', 'echo ok'], { encoding: 'utf8' }), 'ok\n');
  t.is(fs.readlinkSync(path.join(root, 'bin')), 'usr/bin');
  const wrapper = fs.readFileSync(path.join(root, 'sbin/ldconfig'), 'utf8');
  t.true(wrapper.startsWith('#!/bin/sh\n'));
  t.regex(wrapper, /^exec \/sbin\/ldconfig\.real "\$@"$/m);
  t.is(wrapper.length, 387, 'the size of the real Ubuntu wrapper');
  // The tree's own ldconfig builds a cache for a copy of the tree (what a post-mount step does to a rootfs).
  const copy = copyFixtureHost('h200');
  try {
    fs.rmSync(path.join(copy, 'etc/ld.so.cache'));
    execFileSync(path.join(copy, 'sbin/ldconfig.real'), ['-X', '-r', copy]);
    t.true(listLdCache(path.join(copy, 'etc/ld.so.cache')).some((e) => e.path === '/usr/local/nvidia/lib64/libcuda.so.1'));
  } finally {
    fs.rmSync(copy, { recursive: true, force: true });
  }
});

// -------------------------------------------------------------------------------------------- rhel-2gpu

rootTest(`rhel-2gpu: two GPUs at minors 0 and 3, modeset, uvm at 511, DRM nodes and sysfs drm dirs${NEEDS_ROOT}`, (t) => {
  const root = buildFixtureHost('rhel-2gpu');
  const want: [string, number, number][] = [
    ['dev/nvidia0', 195, 0],
    ['dev/nvidia3', 195, 3],
    ['dev/nvidiactl', 195, 255],
    ['dev/nvidia-modeset', 195, 254],
    ['dev/nvidia-uvm', 511, 0],
    ['dev/nvidia-uvm-tools', 511, 1],
    ['dev/dri/card1', 226, 1],
    ['dev/dri/card2', 226, 2],
    ['dev/dri/renderD128', 226, 128],
    ['dev/dri/renderD129', 226, 129],
  ];
  for (const [p, major, minor] of want) {
    const d = devOf(path.join(root, p));
    t.deepEqual([d.type, d.major, d.minor], ['c', major, minor], p);
  }
  t.false(fs.existsSync(path.join(root, 'dev/nvidia1')));
  t.false(fs.existsSync(path.join(root, 'sys/module/nvidia/version')));
  t.regex(fs.readFileSync(path.join(root, 'proc/driver/nvidia/version'), 'utf8'), /^NVRM version: NVIDIA UNIX x86_64 Kernel Module {2}550\.54\.15 /);
  for (const [bus, card, render, minor] of [
    ['0000:3b:00.0', 'card1', 'renderD128', '0'],
    ['0000:86:00.0', 'card2', 'renderD129', '3'],
  ] as const) {
    const drm = path.join(root, 'sys/bus/pci/devices', bus, 'drm');
    t.deepEqual(fs.readdirSync(drm).sort(), [card, render]);
    t.true(fs.statSync(path.join(drm, card)).isDirectory());
    const info = fs.readFileSync(path.join(root, 'proc/driver/nvidia/gpus', bus, 'information'), 'utf8');
    t.regex(info, /^Model: \t\t NVIDIA A100-SXM4-80GB$/m);
    t.regex(info, new RegExp(`^Device Minor: \\t ${minor}$`, 'm'));
    t.regex(info, new RegExp(`^Bus Location: \\t ${bus.replace(/\./g, '\\.')}$`, 'm'));
  }
  t.is(fs.readFileSync(path.join(root, 'sys/class/drm/card1/dev'), 'utf8'), '226:1\n');
  t.is(fs.readFileSync(path.join(root, 'sys/class/drm/card0/device/vendor'), 'utf8'), '0x1a03\n', 'card0 is the BMC, not NVIDIA');
});

rootTest(`rhel-2gpu: real unix sockets, MPS dir, 32-bit libraries, RHEL ld cache${NEEDS_ROOT}`, (t) => {
  const root = buildFixtureHost('rhel-2gpu');
  for (const s of ['run/nvidia-persistenced/socket', 'run/nvidia-fabricmanager/socket']) {
    t.true(fs.lstatSync(path.join(root, s)).isSocket(), s);
  }
  t.true(fs.statSync(path.join(root, 'tmp/nvidia-mps')).isDirectory());
  t.deepEqual(parseElf(path.join(root, 'usr/lib64/libcuda.so.550.54.15')), { bits: 64, soname: 'libcuda.so.1' });
  t.deepEqual(parseElf(path.join(root, 'usr/lib/libcuda.so.550.54.15')), { bits: 32, soname: 'libcuda.so.1' });
  t.true(fs.statSync(path.join(root, 'lib/firmware/nvidia/550.54.15/gsp_ga10x.bin')).isFile());
  t.true(fs.statSync(path.join(root, 'usr/share/vulkan/icd.d/nvidia_icd.x86_64.json')).isFile());
  t.is(fs.readFileSync(path.join(root, 'etc/OpenCL/vendors/nvidia.icd'), 'utf8'), 'libnvidia-opencl.so.1\n');
  const entries = listLdCache(path.join(root, 'etc/ld.so.cache'));
  const cuda1 = entries.filter((e) => e.name === 'libcuda.so.1').map((e) => `${e.flags} ${e.path}`);
  t.deepEqual(cuda1, ['libc6,x86-64 /lib64/libcuda.so.1', 'libc6 /lib/libcuda.so.1']);
  t.false(entries.some((e) => e.path.includes('/vdpau/')), 'vdpau/ is not a cache dir');
  for (const e of entries) t.truthy(resolveInTree(root, e.path), e.path);

  const r = spawnSync(path.join(root, 'usr/bin/nvidia-smi'), [], {
    env: { LD_LIBRARY_PATH: path.join(root, 'usr/lib64'), OCI_GPU_FAKE_DEV_DIR: path.join(root, 'dev') },
    encoding: 'utf8',
  });
  t.is(r.status, 0, r.stderr);
  t.deepEqual(
    r.stdout.split('\n').filter((l) => l.startsWith('GPU ')).map((l) => l.split(':')[0]),
    ['GPU 0', 'GPU 3'],
  );
  t.regex(r.stdout, /^Driver Version: 550\.54\.15$/m);
});

// -------------------------------------------------------------------------------------------- no-driver

rootTest(`no-driver: nothing NVIDIA anywhere, but a real ld cache${NEEDS_ROOT}`, (t) => {
  const root = buildFixtureHost('no-driver');
  t.notRegex(fs.readFileSync(path.join(root, 'proc/devices'), 'utf8'), /nvidia/);
  t.false(fs.existsSync(path.join(root, 'proc/driver/nvidia')));
  t.true(fs.existsSync(path.join(root, 'proc/driver')));
  t.false(fs.existsSync(path.join(root, 'sys/module/nvidia')));
  t.false(fs.readdirSync(path.join(root, 'dev')).some((n) => n.includes('nvidia')));
  const entries = listLdCache(path.join(root, 'etc/ld.so.cache'));
  t.true(entries.some((e) => e.name === 'libz.so.1'));
  t.false(entries.some((e) => /nvidia|cuda/i.test(e.path)));
});

// ---------------------------------------------------------------------------------------- cache, copies

rootTest(`building twice reuses the cached tree${NEEDS_ROOT}`, (t) => {
  const first = buildFixtureHost('h200');
  const ino = fs.statSync(path.join(first, 'etc/ld.so.cache')).ino;
  const second = buildFixtureHost('h200');
  t.is(second, first);
  t.is(fs.statSync(path.join(second, 'etc/ld.so.cache')).ino, ino, 'the same tree, not a rebuild');
  t.true(first.startsWith(fixtureBuildDir() + path.sep));
  t.regex(path.basename(first), /^h200-[0-9a-f]{12}$/);
});

rootTest(`copyFixtureHost gives an independent copy that keeps nodes, sockets and symlinks${NEEDS_ROOT}`, (t) => {
  const built = buildFixtureHost('rhel-2gpu');
  const copy = copyFixtureHost('rhel-2gpu');
  try {
    t.not(copy, built);
    t.deepEqual(lsTree(copy), lsTree(built));
    t.deepEqual(devOf(path.join(copy, 'dev/nvidia3')), devOf(path.join(built, 'dev/nvidia3')));
    t.true(fs.lstatSync(path.join(copy, 'run/nvidia-persistenced/socket')).isSocket());
    t.is(fs.readlinkSync(path.join(copy, 'usr/lib64/libcuda.so.1')), 'libcuda.so.550.54.15');
    fs.rmSync(path.join(copy, 'dev/nvidia3'));
    fs.writeFileSync(path.join(copy, 'proc/driver/nvidia/version'), 'changed\n');
    t.true(fs.existsSync(path.join(built, 'dev/nvidia3')));
    t.regex(fs.readFileSync(path.join(built, 'proc/driver/nvidia/version'), 'utf8'), /550\.54\.15/);
    const again = copyFixtureHost('rhel-2gpu');
    t.not(again, copy);
    fs.rmSync(again, { recursive: true, force: true });
  } finally {
    fs.rmSync(copy, { recursive: true, force: true });
  }
});

function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { env });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

rootTest(`concurrent cold builds both succeed and leave one complete tree${NEEDS_ROOT}`, async (t) => {
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fixture-cache-'));
  try {
    const env = { ...process.env, OCI_GPU_FIXTURE_BUILD_DIR: cacheDir };
    const runs = await Promise.all([0, 1, 2].map(() => runCli(['no-driver'], env)));
    for (const r of runs) t.is(r.code, 0, r.stderr);
    const paths = new Set(runs.map((r) => r.stdout.trim()));
    t.is(paths.size, 1);
    const [built] = [...paths] as [string];
    t.deepEqual(fs.readdirSync(cacheDir), [path.basename(built)], 'no temp dirs left');
    t.true(fs.statSync(path.join(built, 'etc/ld.so.cache')).isFile());
    t.deepEqual(lsTree(built), lsTree(buildFixtureHost('no-driver')));
  } finally {
    fs.rmSync(cacheDir, { recursive: true, force: true });
  }
});

rootTest(`CLI: prints the path; with DEST builds there; errors are one line${NEEDS_ROOT}`, async (t) => {
  const ok = await runCli(['no-driver'], process.env);
  t.is(ok.code, 0);
  t.is(ok.stdout, `${buildFixtureHost('no-driver')}\n`);

  const dest = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fixture-dest-')), 'host');
  try {
    const r = await runCli(['no-driver', dest], process.env);
    t.is(r.code, 0, r.stderr);
    t.is(r.stdout, `${dest}\n`);
    t.deepEqual(lsTree(dest), lsTree(buildFixtureHost('no-driver')));
    const again = await runCli(['no-driver', dest], process.env);
    t.is(again.code, 1);
    t.regex(again.stderr, /^fixture-host: destination .* is not empty\n$/);
  } finally {
    fs.rmSync(path.dirname(dest), { recursive: true, force: true });
  }

  const bad = await runCli(['nope'], process.env);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /^fixture-host: unknown host "nope" \(known: h200, rhel-2gpu, no-driver, a100-mig, gb200-imex\)\n$/);
  t.is((await runCli([], process.env)).code, 2);
});

// As root, the CLI runs as nobody through setpriv, from a copy in a temp folder nobody can read
// (the checkout may be under a home folder that nobody cannot enter).
const asNobody = needs(ROOT, need(() => missingBinary(['/usr/bin/setpriv'], 'apt-get install util-linux')));
asNobody.test(`without root a cold build fails with a one-line error${asNobody.why}`, async (t) => {
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fixture-cache-'));
  fs.chmodSync(cacheDir, 0o777);
  // The script finds its host specs in the first folder above it that holds test/fixtures/hosts.
  const cli = path.join(cacheDir, 'fixture-host.mjs');
  fs.copyFileSync(CLI, cli);
  fs.cpSync(path.join(REPO_ROOT, 'test/fixtures/hosts'), path.join(cacheDir, 'test/fixtures/hosts'), { recursive: true });
  execFileSync('/bin/chmod', ['-R', 'a+rX', cacheDir]);
  try {
    const r = spawnSync(
      '/usr/bin/setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, cli, 'no-driver'],
      { env: { PATH: process.env['PATH'], OCI_GPU_FIXTURE_BUILD_DIR: cacheDir }, encoding: 'utf8', cwd: cacheDir },
    );
    t.is(r.status, 1, r.stderr);
    t.is(r.stderr, 'fixture-host: building fixture host no-driver needs root (mknod of device nodes); run as root\n');
  } finally {
    fs.rmSync(cacheDir, { recursive: true, force: true });
  }
});

test('host names are the three hosts with a host.json each', (t) => {
  const names: FixtureHostName[] = ['h200', 'rhel-2gpu', 'no-driver'];
  for (const n of names) t.is(typeof readHostSpec(n).description, 'string');
});
