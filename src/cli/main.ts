import { errorLine, exitCodeOf, UsageError } from '../errors.js';
import { runCdi } from './cdi.js';
import { processIo, type Io } from './io.js';
import { runScan } from './scan.js';

const HELP = `Usage: oci-gpu <command> [options]

NVIDIA GPUs in Podman, Docker and Kubernetes containers: discovery runs once, in a watcher;
container starts only read its manifest.

Commands:
  scan           discover the driver, GPUs and driver files; print the manifest
  cdi generate   print a CDI spec for the host
  watch          keep /run/oci-gpu/manifest.json and the CDI spec true (the systemd service)
  status         what the watcher last saw; non-zero if the manifest is missing or stale
  doctor         find why GPUs do not work on this host or in a container
  install        install the hook, hooks.d entries, service and config
  uninstall      remove what install placed
  kubelet-plugin Kubernetes DRA driver: ResourceSlices and per-claim CDI specs from the manifest
  device-plugin  Kubernetes device plugin: the GPUs as an extended resource, allocated by CDI name

--root DIR (a simulated host): scan, cdi generate, watch and doctor.
--config FILE: every command but install and uninstall, which take --prefix DIR instead.
--debug: every command. Run \`oci-gpu <command> --help\` for its options.
`;

type Command = (argv: string[], io: Io) => number | Promise<number>;

const COMMANDS: Record<string, { run: Command }> = {
  scan: { run: runScan },
  cdi: { run: runCdi },
  // Loaded on demand: the watcher pulls in chokidar and winston, which other commands do not need.
  watch: { run: async (argv, io) => (await import('./watch.js')).runWatch(argv, io) },
  status: { run: async (argv, io) => (await import('./status.js')).runStatus(argv, io) },
  doctor: { run: async (argv, io) => (await import('./doctor.js')).runDoctor(argv, io) },
  install: { run: async (argv, io) => (await import('./install.js')).runInstall(argv, io) },
  uninstall: { run: async (argv, io) => (await import('./install.js')).runUninstall(argv, io) },
  // gRPC and the Kubernetes client load only here.
  'kubelet-plugin': { run: async (argv, io) => (await import('./k8s.js')).runKubeletPlugin(argv, io) },
  'device-plugin': { run: async (argv, io) => (await import('./k8s.js')).runDevicePlugin(argv, io) },
};

/** Runs the CLI and returns the exit status; errors become one line on stderr (a stack with --debug). */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const debug = argv.includes('--debug');
  try {
    const [name, ...rest] = argv;
    if (name === undefined || name === '--help' || name === '-h' || name === 'help') return io.out(HELP), 0;
    // install-sources (the version's home) loads the install code: only for --version.
    if (name === '--version') return io.out(`oci-gpu ${(await import('../adapters/install-sources.js')).releaseVersion()}\n`), 0;
    const command = COMMANDS[name];
    if (!command) throw new UsageError(`oci-gpu: unknown command "${name}" (see \`oci-gpu --help\`)`);
    return await command.run(rest, io);
  } catch (error) {
    io.err(errorLine('oci-gpu', error, debug));
    return exitCodeOf(error);
  }
}
