import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  componentScore,
  NothingToScoreError,
  overallScore,
  scoreRun,
  statusOf,
  type CheckStatus,
  type ComponentResult,
  type ScoredCheck,
} from './scoring.js';

/** A component's score; undefined when it was SKIPPED. */
const scoreOf = (c: ComponentResult<ScoredCheck>): number | undefined => ('score' in c ? c.score : undefined);

const seed = [
  { name: 'infrastructure', weight: 0.15 },
  { name: 'commands', weight: 0.1 },
  { name: 'automation', weight: 0.15 },
  { name: 'event_bus', weight: 0.2 },
  { name: 'learning', weight: 0.25 },
  { name: 'security', weight: 0.15 },
];

describe('scoring', () => {
  it('given the seed weights and component scores 10, 8, 6, 9, 7, 10, the overall score is 8.25: PASS', () => {
    const scores = [10, 8, 6, 9, 7, 10];
    expect(overallScore(seed.map((c, i) => ({ weight: c.weight, score: scores[i]! })))).toBeCloseTo(8.25, 10);
    expect(statusOf(8.25)).toBe('PASS');
  });

  it('thresholds: PASS at 8, WARN at 6, FAIL below', () => {
    expect([10, 8, 7.99, 6, 5.99, 0].map(statusOf)).toEqual(['PASS', 'PASS', 'WARN', 'WARN', 'FAIL', 'FAIL']);
  });

  it('a component scores its checks’ credit share × 10, WARN half, ERROR as failed', () => {
    expect(componentScore([{ status: 'PASS' }, { status: 'PASS' }, { status: 'WARN' }, { status: 'FAIL' }])).toBe(6.25);
    expect(componentScore([{ status: 'PASS' }, { status: 'ERROR' }])).toBe(5);
    expect(
      componentScore([
        { status: 'PASS', weight: 3 },
        { status: 'FAIL', weight: 1 },
      ]),
    ).toBe(7.5);
    expect(() => componentScore([])).toThrow(/at least one check/);
  });

  it('weights are normalised: 3 and 1 count as 0.75 and 0.25', () => {
    const r = scoreRun([
      { name: 'a', weight: 3, checks: [{ status: 'PASS' }] },
      { name: 'b', weight: 1, checks: [{ status: 'FAIL' }] },
    ]);
    expect(r).toMatchObject({ score: 7.5, status: 'WARN' });
    expect(r.components.map((c) => [c.name, c.weight, scoreOf(c), c.status])).toEqual([
      ['a', 0.75, 10, 'PASS'],
      ['b', 0.25, 0, 'FAIL'],
    ]);
  });

  const checkStatus = fc.constantFrom<CheckStatus>('PASS', 'WARN', 'FAIL', 'ERROR');
  const check = fc.record({
    status: checkStatus,
    weight: fc.option(fc.double({ min: 0.01, max: 10, noNaN: true }), { nil: undefined }),
  });
  const suite = fc.array(
    fc.record({
      name: fc.string(),
      weight: fc.double({ min: 0.01, max: 5, noNaN: true }),
      checks: fc.array(check, { minLength: 1, maxLength: 6 }),
    }),
    { minLength: 1, maxLength: 6 },
  );

  it('scores stay within 0-10 (property)', () => {
    fc.assert(
      fc.property(suite, (components) => {
        const r = scoreRun(components);
        expect(r.score).toBeGreaterThanOrEqual(0);
        expect(r.score).toBeLessThanOrEqual(10);
        for (const c of r.components) expect(scoreOf(c)! >= 0 && scoreOf(c)! <= 10).toBe(true);
      }),
    );
  });

  it('a check turning PASS never lowers a score (property)', () => {
    fc.assert(
      fc.property(suite, fc.nat(), fc.nat(), (components, ci, ki) => {
        const before = scoreRun(components);
        const c = components[ci % components.length]!;
        const k = ki % c.checks.length;
        const improved = components.map((x) =>
          x === c ? { ...x, checks: x.checks.map((y, j) => (j === k ? { ...y, status: 'PASS' as const } : y)) } : x,
        );
        const after = scoreRun(improved);
        expect(after.score).toBeGreaterThanOrEqual(before.score);
        expect(scoreOf(after.components[ci % components.length]!)).toBeGreaterThanOrEqual(
          scoreOf(before.components[ci % components.length]!)!,
        );
      }),
    );
  });

  it('a skipped check is left out: it earns nothing and weighs nothing', () => {
    expect(componentScore([{ status: 'PASS' }, { status: 'SKIPPED' }])).toBe(10);
    expect(componentScore([{ status: 'FAIL' }, { status: 'SKIPPED', weight: 5 }, { status: 'PASS' }])).toBe(5);
    expect(componentScore([{ status: 'SKIPPED' }, { status: 'SKIPPED' }])).toBeUndefined();
  });

  it('given a component whose checks were all skipped, it is SKIPPED with weight 0 and the others share its weight', () => {
    const r = scoreRun([
      { name: 'containers', weight: 0.5, checks: [{ status: 'SKIPPED' }] },
      { name: 'a', weight: 0.3, checks: [{ status: 'PASS' }] },
      { name: 'b', weight: 0.2, checks: [{ status: 'FAIL' }] },
    ]);
    expect(r).toMatchObject({ score: 6, status: 'WARN' });
    expect(r.components.map((c) => [c.name, c.weight, scoreOf(c), c.status])).toEqual([
      ['containers', 0, undefined, 'SKIPPED'],
      ['a', 0.6, 10, 'PASS'],
      ['b', 0.4, 0, 'FAIL'],
    ]);
  });

  it('a run where every check was skipped cannot be scored', () => {
    expect(() => scoreRun([{ name: 'a', weight: 1, checks: [{ status: 'SKIPPED' }] }])).toThrow(NothingToScoreError);
  });

  it('adding a skipped check anywhere never changes a score (property)', () => {
    fc.assert(
      fc.property(suite, fc.nat(), (components, ci) => {
        const before = scoreRun(components);
        const c = components[ci % components.length]!;
        const withSkipped = components.map((x) =>
          x === c ? { ...x, checks: [...x.checks, { status: 'SKIPPED' as const }] } : x,
        );
        const after = scoreRun(withSkipped);
        expect(after.score).toBe(before.score);
        expect(after.components.map(scoreOf)).toEqual(before.components.map(scoreOf));
      }),
    );
  });
});

