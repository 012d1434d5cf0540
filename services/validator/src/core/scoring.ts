/**
 * The validator's scoring rule, a pure function of check results.
 *
 * - A check earns credit PASS 1, WARN 0.5, FAIL 0, ERROR 0 (it could not run: counted as failed,
 *   reported as ERROR).
 * - A component scores 10 × its checks' weighted credit share (check weight defaults to 1).
 * - Status: PASS at ≥ 8, WARN at ≥ 6, FAIL below.
 * - The overall score is the weighted mean of the component scores, the weights normalised to a
 *   sum of 1 (weights 3 and 1 count as 0.75 and 0.25).
 */

export type CheckStatus = 'PASS' | 'WARN' | 'FAIL' | 'ERROR';
export type Status = 'PASS' | 'WARN' | 'FAIL';

export const PASS_AT = 8;
export const WARN_AT = 6;

export const credit: Readonly<Record<CheckStatus, number>> = { PASS: 1, WARN: 0.5, FAIL: 0, ERROR: 0 };

export function statusOf(score: number): Status {
  if (score >= PASS_AT) return 'PASS';
  if (score >= WARN_AT) return 'WARN';
  return 'FAIL';
}

/** Two decimals, as reported; rounding keeps the order of scores. */
export function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

export interface ScoredCheck {
  readonly status: CheckStatus;
  /** @default 1 */
  readonly weight?: number | undefined;
}

/** 0-10 from the checks' weighted credit; a component without checks cannot be scored. */
export function componentScore(checks: readonly ScoredCheck[]): number {
  let total = 0;
  let earned = 0;
  for (const c of checks) {
    const w = c.weight ?? 1;
    total += w;
    earned += w * credit[c.status];
  }
  if (total <= 0) throw new RangeError('a component needs at least one check with a positive weight');
  return (10 * earned) / total;
}

/** The weighted mean of component scores with normalised weights. */
export function overallScore(components: readonly { weight: number; score: number }[]): number {
  const total = components.reduce((s, c) => s + c.weight, 0);
  if (total <= 0) throw new RangeError('component weights must add up to more than 0');
  return components.reduce((s, c) => s + (c.weight / total) * c.score, 0);
}

export interface ComponentResult<C extends ScoredCheck> {
  readonly name: string;
  /** The normalised weight (share of the overall score). */
  readonly weight: number;
  readonly score: number;
  readonly status: Status;
  readonly checks: readonly C[];
}

/** Scores a run: every component, then the overall score and status (scores rounded to 2 decimals). */
export function scoreRun<C extends ScoredCheck>(
  components: readonly { name: string; weight: number; checks: readonly C[] }[],
): { score: number; status: Status; components: ComponentResult<C>[] } {
  const total = components.reduce((s, c) => s + c.weight, 0);
  if (total <= 0) throw new RangeError('component weights must add up to more than 0');
  const scored = components.map((c) => {
    const score = componentScore(c.checks);
    return { name: c.name, weight: c.weight / total, score, checks: c.checks };
  });
  const score = overallScore(scored);
  return {
    score: round2(score),
    status: statusOf(round2(score)),
    components: scored.map((c) => ({
      ...c,
      weight: Math.round(c.weight * 1000) / 1000,
      score: round2(c.score),
      status: statusOf(round2(c.score)),
    })),
  };
}
