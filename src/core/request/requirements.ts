import { RequestError } from '../../errors.js';
import type { Gpu, Manifest } from '../../model/manifest.js';
import { compareVersions } from '../manifest/gpu-facts.js';
import { shorten } from './request.js';

const CONSTRAINT = /^([a-z][a-z0-9_]*)(>=|<=|==|!=|=|>|<)([A-Za-z0-9._-]+)$/;
// Properties we evaluate; like NVIDIA's toolkit, a well-formed constraint on another property is skipped.
const KNOWN = new Set(['cuda', 'driver', 'arch', 'brand']);
const VERSION = /^\d+(\.\d+)*$/;

interface Constraint {
  key: string;
  op: string;
  want: string;
}

/**
 * Checks NVIDIA_REQUIRE_* expressions against the manifest and the selected GPUs, with NVIDIA's
 * semantics: in one expression space-separated clauses are ORed and comma-separated constraints
 * ANDed; separate variables are ANDed. Every constraint is parsed before any is evaluated, so a
 * malformed one is refused on every host. Throws RequestError naming the first unmet variable.
 */
export function checkRequirements(manifest: Manifest, gpus: Gpu[], requirements: { name: string; expression: string }[]): void {
  const parsed = requirements.map(({ name, expression }) => ({
    name,
    expression,
    clauses: expression
      .split(/\s+/)
      .filter((c) => c !== '')
      .map((clause) =>
        clause
          .split(',')
          .filter((c) => c !== '')
          .map((c) => parse(c, name))
          .filter((c): c is Constraint => c !== null),
      ),
  }));
  for (const { name, expression, clauses } of parsed) {
    if (!clauses.length) continue;
    if (!clauses.some((clause) => clause.every((c) => holds(c, manifest, gpus)))) {
      const driver = manifest.driver;
      throw new RequestError(
        `unmet requirement ${name}="${shorten(expression)}": this host has driver ${driver?.version ?? 'none'} (CUDA ${driver?.cudaVersion || 'unknown'})` +
          (gpus.length ? `, GPUs ${gpus.map((g) => `${g.index} ${g.model} (brand ${g.brand}, arch ${g.architecture || 'unknown'})`).join(', ')}` : ''),
      );
    }
  }
}

function parse(constraint: string, name: string): Constraint | null {
  const m = CONSTRAINT.exec(constraint);
  if (m && !KNOWN.has(m[1]!)) return null;
  // cuda, driver and arch compare as dotted numbers: "cuda>=abc" would otherwise compare as greater than any version.
  if (!m || (m[1] !== 'brand' && !VERSION.test(m[3]!))) {
    throw new RequestError(`${name}: cannot parse constraint "${shorten(constraint)}" (expected e.g. cuda>=12.0, driver>=535, arch=9.0, brand=tesla)`);
  }
  const [, key, op, want] = m as unknown as [string, string, string, string];
  if (key === 'brand' && op !== '=' && op !== '==' && op !== '!=') throw new RequestError(`${name}: brand only takes = or != in "${shorten(constraint)}"`);
  return { key, op, want };
}

function holds({ key, op, want }: Constraint, manifest: Manifest, gpus: Gpu[]): boolean {
  switch (key) {
    case 'cuda':
      return !!manifest.driver?.cudaVersion && compare(compareVersions(manifest.driver.cudaVersion, want), op);
    case 'driver':
      return !!manifest.driver && compare(compareVersions(manifest.driver.version, want), op);
    case 'arch':
      return gpus.every((g) => g.architecture !== '' && compare(compareVersions(g.architecture, want), op));
    default:
      return gpus.every((g) => (g.brand === want.toLowerCase()) === (op !== '!='));
  }
}

function compare(order: number, op: string): boolean {
  switch (op) {
    case '>=':
      return order >= 0;
    case '<=':
      return order <= 0;
    case '>':
      return order > 0;
    case '<':
      return order < 0;
    case '!=':
      return order !== 0;
    default:
      return order === 0;
  }
}
