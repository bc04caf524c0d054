/**
 * build-deb — `npm run package`: builds build/oci-gpu_<version>_<arch>.deb with dpkg-deb, offline, for
 * amd64 and arm64, from the binaries scripts/build.sh made (build/linux-amd64/oci-gpu,
 * build/linux-arm64/oci-gpu) and the same layout `oci-gpu install` uses
 * (src/core/install/install-layout.ts), plus packaging/deb/{postinst,prerm,postrm}.
 *
 *   node dist/scripts/build-deb.js [--arch amd64|arm64]... [--output DIR]
 *
 * The package: /etc/oci-gpu/config.json5 is a conffile (dpkg keeps an edited one); the opt-in
 * hooks.d entry oci-gpu-nvidia-env.json goes to /usr/share/oci-gpu/hooks.d/ (copy it into a hooks
 * dir to turn it on). The binary carries its runtime (Bun): the package depends on libc alone.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256File, sha256Text } from '../src/adapters/install-fs.js';
import { readSources, releaseVersion } from '../src/adapters/install-sources.js';
import { INSTALL_PATHS, layoutInstall, NVIDIA_ENV_HOOK_FILE, rewriteHooksEntry } from '../src/core/install/install-layout.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const PACKAGE = 'oci-gpu';

/** Debian architecture → the folder scripts/build.sh builds it into. */
export const DEB_ARCHES = { amd64: 'build/linux-amd64/oci-gpu', arm64: 'build/linux-arm64/oci-gpu' } as const;
export type DebArch = keyof typeof DEB_ARCHES;

/** Builds the .deb for `arch`; returns its path. Throws with dpkg-deb's message when it fails. */
export function buildDeb(arch: DebArch, options: { output?: string } = {}): string {
  const source = REPO;
  const output = path.resolve(options.output ?? path.join(REPO, 'build'));
  const binary = path.join(REPO, DEB_ARCHES[arch]);
  if (!fs.existsSync(binary)) throw new Error(`build-deb: "${binary}" is missing: run \`sh scripts/build.sh ${arch}\` first`);
  const sources = { ...readSources('build-deb'), binary: { file: binary, sha256: sha256File(binary) } };
  const version = releaseVersion();
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
        // Bun-compiled: it links libc, libm, libdl, libpthread and needs GLIBC_2.17 at most.
        'Depends: libc6 (>= 2.17)',
        'Suggests: podman, docker.io | docker-ce',
        'Section: admin',
        'Priority: optional',
        'Description: NVIDIA GPUs in Podman, Docker and Kubernetes containers',
        ' A watcher (oci-gpu-watch.service) discovers the driver and GPUs once and keeps',
        ' /run/oci-gpu/manifest.json and a CDI spec current; a small precreate hook',
        ' (hooks.d) or runtime wrapper (oci-gpu-runtime, for Docker) adds the GPUs a',
        ' container asks for from that manifest. One self-contained executable: no',
        ' Node.js or other runtime is needed.',
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
      // xz -1: a third of the time of the default for a few MB more (the binary is ~110 MB).
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
  const usage = 'Usage: node dist/scripts/build-deb.js [--arch amd64|arm64]... [--output DIR]\nBuilds oci-gpu_<version>_<arch>.deb (default: amd64 and arm64, into build/) from build/linux-<amd64|arm64>/oci-gpu.\n';
  try {
    const arches: DebArch[] = [];
    let output: string | undefined;
    const args = process.argv.slice(2);
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      const value = () => {
        const v = args[++i];
        if (v === undefined) throw new Error(`build-deb: ${a} needs a value`);
        return v;
      };
      if (a === '--help' || a === '-h') {
        process.stdout.write(usage);
        process.exit(0);
      } else if (a === '--arch') {
        const v = value();
        if (!(v in DEB_ARCHES)) throw new Error(`build-deb: unknown --arch "${v}": amd64 or arm64`);
        arches.push(v as DebArch);
      } else if (a === '--output') output = value();
      else throw new Error(`build-deb: unknown argument "${a}" (see --help)`);
    }
    for (const arch of arches.length ? arches : (Object.keys(DEB_ARCHES) as DebArch[])) {
      const deb = buildDeb(arch, { output });
      process.stdout.write(`built ${path.relative(process.cwd(), deb) || deb} (${Math.round(fs.statSync(deb).size / 1e6)} MB)\n`);
    }
  } catch (error) {
    const message = (error as Error).message;
    process.stderr.write(`${message.startsWith('build-deb:') ? '' : 'build-deb: '}${message}\n`);
    process.exitCode = message.includes('unknown') || message.includes('needs a value') ? 2 : 1;
  }
}
