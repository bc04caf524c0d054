import type { Diagnosis, Finding, Level } from '../../model/diagnosis.js';

const RANK: Record<Level, number> = { ok: 0, warn: 1, fail: 2 };

/** Returns a finding; `fix` is left out when empty. */
export function finding(check: string, level: Level, message: string, fix?: string): Finding {
  return fix ? { check, level, message, fix } : { check, level, message };
}

/** Returns the diagnosis of findings given in chain order: the worst level and the first failure. */
export function summarize(findings: Finding[]): Diagnosis {
  let worst: Level = 'ok';
  for (const f of findings) if (RANK[f.level] > RANK[worst]) worst = f.level;
  return { findings, worst, firstBroken: findings.find((f) => f.level === 'fail') ?? null };
}

/** Returns doctor's exit status: 0 when nothing failed (warnings included), 1 when anything did. */
export function exitStatusOf(d: Diagnosis): number {
  return d.worst === 'fail' ? 1 : 0;
}

const LABEL: Record<Level, string> = { ok: 'ok  ', warn: 'warn', fail: 'FAIL' };

/** Returns the human report: one line per finding, its fix indented below, then the first broken link and the counts. */
export function formatDiagnosis(d: Diagnosis, heading: string[] = []): string {
  const lines = [...heading];
  for (const f of d.findings) {
    lines.push(`${LABEL[f.level]}  ${f.check}: ${f.message}`);
    if (f.fix && f.level !== 'ok') lines.push(`      fix: ${f.fix}`);
  }
  const count = (l: Level) => d.findings.filter((f) => f.level === l).length;
  lines.push('');
  if (d.firstBroken) lines.push(`first broken link: ${d.firstBroken.check}: ${d.firstBroken.message}`, `fix: ${d.firstBroken.fix ?? '(none known)'}`);
  const fails = count('fail');
  const warns = count('warn');
  lines.push(`${count('ok')} ok, ${warns} warning${warns === 1 ? '' : 's'}, ${fails} failure${fails === 1 ? '' : 's'}`);
  return lines.join('\n') + '\n';
}
