// What the main help and the README say about --root and --config is what each command accepts:
// every command is asked for its help with the flag given, in-process (a refused flag exits 2).
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { main } from '../../src/cli/main.js';
import type { Io } from '../../src/cli/io.js';
import { REPO_ROOT } from '../helpers/paths.js';

const COMMANDS = ['scan', 'cdi generate', 'watch', 'status', 'doctor', 'install', 'uninstall', 'kubelet-plugin', 'device-plugin'];

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Io = { out: (t) => void (out += t), err: (t) => void (err += t), isTTY: false };
  const code = await main(argv, io);
  return { code, out, err };
}

async function accepts(command: string, flag: string): Promise<boolean> {
  const r = await cli([...command.split(' '), flag, '/tmp', '--help']);
  if (r.code === 0) return true;
  if (r.code === 2 && r.err.includes(`unknown option '${flag}'`)) return false;
  throw new Error(`${command} ${flag}: exit ${r.code}: ${r.err}`);
}

// "--root DIR (a simulated host): scan, cdi generate, watch and doctor." or "- `--config FILE`: every
// command but install and uninstall, ..." → the commands it names; [] when no line is about the flag.
function named(text: string, flag: string): string[] {
  const line = text
    .split('\n')
    .map((l) => l.replace(/`/g, '').replace(/^- /, ''))
    .find((l) => l.startsWith(`${flag} `));
  if (!line) return [];
  const list = line.slice(line.indexOf(': ') + 2).replace(/\.\s*$/, '');
  const except = /^every command but (.+?)(,|$)/.exec(list);
  if (except) return COMMANDS.filter((c) => !except[1]!.split(/, | and /).includes(c));
  return list.split(/, | and /);
}

test('--root and --config: each command accepts exactly what the main help and the README say, and its own --help lists it', async (t) => {
  const help = (await cli(['--help'])).out;
  const readme = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  for (const flag of ['--root', '--config']) {
    const accepting: string[] = [];
    for (const c of COMMANDS) {
      const yes = await accepts(c, flag);
      if (yes) accepting.push(c);
      const own = (await cli([...c.split(' '), '--help'])).out;
      t.is(new RegExp(`^\\s+${flag} `, 'm').test(own), yes, `\`oci-gpu ${c} --help\` ${yes ? 'must' : 'must not'} list ${flag}`);
    }
    t.deepEqual(named(help, flag).sort(), accepting.sort(), `oci-gpu --help about ${flag}`);
    t.deepEqual(named(readme.slice(readme.indexOf('## Commands')), flag).sort(), accepting.sort(), `README.md about ${flag}`);
  }
});
