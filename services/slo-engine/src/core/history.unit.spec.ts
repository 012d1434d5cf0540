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

  it('bins as coarse as the windows and the step allow, shorter windows as tails, never below a minute', () => {
    // The default tiers: 5m, 30m, 1h, 2h, 6h, 1d, 3d and the 30d window.
    expect(resolutionOf(slo('30d'), 3_600_000)).toEqual({ binMs: 60 * MIN, tails: [5 * MIN, 30 * MIN] });
    // A daily step: 3d and 30d are whole days, everything shorter a tail of the day ending at a point.
    expect(resolutionOf(slo('30d'), 1440 * MIN)).toEqual({
      binMs: 1440 * MIN,
      tails: [5, 30, 60, 120, 360].map((m) => m * MIN),
    });
    expect(resolutionOf(slo('30d'), 5 * MIN)).toEqual({ binMs: 5 * MIN, tails: [] });
    expect(resolutionOf(slo('30d'), 7 * MIN)).toEqual({ binMs: MIN, tails: [] });
    // 90m is longer than a 1h bin and not a multiple: bins of 30m, and 5m the only tail.
    const odd = slo('1d', 'alerting: { tiers: [{ severity: page, long: 90m, short: 5m, burnRate: 10 }] }');
    expect(resolutionOf(odd, 60 * MIN)).toEqual({ binMs: 30 * MIN, tails: [5 * MIN] });
  });

  it('takes bins with their tails as the store sums them, and gives what minute buckets give', () => {
    const def = slo('1d');
    const to = Date.UTC(2026, 11, 1, 12, 0);
    const res = resolutionOf(def, 60 * MIN);
    // A bad minute in the last 5 of every third hour, a good one elsewhere.
    const minutes = Array.from({ length: 2 * 1440 }, (_, m) => {
      const start = to - (2 * 1440 - m) * MIN;
      const bad =
        Math.floor((to - start) / (60 * MIN)) % 3 === 0 &&
        (to - start) % (60 * MIN) <= 5 * MIN &&
        (to - start) % (60 * MIN) > 0;
      return { start, good: bad ? 0 : 10, total: 10 };
    });
    const bins = new Map<
      number,
      { start: number; good: number; total: number; tails: { good: number; total: number }[] }
    >();
    for (const m of minutes) {
      const start = to - Math.ceil((to - m.start) / res.binMs) * res.binMs;
      const b = bins.get(start) ?? { start, good: 0, total: 0, tails: res.tails.map(() => ({ good: 0, total: 0 })) };
      b.good += m.good;
      b.total += m.total;
      for (const [k, w] of res.tails.entries()) {
        if (m.start >= start + res.binMs - w) {
          b.tails[k]!.good += m.good;
          b.tails[k]!.total += m.total;
        }
      }
      bins.set(start, b);
    }
    const request = { to, rangeMs: 1440 * MIN, stepMs: 60 * MIN };
    const fromBins = sloHistory(def, [...bins.values()], request);
    expect(fromBins).toEqual(sloHistory(def, minutes, request));
    expect(fromBins.burnRates['5m']?.some((x) => x > 0)).toBe(true);
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

  it('accepts a request exactly at each bound', () => {
    const def = slo('30d');
    // A step of one minute, a window of one step, and exactly 2,000 points.
    expect(checkHistoryRequest(def, { to: 0, rangeMs: MIN, stepMs: MIN })).toBeUndefined();
    expect(checkHistoryRequest(def, { to: 0, rangeMs: 1999 * 60 * MIN, stepMs: 60 * MIN })).toBeUndefined();
    expect(checkHistoryRequest(def, { to: 0, rangeMs: 2000 * 60 * MIN, stepMs: 60 * MIN })).toMatch(
      /^2001 points asked/,
    );
    // Exactly 200,000 bins of a minute (a step of 1441 minutes shares no coarser divisor with
    // 3d): 30 days of the window plus 156,800 minutes of range.
    expect(checkHistoryRequest(def, { to: 0, rangeMs: 156_800 * MIN, stepMs: 1441 * MIN })).toBeUndefined();
    expect(checkHistoryRequest(def, { to: 0, rangeMs: 156_801 * MIN, stepMs: 1441 * MIN })).toMatch(
      /reads 200001 bins of 1m; at most 200000/,
    );
  });

  it('makes the bins finer until every longer window is a multiple, whichever window needs it first', () => {
    // At a step of 1h, 90m makes bins of 30m, and then 45m (passed over while bins were an hour) 15m.
    const def = slo('1d', 'alerting: { tiers: [{ severity: page, long: 90m, short: 45m, burnRate: 2 }] }');
    expect(resolutionOf(def, 60 * MIN)).toEqual({ binMs: 15 * MIN, tails: [] });
  });

  it('ignores bins outside the span it reads, and lists the tiers it judged', () => {
    const def = slo('1d');
    const to = Date.UTC(2026, 11, 1, 12, 0);
    const request = { to, rangeMs: 1440 * MIN, stepMs: 60 * MIN };
    const inside = { start: to - 3 * 60 * MIN, good: 90, total: 100 };
    const h = sloHistory(def, [inside], request);
    const withStrays = sloHistory(
      def,
      [{ start: to - 3 * 1440 * MIN, good: 0, total: 1000 }, inside, { start: to, good: 0, total: 1000 }],
      request,
    );
    expect(withStrays).toEqual(h);
    expect(h.tiers).toEqual([
      { severity: 'page', long: '1h', short: '5m', threshold: 14.4 },
      { severity: 'page', long: '6h', short: '30m', threshold: 6 },
      { severity: 'ticket', long: '1d', short: '2h', threshold: 3 },
    ]); // the 3d tier is longer than the 1d window
  });
});
