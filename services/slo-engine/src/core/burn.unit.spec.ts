import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSlo, type SloConfig } from '../config/slo.js';
import { Simulation } from '../testing/simulation.js';
import { burnRate, decide, errorBudget, evaluationWindows, humanDuration, readSlo, type Counts } from './burn.js';

const MIN = 60_000;
const DAY_MINUTES = 1440;

function slo(extra = ''): SloConfig {
  return parseSlo(
    `name: demo\nservice: api\nobjective: 99.9\nwindow: 30d\nsli: { observed: { sli: demo } }\n${extra}`,
    'demo.yaml',
  );
}

describe('worked examples: 99.9 % over 30 days, steady traffic, clean history, per-minute evaluation', () => {
  it('a 2 % error rate fires the 14.4× page at the end of minute 44', () => {
    const sim = new Simulation(slo());
    sim.run(43, 20);
    expect(sim.log).toEqual([]);
    const [t] = sim.step(20);
    expect(sim.minute).toBe(44);
    expect(t).toMatchObject({ state: 'firing', severity: 'page', repeat: false, since: 44 * MIN });
    const tier = t!.tiers.find((x) => x.burnRate === 14.4)!;
    expect(tier.burnRateLong).toBeCloseTo(44 / 3, 9);
    expect(tier.burnRateShort).toBeCloseTo(20, 9);
    expect(t!.explanation).toMatch(
      /^demo is spending its error budget 14\.67× as fast as its 99\.9 % objective allows over the last 1h and 20× over the last 5m \(page threshold 14\.4×\): 1\.467 % of events were bad in the last 1h against 0\.1 % allowed, and at the current rate \(20× over the last 1m\) the rest of the 30d budget \(98 %\) lasts 35\.27 hours\.$/,
    );
  });

  it('a 1 % error rate never fires the 14.4× tier, fires the 6× page at minute 217 and the 3× ticket at minute 433 (strictly above: at 216 the 6h window reads exactly 6×)', () => {
    const sim = new Simulation(slo());
    let fast = false;
    for (let i = 0; i < 433; i++) {
      sim.step(10);
      fast ||= sim.log.some((e) => e.t.tiers.some((x) => x.burnRate === 14.4 && x.holds));
    }
    expect(fast).toBe(false);
    expect(sim.first('firing', 'page')).toBe(217);
    expect(sim.first('firing', 'ticket')).toBe(433);
    const page = sim.log.find((e) => e.t.severity === 'page')!.t;
    expect(page.tiers.find((x) => x.burnRate === 6)).toMatchObject({ holds: true });
    expect(page.tiers.find((x) => x.burnRate === 14.4)).toMatchObject({ holds: false });
    expect(sim.log).toHaveLength(2);
  });

  it('a total outage pages in its first minute, and the page says the budget lasts 43 minutes at that rate, not days', () => {
    const sim = new Simulation(slo());
    const [t] = sim.step(1000);
    expect(t).toMatchObject({ state: 'firing', severity: 'page' });
    // 1h window: 1/60 of it bad, 16.7×; the last minute: 1000×. 97.7 % of 30 days / 1000 = 42.2 minutes.
    expect(t!.explanation).toContain(
      'at the current rate (1000× over the last 1m) the rest of the 30d budget (97.7 %) lasts 42 minutes.',
    );
  });

  it('a page whose errors stopped a minute ago says the budget is not being spent now', () => {
    const sim = new Simulation(slo());
    sim.run(44, 20);
    expect(sim.first('firing', 'page')).toBe(44);
    const r = readSlo(sim.def, sim.counts);
    sim.step(0);
    const after = readSlo(sim.def, sim.counts);
    expect(r.current).toMatchObject({ windowMs: MIN, burnRate: 20 });
    expect(after.current).toMatchObject({ windowMs: MIN, burnRate: 0 });
  });

  it('a 30-second total outage alone fires nothing, in one minute or split over two', () => {
    for (const split of [
      [500, 0],
      [250, 250],
    ]) {
      const sim = new Simulation(slo());
      sim.run(10, 0);
      sim.step(split[0]!);
      sim.step(split[1]!);
      // Long enough for every window, up to the 3-day one, to pass over the outage.
      sim.run(3 * DAY_MINUTES + 1, 0);
      expect(sim.log).toEqual([]);
    }
  });

  it('once errors stop, the page resolves when its short window falls under the threshold', () => {
    const sim = new Simulation(slo());
    sim.run(60, 20);
    expect(sim.first('firing', 'page')).toBe(44);
    sim.run(10, 0);
    // After minute 61 the 5m window still holds 4 bad minutes (16×); after minute 62 three (12×).
    expect(sim.first('resolved', 'page')).toBe(62);
    const resolved = sim.log.find((e) => e.t.state === 'resolved')!.t;
    expect(resolved).toMatchObject({ since: 44 * MIN, resolvedAt: 62 * MIN });
    expect(resolved.explanation).toMatch(
      /^demo no longer burns its error budget fast enough to page: 12× over the last 5m is under the 14\.4× threshold, and [\d.]+ % of the 30d budget remains\.$/,
    );
    expect(sim.log).toHaveLength(2);
  });

  it('does not repeat a firing alert, unless a re-notify interval is set', () => {
    const quiet = new Simulation(slo());
    quiet.run(120, 20);
    expect(quiet.log.map((e) => e.minute)).toEqual([44]);

    const loud = new Simulation(slo('alerting: { renotify: 30m }'));
    loud.run(120, 20);
    expect(loud.log.map((e) => [e.minute, e.t.repeat])).toEqual([
      [44, false],
      [74, true],
      [104, true],
    ]);
    expect(loud.log.every((e) => e.t.since === 44 * MIN)).toBe(true);
  });

  it('custom tiers replace the table; alerting can be turned off', () => {
    const custom = new Simulation(
      slo('alerting: { tiers: [{ severity: ticket, long: 10m, short: 2m, burnRate: 2 }] }'),
    );
    // 3 bad per 1000 is 3×; the 10m window reaches 2× after 6.67 bad minutes.
    custom.run(10, 3);
    expect(custom.log.map((e) => [e.minute, e.t.severity])).toEqual([[7, 'ticket']]);
    const off = new Simulation(slo('alerting: { enabled: false }'));
    off.run(60, 20);
    expect(off.log).toEqual([]);
  });
});

