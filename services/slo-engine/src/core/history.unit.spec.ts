import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSlo, type SloConfig } from '../config/slo.js';
import { readSlo, type Counts } from './burn.js';
import { checkHistoryRequest, resolutionOf, sloHistory, type Bin } from './history.js';

const MIN = 60_000;

function slo(window = '1d', tiers = ''): SloConfig {
  return parseSlo(
    `name: demo\nservice: api\nobjective: 99\nwindow: ${window}\nsli: { observed: { sli: demo } }\n${tiers}`,
    'demo.yaml',
  );
}

/** Counts over [end − w, end) straight from minute buckets: what an evaluation at `end` reads. */
function brute(buckets: readonly Bin[], end: number, w: number): Counts {
  let good = 0;
  let total = 0;
  for (const b of buckets) {
    if (b.start >= end - w && b.start < end) {
      good += b.good;
      total += b.total;
    }
  }
  return { good, total };
}

describe('SLO history', () => {
  it('at every point equals an evaluation at that point, from minute buckets', () => {
    const def = slo(
      '1d',
      'alerting: { tiers: [{ severity: page, long: 1h, short: 5m, burnRate: 14.4 }, { severity: ticket, long: 6h, short: 30m, burnRate: 3 }] }',
    );
    const to = Date.UTC(2026, 11, 1, 12, 0);
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            minute: fc.integer({ min: 0, max: 2 * 1440 + 120 }),
            total: fc.integer({ min: 0, max: 50 }),
            badShare: fc.double({ min: 0, max: 1, noNaN: true }),
          }),
          { maxLength: 300 },
        ),
        fc.constantFrom(5 * MIN, 30 * MIN, 60 * MIN, 90 * MIN),
        (raw, stepMs) => {
          // Minute buckets from two days before `to` (the range plus the longest window) to after it.
          const buckets = raw.map((r) => {
            const total = r.total;
            return { start: to - 2 * 1440 * MIN + r.minute * MIN, good: total - Math.round(total * r.badShare), total };
          });
          const h = sloHistory(def, buckets, { to, rangeMs: 1440 * MIN, stepMs });
          expect(h.times.at(-1)).toBe(to);
          for (const [i, t] of h.times.entries()) {
            const expected = readSlo(def, (w) => brute(buckets, t, w));
            expect(h.budgetRemaining[i]).toBeCloseTo(expected.budget.remainingFraction, 9);
            for (const w of expected.windows) {
              const key = `${w.windowMs / MIN >= 60 ? `${w.windowMs / 3_600_000}h` : `${w.windowMs / MIN}m`}`;
              const series = h.burnRates[key === '24h' ? '1d' : key];
              expect(series?.[i]).toBeCloseTo(w.burnRate, 9);
            }
            expect([...(h.firing[i] ?? [])].sort()).toEqual(
              [...new Set(expected.tiers.filter((x) => x.holds).map((x) => x.severity))].sort(),
            );
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('bins as coarse as the windows and the step allow, never below a minute', () => {
    expect(resolutionOf(slo('30d'), 3_600_000)).toBe(5 * MIN); // the default tiers have a 5m window
    expect(resolutionOf(slo('30d'), 7 * MIN)).toBe(MIN);
  });

  it('refuses requests that are too large or not in whole minutes, saying what to change', () => {
    const def = slo('30d');
    expect(checkHistoryRequest(def, { to: 0, rangeMs: 30 * 1440 * MIN, stepMs: 3_600_000 })).toBeUndefined();
    expect(checkHistoryRequest(def, { to: 0, rangeMs: 30 * 1440 * MIN, stepMs: 5 * MIN })).toMatch(
      /^8641 points asked \(window 30d \/ step 5m\); at most 2000: take a longer step$/,
    );
    expect(checkHistoryRequest(def, { to: 0, rangeMs: 3_600_000, stepMs: 90_000 })).toMatch(
      /step must be whole minutes/,
    );
    expect(checkHistoryRequest(def, { to: 0, rangeMs: 60_000, stepMs: 3_600_000 })).toMatch(/at least one step/);
    expect(checkHistoryRequest(def, { to: 0, rangeMs: 120 * 1440 * MIN, stepMs: 1440 * MIN + MIN })).toMatch(
      /bins of 1m; at most 200000/,
    );
  });
});