describe('what cannot be scored, and why (mutation testing found these unpinned)', () => {
  const noWeight = 'a component needs at least one check with a positive weight';
  const noComponents = 'component weights must add up to more than 0';

  it('a component without checks, or whose checks that ran weigh nothing, says so', () => {
    expect(() => componentScore([])).toThrow(new RangeError(noWeight));
    expect(() => componentScore([{ status: 'PASS', weight: 0 }])).toThrow(new RangeError(noWeight));
    // Skipped and weightless together: not "all skipped", so not left out either.
    expect(() => componentScore([{ status: 'SKIPPED' }, { status: 'PASS', weight: 0 }])).toThrow(
      new RangeError(noWeight),
    );
    expect(componentScore([{ status: 'SKIPPED' }, { status: 'SKIPPED', weight: 3 }])).toBeUndefined();
  });

  it('the overall score normalises the weights it is given', () => {
    expect(
      overallScore([
        { weight: 3, score: 10 },
        { weight: 1, score: 0 },
      ]),
    ).toBe(7.5);
    expect(() => overallScore([])).toThrow(new RangeError(noComponents));
    expect(() => overallScore([{ weight: 0, score: 10 }])).toThrow(new RangeError(noComponents));
  });

  it('a run whose component weights add up to nothing is a configuration error, not a skipped run', () => {
    expect(() => scoreRun([{ name: 'a', weight: 0, checks: [{ status: 'PASS' }] }])).toThrow(
      new RangeError(noComponents),
    );
  });

  it('a run where every check was skipped is NothingToScoreError, code NOTHING_TO_SCORE', () => {
    let thrown: unknown;
    try {
      scoreRun([{ name: 'a', weight: 1, checks: [{ status: 'SKIPPED' }] }]);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(NothingToScoreError);
    expect((thrown as NothingToScoreError).code).toBe('NOTHING_TO_SCORE');
    expect((thrown as Error).message).toBe('every check was skipped: none applies where this validator runs');
  });
});