describe('few events: a single failure is an event, not a burn', () => {
  // A fresh stack: vigil-self's 13 checks of its first run are all the 1-hour window holds.
  const fresh =
    (bad: number) =>
    (windowMs: number): Counts =>
      windowMs > 0 ? { good: 13 - bad, total: 13 } : { good: 0, total: 0 };

  it('given one failed check among 13 at 99.9 %, no tier holds though the burn rate reads 77×', () => {
    const r = readSlo(slo(), fresh(1));
    const page = r.tiers.find((t) => t.burnRate === 14.4)!;
    expect(page.burnRateLong).toBeCloseTo(1 / 13 / 0.001, 6);
    expect(r.tiers.every((t) => !t.holds)).toBe(true);
    expect(decide(slo(), r, new Map(), 60 * MIN).transitions).toEqual([]);
  });

  it('given two failed checks among 13, the page tier holds: the rule waives one event only', () => {
    const r = readSlo(slo(), fresh(2));
    expect(r.tiers.find((t) => t.burnRate === 14.4)).toMatchObject({ holds: true });
    expect(decide(slo(), r, new Map(), 60 * MIN).transitions.map((t) => [t.state, t.severity])).toEqual([
      ['firing', 'page'],
      ['firing', 'ticket'],
    ]);
  });

  it('changes nothing where one event alone cannot reach the threshold (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 70, max: 1e6 }), fc.nat(), (total, badSeed) => {
        const bad = badSeed % (total + 1);
        const counts = (): Counts => ({ good: total - bad, total });
        const r = readSlo(slo(), counts);
        const page = r.tiers.find((t) => t.burnRate === 14.4)!;
        expect(page.holds).toBe(burnRate(counts(), 99.9) >= 14.4 * (1 - 1e-9));
      }),
    );
  });
});

