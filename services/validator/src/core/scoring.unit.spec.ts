import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { componentScore, overallScore, scoreRun, statusOf, type CheckStatus } from './scoring.js';

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
    expect(r.components.map((c) => [c.name, c.weight, c.score, c.status])).toEqual([
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
        for (const c of r.components) expect(c.score >= 0 && c.score <= 10).toBe(true);
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
        expect(after.components[ci % components.length]!.score).toBeGreaterThanOrEqual(
          before.components[ci % components.length]!.score,
        );
      }),
    );
  });
});
