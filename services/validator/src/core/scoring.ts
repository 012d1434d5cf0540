/**
 * The validator's scoring rule, a pure function of check results.
 *
 * - A check earns credit PASS 1, WARN 0.5, FAIL 0, ERROR 0 (it could not run: counted as failed,
 *   reported as ERROR). SKIPPED (it does not apply where the suite runs, e.g. a Docker check without
 *   a Docker engine) earns nothing and weighs nothing: it is left out, never counted as PASS or ERROR.
 * - A component scores 10 × its checks' weighted credit share (check weight defaults to 1). A
 *   component whose checks were all skipped is SKIPPED: no score, and its weight goes to the others.
 * - Status: PASS at ≥ 8, WARN at ≥ 6, FAIL below.
 * - The overall score is the weighted mean of the component scores, the weights normalised to a
 *   sum of 1 (weights 3 and 1 count as 0.75 and 0.25).
 */

export type CheckStatus = 'PASS' | 'WARN' | 'FAIL' | 'ERROR' | 'SKIPPED';
import { VigilError } from '@vigil/events';
export type Status = 'PASS' | 'WARN' | 'FAIL';

export const PASS_AT = 8;
export const WARN_AT = 6;

export const credit: Readonly<Record<Exclude<CheckStatus, 'SKIPPED'>, number>> = {
  PASS: 1,
  WARN: 0.5,
  FAIL: 0,
  ERROR: 0,
};

/** No check of the run applied where it ran: there is nothing to score. */
export class NothingToScoreError extends VigilError {
  readonly code = 'NOTHING_TO_SCORE';
}

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

/**
 * 0-10 from the checks' weighted credit, skipped checks left out; undefined when every check was
 * skipped. A component without checks cannot be scored.
 */
export function componentScore(checks: readonly ScoredCheck[]): number | undefined {
  if (checks.length === 0) throw new RangeError('a component needs at least one check with a positive weight');
  let total = 0;
  let earned = 0;
  for (const c of checks) {
    if (c.status === 'SKIPPED') continue;
    const w = c.weight ?? 1;
    total += w;
    earned += w * credit[c.status];
  }
  if (total <= 0) {
    if (checks.every((c) => c.status === 'SKIPPED')) return undefined;
    throw new RangeError('a component needs at least one check with a positive weight');
  }
  return (10 * earned) / total;
}

/** The weighted mean of component scores with normalised weights. */
export function overallScore(components: readonly { weight: number; score: number }[]): number {
  const total = components.reduce((s, c) => s + c.weight, 0);
  if (total <= 0) throw new RangeError('component weights must add up to more than 0');
  return components.reduce((s, c) => s + (c.weight / total) * c.score, 0);
}

export type ComponentResult<C extends ScoredCheck> =
  | {
      readonly name: string;
      /** The normalised weight (share of the overall score). */
      readonly weight: number;
      readonly score: number;
      readonly status: Status;
      readonly checks: readonly C[];
    }
  | {
      readonly name: string;
      /** 0: a skipped component's weight goes to the scored ones. */
      readonly weight: 0;
      readonly status: 'SKIPPED';
      readonly checks: readonly C[];
    };

/**
 * Scores a run: every component, then the overall score and status (scores rounded to 2 decimals).
 * Skipped components are left out and the other weights normalised without them.
 */
export function scoreRun<C extends ScoredCheck>(
  components: readonly { name: string; weight: number; checks: readonly C[] }[],
): { score: number; status: Status; components: ComponentResult<C>[] } {
  if (components.reduce((s, c) => s + c.weight, 0) <= 0)
    throw new RangeError('component weights must add up to more than 0');
  const raw = components.map((c) => ({ ...c, score: componentScore(c.checks) }));
  const scored = raw.filter((c): c is typeof c & { score: number } => c.score !== undefined);
  const total = scored.reduce((s, c) => s + c.weight, 0);
  if (total <= 0) {
    throw new NothingToScoreError('every check was skipped: none applies where this validator runs');
  }
  const score = round2(overallScore(scored));
  return {
    score,
    status: statusOf(score),
    components: raw.map((c): ComponentResult<C> =>
      c.score === undefined
        ? { name: c.name, weight: 0, status: 'SKIPPED', checks: c.checks }
        : {
            name: c.name,
            weight: Math.round((c.weight / total) * 1000) / 1000,
            score: round2(c.score),
            status: statusOf(round2(c.score)),
            checks: c.checks,
          },
    ),
  };
}