describe('budget properties', () => {
  const objectives = fc.constantFrom(90, 95, 99, 99.5, 99.9, 99.95, 99.99);

  it('consumed + remaining = 100 % of the budget, for any counts', () => {
    fc.assert(
      fc.property(objectives, fc.nat(1e9), fc.nat(1e9), (objective, a, b) => {
        const c = { good: Math.min(a, b), total: Math.max(a, b) };
        const budget = errorBudget(c, objective);
        expect(budget.consumedFraction + budget.remainingFraction).toBeCloseTo(1, 12);
        expect(budget.consumed + budget.remaining).toBeCloseTo(budget.allowed, 3);
        expect(budget.consumedFraction).toBeGreaterThanOrEqual(0);
      }),
    );
  });

  it('a burn rate of exactly 1 spends the whole budget at the end of the window, and m/W of it after m minutes', () => {
    fc.assert(
      fc.property(
        objectives,
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 60, max: 2000 }),
        (objective, k, w) => {
          // Traffic per minute such that the allowed bad events are whole: 1 − objective = bad / total.
          const total = k * 10_000;
          const bad = Math.round(total * (100 - objective)) / 100;
          const def = parseSlo(
            `name: p\nservice: s\nobjective: ${objective}\nwindow: ${w}m\nsli: { observed: { sli: p } }\nalerting: { enabled: false }\n`,
            'p.yaml',
          );
          const sim = new Simulation(def, total);
          const half = Math.floor(w / 2);
          sim.run(half, bad);
          expect(burnRate(sim.counts(half * MIN), objective)).toBeCloseTo(1, 9);
          expect(readSlo(def, sim.counts).budget.consumedFraction).toBeCloseTo(half / w, 9);
          sim.run(w - half, bad);
          expect(readSlo(def, sim.counts).budget.consumedFraction).toBeCloseTo(1, 9);
          expect(readSlo(def, sim.counts).budget.remainingFraction).toBeCloseTo(0, 9);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('no traffic burns nothing and leaves the whole budget', () => {
    expect(burnRate({ good: 0, total: 0 }, 99.9)).toBe(0);
    expect(errorBudget({ good: 0, total: 0 }, 99.9)).toMatchObject({ consumedFraction: 0, remainingFraction: 1 });
  });
});

describe('the burn-rate decisions, every figure and sentence (mutation testing found these unpinned)', () => {
  it('a budget in events: allowed, consumed and remaining', () => {
    expect(errorBudget({ good: 90, total: 100 }, 99)).toEqual({
      allowed: 1,
      consumed: 10,
      remaining: -9,
      consumedFraction: 10,
      remainingFraction: -9,
    });
  });

  it('the current burn: the last minute, else the shortest window with events, else none', () => {
    const s = slo();
    const quietMinute = (windowMs: number): Counts =>
      windowMs <= MIN
        ? { good: 0, total: 0 }
        : windowMs <= 5 * MIN
          ? { good: 90, total: 100 }
          : { good: 990, total: 1000 };
    expect(readSlo(s, quietMinute).current).toEqual({ windowMs: 5 * MIN, good: 90, total: 100, burnRate: 100 });
    expect(readSlo(s, () => ({ good: 0, total: 0 })).current).toEqual({
      windowMs: MIN,
      good: 0,
      total: 0,
      burnRate: 0,
    });
  });

  it('says a time left in days from 48 hours, hours from 2, minutes below', () => {
    const h = 3_600_000;
    expect([humanDuration(48 * h), humanDuration(47.5 * h), humanDuration(2 * h), humanDuration(1.99 * h)]).toEqual([
      '2 days',
      '47.5 hours',
      '2 hours',
      '119 minutes',
    ]);
    expect(humanDuration(10_000)).toBe('1 minutes');
  });

  it('explains a page by its most urgent tier, a repeat by the current burn, and a resolved ticket', () => {
    // A total outage: both page tiers hold; the sentence names the 14.4× one.
    const outage = new Simulation(slo());
    const [first] = outage.step(1000);
    expect(first!.explanation).toContain('(page threshold 14.4×)');
    expect(first).toMatchObject({ state: 'firing', repeat: false });
    // A re-notified page whose last minute was clean: the budget is not being spent now.
    const repeated = new Simulation(slo('alerting: { renotify: 1m }\n'));
    repeated.run(60, 100);
    const [again] = repeated.step(0);
    expect(again).toMatchObject({ state: 'firing', severity: 'page', repeat: true });
    expect(again!.explanation).toMatch(
      /and the budget is not being spent right now \(0× over the last 1m\), and [\d.]+ % of the 30d budget remains\.$/,
    );
    // A budget spent: said so, with no time left to give.
    const hour = parseSlo(
      'name: demo\nservice: api\nobjective: 99.9\nwindow: 1h\nsli: { observed: { sli: demo } }\n',
      'demo.yaml',
    );
    const [spent] = new Simulation(hour).step(1000);
    expect(spent!.explanation).toMatch(/, and the 1h budget is already spent\.$/);
    // The ticket of the 1 % example resolves in words of its own.
    const ticket = new Simulation(slo());
    ticket.run(433, 10);
    const resolved = (() => {
      for (let i = 0; i < 3000; i++) {
        const r = ticket.step(0).find((t) => t.severity === 'ticket' && t.state === 'resolved');
        if (r !== undefined) return r;
      }
      return undefined;
    })();
    expect(resolved).toMatchObject({ repeat: false });
    expect(resolved!.explanation).toMatch(/^demo no longer burns its error budget fast enough to open a ticket: /);
  });

  it("reads every window an evaluation needs: the last minute and the SLO's, shortest first", () => {
    expect(evaluationWindows(slo()).map((w) => w / MIN)).toEqual([1, 5, 30, 60, 120, 360, 1440, 4320, 43200]);
  });

  it('names the most urgent of the tiers that hold, and resolves by the one that came closest', () => {
    const sim = new Simulation(slo('alerting: { renotify: 1m }\n'));
    sim.run(80, 30);
    const last = sim.log.at(-1)!.t;
    // At minute 80 both page tiers hold (1h at 30×, 6h at 6.67×): the 14.4× one explains it.
    expect(last.tiers.filter((t) => t.holds).map((t) => t.burnRate)).toEqual([14.4, 6]);
    expect(last.explanation).toContain('(page threshold 14.4×)');
    // Also when the tiers are listed slowest first.
    const reversed = new Simulation(
      slo(
        'alerting: { renotify: 1m, tiers: [{ severity: page, long: 6h, short: 30m, burnRate: 6 }, { severity: page, long: 1h, short: 5m, burnRate: 14.4 }] }\n',
      ),
    );
    reversed.run(80, 30);
    expect(reversed.log.at(-1)!.t.explanation).toContain('(page threshold 14.4×)');
    const two = new Simulation(slo());
    two.run(60, 20);
    two.run(2, 0);
    expect(two.log.at(-1)!.t.explanation).toBe(
      'demo no longer burns its error budget fast enough to page: 12× over the last 5m is under the 14.4× threshold, and 97.2 % of the 30d budget remains.',
    );
  });

  it('a budget spent to exactly nothing is spent: no time left is promised', () => {
    // 99 % over 1d: 10 bad of 1000 in the window is exactly the whole budget.
    const def = parseSlo(
      'name: demo\nservice: api\nobjective: 99\nwindow: 1d\nsli: { observed: { sli: demo } }\nalerting: { tiers: [{ severity: page, long: 1h, short: 5m, burnRate: 10 }] }\n',
      'demo.yaml',
    );
    const reading = readSlo(def, (w) => (w === 1440 * MIN ? { good: 990, total: 1000 } : { good: 0, total: 100 }));
    expect(reading.budget.remainingFraction).toBe(0);
    const [t] = decide(def, reading, new Map(), 0).transitions;
    expect(t?.explanation).toMatch(/, and the 1d budget is already spent\.$/);
  });

  it('resolves by the tier that came closest to holding, wherever it is listed', () => {
    const def = parseSlo(
      'name: demo\nservice: api\nobjective: 99\nwindow: 1d\nsli: { observed: { sli: demo } }\n' +
        'alerting: { tiers: [{ severity: page, long: 1h, short: 5m, burnRate: 14.4 }, { severity: page, long: 6h, short: 30m, burnRate: 6 }] }\n',
      'demo.yaml',
    );
    // Burn rates at 99 %: bad share / 0.01. The 1h/5m tier is far below (2× and 1×); the 6h/30m one
    // close (5× and 5.5×, five sixths of its threshold).
    const bad: Record<number, number> = { 5: 1, 30: 5.5, 60: 2, 360: 5, 1440: 1 };
    const reading = readSlo(def, (w) => ({ good: 1000 - (bad[w / MIN] ?? 0) * 10, total: 1000 }));
    const firing = new Map([['page' as const, { severity: 'page' as const, since: 0, lastNotifiedAt: 0 }]]);
    const [t] = decide(def, reading, firing, MIN).transitions;
    expect(t?.state).toBe('resolved');
    expect(t?.explanation).toBe(
      'demo no longer burns its error budget fast enough to page: 5.5× over the last 30m is under the 6× threshold, and 0 % of the 1d budget remains.',
    );
    // Closest by the lower of a tier's two rates: a tier with one window near its threshold and
    // the other far below is not close.
    const lopsided = readSlo(def, (w) => ({
      good: 1000 - { ...bad, 60: 14, 5: 0.1, 30: 4 }[w / MIN]! * 10,
      total: 1000,
    }));
    expect(decide(def, lopsided, firing, MIN).transitions[0]?.explanation).toContain(
      ': 4× over the last 30m is under the 6× threshold,',
    );
    // The short window over the threshold and the long one under it: the long one is named.
    const longUnder = readSlo(def, (w) => ({ good: 1000 - { ...bad, 30: 7 }[w / MIN]! * 10, total: 1000 }));
    expect(decide(def, longUnder, firing, MIN).transitions[0]?.explanation).toContain(
      ': 5× over the last 6h is under the 6× threshold,',
    );
  });
});
