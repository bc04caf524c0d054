/**
 * build-deb — `npm run package`: builds build/oci-gpu_<version>_<arch>.deb with dpkg-deb, offline, from
 * the build (build/oci-gpu-hook, build/oci-gpu.mjs) and the same layout `oci-gpu install` uses
 * (src/core/install/install-layout.ts), plus packaging/deb/{postinst,prerm,postrm}.
 *
 *   node dist/scripts/build-deb.js [--source DIR] [--output DIR]
 *
 * The package: /etc/oci-gpu/config.json5 is a conffile (dpkg keeps an edited one); the opt-in
 * hooks.d entry oci-gpu-nvidia-env.json goes to /usr/share/oci-gpu/hooks.d/ (copy it into a hooks
 * dir to turn it on). No hard dependency on nodejs: the CLI and the watcher need Node.js >= 20,
 * which Debian 12's nodejs (18) is not, and Node often comes from NodeSource or a tarball, which
 * dpkg cannot see. So "Recommends: nodejs (>= 20)", and postinst checks for a usable node and only
 * starts the watcher when there is one. The hook binary needs no node.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256Text } from '../src/adapters/install-fs.js';
import { readSources, readVersion } from '../src/adapters/install-sources.js';
import { INSTALL_PATHS, layoutInstall, NVIDIA_ENV_HOOK_FILE, rewriteHooksEntry } from '../src/core/install/install-layout.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const PACKAGE = 'oci-gpu';

/** Builds the .deb; returns its path. Throws with dpkg-deb's message when it fails. */
export function buildDeb(options: { source?: string; output?: string } = {}): string {
  const source = path.resolve(options.source ?? REPO);
  const output = path.resolve(options.output ?? path.join(REPO, 'build'));
  const sources = readSources(source, 'build-deb');
  const version = readVersion(source);
  const arch = execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim();
  fs.mkdirSync(output, { recursive: true });
  const stage = fs.mkdtempSync(path.join(output, `.deb-stage-`));
  try {
    fs.chmodSync(stage, 0o755);
    const put = (p: string) => {
      const at = path.join(stage, p);
      fs.mkdirSync(path.dirname(at), { recursive: true, mode: 0o755 });
      return at;
    };
    for (const p of layoutInstall(sources, { prefix: '/', nvidiaEnv: false, docker: false, manifest: null }, sha256Text)) {
      const at = put(p.path);
      if (p.kind === 'symlink') fs.symlinkSync(p.target, at);
      else {
        if ('text' in p.source) fs.writeFileSync(at, p.source.text);
        else fs.copyFileSync(p.source.file, at);
        fs.chmodSync(at, p.mode);
      }
    }
    const envHook = sources.hooksD[NVIDIA_ENV_HOOK_FILE];
    if (envHook) fs.writeFileSync(put(path.join(INSTALL_PATHS.sharedHooks, NVIDIA_ENV_HOOK_FILE)), rewriteHooksEntry(envHook, `hooks.d/${NVIDIA_ENV_HOOK_FILE}`, INSTALL_PATHS.hook, []));
    const doc = path.join(source, 'docs/install.md');
    if (fs.existsSync(doc)) fs.copyFileSync(doc, put('/usr/share/doc/oci-gpu/install.md'));
    // Folders 0755 whatever the umask; then the control area.
    for (const dir of walk(stage).filter((p) => fs.lstatSync(p).isDirectory())) fs.chmodSync(dir, 0o755);
    const files = walk(stage).filter((p) => fs.lstatSync(p).isFile());
    const installedKb = Math.ceil(files.reduce((n, f) => n + fs.statSync(f).size, 0) / 1024);
    const control = path.join(stage, 'DEBIAN');
    fs.mkdirSync(control, { mode: 0o755 });
    fs.writeFileSync(
      path.join(control, 'control'),
      [
        `Package: ${PACKAGE}`,
        `Version: ${version}`,
        `Architecture: ${arch}`,
        'Maintainer: oci-gpu developers <root@localhost>',
        `Installed-Size: ${installedKb}`,
        // The hook is a Node single-executable: it links libstdc++ and libgcc_s, nothing else beyond libc.
        'Depends: libc6 (>= 2.28), libstdc++6, libgcc-s1',
        'Recommends: nodejs (>= 20)',
        'Suggests: podman, docker.io | docker-ce',
        'Section: admin',
        'Priority: optional',
        'Description: NVIDIA GPUs in Podman, Docker and Kubernetes containers',
        ' A watcher (oci-gpu-watch.service) discovers the driver and GPUs once and keeps',
        ' /run/oci-gpu/manifest.json and a CDI spec current; a small precreate hook',
        ' (hooks.d) or runtime wrapper (oci-gpu-runtime, for Docker) adds the GPUs a',
        ' container asks for from that manifest.',
        ' .',
        ' The CLI and the watcher need Node.js >= 20 (Debian 12 ships 18: install it from',
        ' NodeSource or set OCI_GPU_NODE); the hook does not.',
        '',
      ].join('\n'),
    );
    fs.writeFileSync(path.join(control, 'conffiles'), `${INSTALL_PATHS.config}\n`);
    fs.writeFileSync(
      path.join(control, 'md5sums'),
      files.map((f) => `${crypto.createHash('md5').update(fs.readFileSync(f)).digest('hex')}  ${path.relative(stage, f)}\n`).join(''),
    );
    for (const script of ['postinst', 'prerm', 'postrm']) {
      fs.copyFileSync(path.join(source, 'packaging/deb', script), path.join(control, script));
      fs.chmodSync(path.join(control, script), 0o755);
    }
    const deb = path.join(output, `${PACKAGE}_${version}_${arch}.deb`);
    const tmp = `${deb}.${process.pid}.tmp`;
    try {
      // xz -1: a third of the time of the default for a few MB more (the hook is a 100 MB node binary).
      execFileSync('dpkg-deb', ['--root-owner-group', '-Zxz', '-z1', '--build', stage, tmp], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (error) {
      fs.rmSync(tmp, { force: true });
      const stderr = String((error as { stderr?: Buffer }).stderr ?? '').trim();
      throw new Error(`dpkg-deb --build failed: ${stderr.split('\n').at(-1) ?? (error as Error).message}`);
    }
    fs.renameSync(tmp, deb);
    return deb;
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    out.push(p);
    if (e.isDirectory()) out.push(...walk(p));
  }
  return out;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const value = (flag: string) => {
    const i = args.indexOf(flag);
    return i >= 0 ? args[i + 1] : undefined;
  };
  if (args.includes('--help')) {
    process.stdout.write('Usage: node dist/scripts/build-deb.js [--source DIR] [--output DIR]\nBuilds oci-gpu_<version>_<arch>.deb (default into build/) from build/oci-gpu-hook and build/oci-gpu.mjs.\n');
  } else {
    try {
      const deb = buildDeb({ source: value('--source'), output: value('--output') });
      process.stdout.write(`built ${path.relative(process.cwd(), deb) || deb} (${Math.round(fs.statSync(deb).size / 1e6)} MB)\n`);
    } catch (error) {
      const message = (error as Error).message;
      process.stderr.write(`${message.startsWith('build-deb:') ? '' : 'build-deb: '}${message}\n`);
      process.exitCode = 1;
    }
  }
}
