import { describe, expect, it } from 'vitest';
import { rocAuc, withLevelShifts, withSpikes, type LabelledSeries } from '../testing/synthetic.js';
import {
  calibrate,
  defaultDetectorOptions,
  DIMS,
  emptyState,
  excursion,
  featureNames,
  features,
  MIN_CALIBRATION,
  normalTail,
  pushRaw,
  quantile,
  rangesOf,
  ringSums,
  slideRanges,
  SLOT_MS,
  SLOTS,
  slotValue,
  step,
  topFeatures,
  train,
  withExcursion,
  writeSlot,
  type DetectorOptions,
  type SeriesState,
} from './detector.js';
import { fit, scoreAll } from './forest.js';

const o: DetectorOptions = { ...defaultDetectorOptions, minGapMs: 0 };

/** Streams a series through the detector as the service does; returns the raw score's AUC over scored points. */
function run(series: LabelledSeries, opts = o): { auc: number; alerts: number; state: SeriesState } {
  let state = emptyState;
  const scores: number[] = [];
  const labels: number[] = [];
  let alerts = 0;
  for (let t = 0; t < series.values.length; t++) {
    const r = step(state, t * 300_000, series.values[t]!, opts, 's');
    state = r.state;
    if (r.raw !== undefined) {
      scores.push(r.raw);
      labels.push(series.labels[t]!);
    }
    if (r.alert) alerts++;
  }
  return { auc: rocAuc(scores, labels), alerts, state };
}

const f = (x: Float64Array, name: (typeof featureNames)[number]) => x[featureNames.indexOf(name)]!;

describe('features', () => {
  it('none before `window` values came first; then level, changes, volatility, seasonal, drift, mean', () => {
    expect(features([1, 2, 3], 4, 30)).toBeUndefined();
    const recent = Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? 9 : 11)); // mean 10, σ 1
    const x = features(recent, 14, 30, 0)!;
    expect(x).toHaveLength(DIMS);
    expect(f(x, 'value')).toBe(14);
    expect(f(x, 'previous value')).toBe(11);
    expect(f(x, 'level')).toBeCloseTo(4, 9); // (14 − 10) / 1
    expect(f(x, 'change')).toBeCloseTo(1.5, 9); // (14 − 11) / mean |difference| 2
    expect(f(x, 'previous change')).toBeCloseTo(1, 9); // (11 − 9) / 2
    expect(f(x, 'seasonal')).toBeCloseTo(4, 9); // no history, so the level
    // The last six, 11 9 11 9 11 14, deviate by 1.675 against the window's 1.
    expect(f(x, 'volatility')).toBeCloseTo(Math.log(1.675), 3);
    expect(f(x, 'drift')).toBe(0); // no long-run mean yet
    expect(f(x, 'mean')).toBe(10);
    // A change in a constant series stands out instead of dividing by zero.
    expect(f(features(Array(30).fill(2), 3, 30)!, 'level')).toBeGreaterThan(1e5);
  });

  it('seasonal: the value against the same slot yesterday, where the memory holds it', () => {
    let state = emptyState;
    const day = 288;
    // Two days of a daily cycle; then a point that is normal for the window but not for the slot.
    for (let t = 0; t < 2 * day; t++)
      state = step(state, t * 300_000, 100 + 20 * Math.sin((2 * Math.PI * t) / day), o, 's').state;
    const at = 2 * day * 300_000;
    const x = features(state.recent, 80, o.window, at, state.long, state.slots)!;
    // Yesterday at this slot the value was 100: 80 is 20 below it.
    expect(f(x, 'seasonal')).toBeLessThan(f(x, 'level') - 1);
  });
});

describe('detector on synthetic series (seeded)', () => {
  it.each([1, 2, 3])('spikes: ROC AUC of the raw score ≥ 0.9 (seed %i)', (seed) => {
    const { auc } = run(withSpikes(3000, seed));
    expect(auc).toBeGreaterThanOrEqual(0.9);
  });

  it.each([1, 2, 3])('level shifts: ROC AUC of the raw score ≥ 0.9 over the shifted episodes (seed %i)', (seed) => {
    const { auc } = run(withLevelShifts(3000, seed));
    expect(auc).toBeGreaterThanOrEqual(0.9);
  });

  it('warm-up: the first model at `warmup` points, then one per retrain interval; scores once calibrated', () => {
    let state = emptyState;
    const s = withSpikes(700, 4);
    let firstScore = -1;
    for (let t = 0; t < 700; t++) {
      const r = step(state, t, s.values[t]!, o, 's');
      if (t < 100) expect(r).toMatchObject({ alert: false });
      if (t < 100) expect(r.score).toBeUndefined();
      if (t === 99) expect(r.trained?.version).toBe('s@100/1000103');
      if (t === 349) expect(r.trained).toBeDefined();
      if (t > 99 && t < 349) expect(r.trained).toBeUndefined();
      if (r.score !== undefined && firstScore < 0) firstScore = t;
      state = r.state;
    }
    // Raw scores from the first model on; calibrated (and so scored) after MIN_CALIBRATION of them.
    expect(firstScore).toBe(100 + MIN_CALIBRATION);
    // Feature rows only for points with `window` values before them.
    expect(state.training.length).toBe((700 - o.window) * DIMS);
  });

  it('contamination caps the alert rate: on two weeks of noise, at most one alert plus that share of the points', () => {
    let state = emptyState;
    const s = withSpikes(4032, 9, 0); // no spikes: a daily cycle and noise
    let alerts = 0;
    for (let t = 0; t < s.values.length; t++) {
      const r = step(state, t * 300_000, s.values[t]!, { ...o, contamination: 0.001 }, 'n');
      state = r.state;
      if (r.alert) alerts++;
    }
    expect(alerts).toBeLessThanOrEqual(1 + 0.001 * s.values.length);
  });

  it('the minimum gap holds alerts of one series apart; a higher threshold alerts less', () => {
    // 30 spikes, and a rate cap and refractory period that let each one alert.
    const loose = { ...o, contamination: 0.05, refractory: 0 };
    const gap = run(withSpikes(3000, 1), { ...loose, minGapMs: 24 * 3_600_000 });
    // 3000 points 5 minutes apart are about 10.4 days: at most one alert a day.
    expect(gap.alerts).toBeLessThanOrEqual(11);
    const all = run(withSpikes(3000, 1), loose);
    expect(all.alerts).toBeGreaterThan(gap.alerts);
    const strict = run(withSpikes(3000, 1), { ...loose, threshold: 0.99 });
    expect(strict.alerts).toBeLessThan(all.alerts);
  });

  it('a constant series never alerts on repeats of its value, and does alert when it changes', () => {
    let state = emptyState;
    let alerts = 0;
    for (let t = 0; t < 600; t++) {
      const r = step(state, t, 7, o, 'flat');
      state = r.state;
      if (r.alert) alerts++;
    }
    expect(alerts).toBe(0);
    const changed = step(state, 600, 7.5, o, 'flat');
    expect(changed.alert).toBe(true);
    expect(changed.score).toBeGreaterThan(0.99);
  });

  it('a score grows with the size of an excursion beyond the training range', () => {
    let state = emptyState;
    const rnd = (t: number) => 75 + 25 * Math.sin(t * 1.3); // values within 50-100
    for (let t = 0; t < 500; t++) state = step(state, t, rnd(t), o, 'range').state;
    const scoreOf = (v: number) => step(state, 500, v, o, 'range').raw!;
    const inside = [60, 75, 90].map(scoreOf);
    // Further out scores higher: 45 (a tenth of the range below), 25, 2.
    const out = [45, 25, 2].map(scoreOf);
    expect(out[0]!).toBeGreaterThan(Math.max(...inside));
    expect(out[1]!).toBeGreaterThan(out[0]!);
    expect(out[2]!).toBeGreaterThan(out[1]!);
    expect(step(state, 500, 2, o, 'range').alert).toBe(true);
  });

  it('a stuck sensor alerts: its volatility drops beyond anything the training rows held', () => {
    let state = emptyState;
    const s = withSpikes(1200, 6, 0); // no spikes
    const alertsAt: number[] = [];
    for (let t = 0; t < 1200; t++) {
      const r = step(state, t * 300_000, t >= 1000 ? s.values[999]! : s.values[t]!, o, 'stuck');
      state = r.state;
      if (r.alert) alertsAt.push(t);
    }
    expect(alertsAt.filter((t) => t >= 1000 && t < 1010)).toHaveLength(1);
  });

  it('the seasonal feature uses only slots that were written (a series starting at epoch 0 too)', () => {
    let state = emptyState;
    // Slot 287 − 288 = −1: no slot number a point can have, nor what an empty slot holds.
    for (let t = 0; t < 287; t++) state = step(state, t * 300_000, 50 + Math.sin(t), o, 'early').state;
    const x = features(state.recent, 60, o.window, 287 * 300_000, state.long, state.slots)!;
    expect(f(x, 'seasonal')).toBe(f(x, 'level'));
  });

  it('an episode is reported once: a level shift alerts at its start, not at each point after it', () => {
    let state = emptyState;
    const s = withSpikes(1500, 3, 0); // no spikes
    const alertsAt: number[] = [];
    for (let t = 0; t < 1500; t++) {
      const r = step(state, t * 300_000, s.values[t]! + (t >= 1000 ? 40 : 0), { ...o, contamination: 0.05 }, 'shift');
      state = r.state;
      if (r.alert) alertsAt.push(t);
    }
    expect(alertsAt[0]).toBeGreaterThanOrEqual(1000);
    expect(alertsAt[0]).toBeLessThan(1005);
    expect(alertsAt.length).toBeLessThanOrEqual(2);
    // After the onset the episode's lower scores count half; without a refractory period they count whole.
    const halved = (refractory: number) => {
      let st = emptyState;
      let n = 0;
      for (let t = 0; t < 1288; t++) {
        const r = step(st, t * 300_000, s.values[t]! + (t >= 1000 ? 40 : 0), { ...o, refractory }, 'shift');
        st = r.state;
        if (t > 1000 && r.score !== undefined && r.score < r.raw!) n++;
      }
      return n;
    };
    expect(halved(288)).toBeGreaterThan(200);
    expect(halved(0)).toBe(0);
  });

  it('calibration: one raw score is rare for a smooth series and common for a noisy one', () => {
    const smooth = Float32Array.from({ length: 500 }, (_, i) => 0.4 + 0.01 * Math.sin(i));
    const noisy = Float32Array.from({ length: 500 }, (_, i) => 0.5 + 0.15 * Math.sin(i));
    expect(calibrate(0.6, smooth)).toBeGreaterThanOrEqual(0.5);
    expect(calibrate(0.6, noisy)).toBeLessThan(0.1);
    // Kept sums give what a scan of the ring gives.
    expect(calibrate(0.6, smooth, ringSums(smooth))).toBe(calibrate(0.6, smooth));
  });

  it('an alert says which features isolate the point', () => {
    const { state } = run(withSpikes(1000, 2));
    const spike = features(state.recent, 200, o.window, 0, state.long, state.slots)!;
    const top = topFeatures(state.model!, spike);
    expect(top).toHaveLength(DIMS);
    expect(['value', 'level', 'change', 'seasonal', 'drift', 'trend']).toContain(top[0]!.name);
    expect(top.reduce((a, f) => a + f.contribution, 0)).toBeCloseTo(1, 3);
  });
});

describe('features, value by value', () => {
  // Mean 10, σ 1; the last six (with the point 14) are 11 9 11 9 11 14.
  const alternating = Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? 9 : 11));
  const deviation = (xs: number[]) => {
    const m = xs.reduce((a, b) => a + b, 0) / xs.length;
    return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length);
  };

  it('looks only at the last `window` values: older ones change nothing', () => {
    const x = features(alternating, 14, 30)!;
    const y = features([1000, -500, ...alternating], 14, 30)!;
    expect(Array.from(y)).toEqual(Array.from(x));
    expect(f(x, 'volatility')).toBeCloseTo(Math.log(deviation([11, 9, 11, 9, 11, 14]) / 1), 12);
  });

  it('needs six values before it whatever the window', () => {
    expect(features([1, 2, 3, 4, 5], 6, 2)).toBeUndefined();
    expect(features([1, 2, 3, 4, 5, 6], 7, 2)).toBeDefined();
  });

  it('drift: the short mean against the long one, over the larger of σ and a quarter of the long deviation', () => {
    const shortMean = (11 + 9 + 11 + 9 + 11 + 14) / 6;
    // A long deviation of 8: its quarter, 2, is over the window's σ of 1.
    const wide = features(alternating, 14, 30, 0, { mean: 8, variance: 64, n: 500 })!;
    expect(f(wide, 'drift')).toBeCloseTo((shortMean - 8) / 2, 12);
    // A long deviation of 2: σ is the larger.
    const narrow = features(alternating, 14, 30, 0, { mean: 8, variance: 4, n: 500 })!;
    expect(f(narrow, 'drift')).toBeCloseTo(shortMean - 8, 12);
    // A constant long history has the floor as its deviation, not 0.
    const flat = features(Array(30).fill(5), 5, 30, 0, { mean: 4, variance: 0, n: 500 })!;
    expect(f(flat, 'drift')).toBeCloseTo(1 / (1e-9 + 5e-6), 3);
  });

  it('seasonal: against the mean of yesterday and last week where both are there, or the one that is', () => {
    const at = 10 * 288 * SLOT_MS;
    const slot = at / SLOT_MS;
    const yesterday = writeSlot(undefined, slot - 288, 20);
    const both = writeSlot(yesterday, slot - 7 * 288, 12);
    const lastWeek = writeSlot(undefined, slot - 7 * 288, 12);
    expect(f(features(alternating, 14, 30, at, undefined, both)!, 'seasonal')).toBeCloseTo(14 - 16, 12);
    expect(f(features(alternating, 14, 30, at, undefined, yesterday)!, 'seasonal')).toBeCloseTo(14 - 20, 12);
    expect(f(features(alternating, 14, 30, at, undefined, lastWeek)!, 'seasonal')).toBeCloseTo(14 - 12, 12);
  });

  it('a constant series: deviations floored at 10⁻⁹ + 10⁻⁶ of the level, whatever its sign', () => {
    const two = features(Array(30).fill(2), 3, 30)!;
    expect(f(two, 'level')).toBeCloseTo(1 / (1e-9 + 2e-6), 3);
    expect(f(features(Array(30).fill(-2), -1, 30)!, 'level')).toBeCloseTo(1 / (1e-9 + 2e-6), 3);
    expect(f(features(Array(30).fill(0), 1, 30)!, 'level')).toBeCloseTo(1e9, 0);
    expect(f(two, 'change')).toBeCloseTo(1 / (1e-9 + 2e-6), 3);
    expect(f(two, 'volatility')).toBeCloseTo(Math.log(deviation([2, 2, 2, 2, 2, 3]) / (1e-9 + 2e-6)), 9);
  });
});

describe('the seasonal memory', () => {
  /** A memory holding slot s's value s for every slot up to `newest`. */
  const full = (newest: number) => {
    let m: SeriesState['slots'];
    for (let s = newest - SLOTS + 1; s <= newest; s++) m = writeSlot(m, s, s);
    return m!;
  };
  const held = (m: SeriesState['slots']) => Array.from(m!.value).filter((v) => !Number.isNaN(v)).length;

  it('a first value starts it: its slot is the newest, every other slot empty; slot 0 is a slot', () => {
    const m = writeSlot(undefined, 5, 42)!;
    expect(m).toMatchObject({ newest: 5 });
    expect(m.value).toHaveLength(SLOTS);
    expect(slotValue(m, 5)).toBe(42);
    expect(held(m)).toBe(1);
    expect(slotValue(writeSlot(undefined, 0, 7), 0)).toBe(7);
  });

  it('a slot before the epoch is written nowhere and read as empty', () => {
    expect(writeSlot(undefined, -1, 1)).toBeUndefined();
    const m = writeSlot(undefined, 3, 1);
    expect(writeSlot(m, -1, 2)).toBe(m);
    expect(slotValue(m, -1)).toBeUndefined();
    expect(slotValue(undefined, 3)).toBeUndefined();
  });

  it('moving ahead empties the slots skipped and keeps the rest of the span; the input stays as it was', () => {
    const m = full(SLOTS + 9);
    expect(held(m)).toBe(SLOTS);
    const before = Float32Array.from(m.value);
    const next = writeSlot(m, SLOTS + 13, -1)!;
    expect(Array.from(m.value)).toEqual(Array.from(before));
    expect(next.newest).toBe(SLOTS + 13);
    expect([SLOTS + 10, SLOTS + 11, SLOTS + 12].map((s) => slotValue(next, s))).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
    expect(slotValue(next, SLOTS + 13)).toBe(-1);
    expect(slotValue(next, SLOTS + 9)).toBe(SLOTS + 9);
    // The oldest slot the memory still spans, and the one just before it.
    expect(slotValue(next, 14)).toBe(14);
    expect(slotValue(next, 13)).toBeUndefined();
    expect(held(next)).toBe(SLOTS - 3);
  });

  it('a jump longer than the memory leaves only the new value', () => {
    expect(held(writeSlot(full(SLOTS - 1), 3 * SLOTS + 5, 1))).toBe(1);
    expect(held(writeSlot(full(SLOTS - 1), 2 * SLOTS - 1, 1))).toBe(1);
    expect(held(writeSlot(full(SLOTS - 1), 2 * SLOTS - 2, 1))).toBe(2);
  });

  it('an older slot is written in place while the memory spans it, and never over a newer one', () => {
    const newest = SLOTS + 100;
    const m = full(newest);
    const oldest = writeSlot(m, newest - SLOTS + 1, -5)!;
    expect(oldest.newest).toBe(newest);
    expect(slotValue(oldest, newest - SLOTS + 1)).toBe(-5);
    // Slot newest − SLOTS shares the newest one's index: writing it would overwrite today with 8 days ago.
    expect(writeSlot(m, newest - SLOTS, -5)).toBe(m);
    expect(slotValue(m, newest)).toBe(newest);
    expect(slotValue(m, newest - SLOTS)).toBeUndefined();
    expect(slotValue(m, newest + 1)).toBeUndefined();
  });
});

describe('the raw-score ring and the training ranges, kept in step', () => {
  it('pushRaw appends in single precision and keeps the sums of what the ring holds', () => {
    const first = pushRaw(undefined, { sum: 0, sq: 0 }, 0.1, 3);
    expect(Array.from(first.raw)).toEqual([Math.fround(0.1)]);
    expect(first.rawSums).toEqual({ sum: Math.fround(0.1), sq: Math.fround(0.1) ** 2 });
    let ring = first;
    for (const x of [0.25, 0.5, 0.75]) ring = pushRaw(ring.raw, ring.rawSums, x, 3);
    expect(Array.from(ring.raw)).toEqual([0.25, 0.5, 0.75]);
    expect(ring.rawSums.sum).toBeCloseTo(1.5, 12);
    expect(ring.rawSums.sq).toBeCloseTo(0.0625 + 0.25 + 0.5625, 12);
    // A ring longer than the cap (the cap was lowered) loses all its excess at once.
    const five = Float32Array.of(0.5, 0.25, 0.125, 1, 2);
    const cut = pushRaw(five, ringSums(five), 4, 3);
    expect(Array.from(cut.raw)).toEqual([1, 2, 4]);
    expect(cut.rawSums).toEqual({ sum: 7, sq: 21 });
  });

  it('over a series, the kept ring sums and ranges are what a scan of the ring and the rows gives', () => {
    const s = withSpikes(600, 7);
    const small = { ...o, trainingSize: 40, calibration: 50, warmup: 40, retrainEvery: 30 };
    let state = emptyState;
    const fed: number[] = [];
    for (let t = 0; t < s.values.length; t++) {
      // Every tenth value repeats the one before: ties at the extremes.
      const v = t % 10 === 9 ? s.values[t - 1]! : s.values[t]!;
      fed.push(v);
      state = step(state, t * SLOT_MS, v, small, 'kept').state;
      expect(Array.from(state.ranges!)).toEqual(Array.from(rangesOf(state.training)));
      if (state.raw !== undefined) {
        const scan = ringSums(state.raw);
        expect(state.rawSums!.sum).toBeCloseTo(scan.sum, 9);
        expect(state.rawSums!.sq).toBeCloseTo(scan.sq, 9);
      }
    }
    expect(state.raw).toHaveLength(50);
    expect(state.training).toHaveLength(40 * DIMS);
    expect(state.recent).toEqual(fed.slice(-small.window));
  });

  it('rangesOf: ±Infinity with no rows; slideRanges scans again only when an extreme leaves', () => {
    const none = rangesOf(new Float32Array(0));
    expect(Array.from(none)).toEqual([...Array(DIMS).fill(Infinity), ...Array(DIMS).fill(-Infinity)]);
    const row = (v: number) => Float32Array.from({ length: DIMS }, (_, f) => v + f);
    const rows = (...vs: number[]) => {
      const out = new Float32Array(vs.length * DIMS);
      vs.forEach((v, i) => out.set(row(v), i * DIMS));
      return out;
    };
    const r = rangesOf(rows(1, 5, 3));
    expect([r[0], r[DIMS], r[DIMS - 1], r[2 * DIMS - 1]]).toEqual([1, 5, 1 + DIMS - 1, 5 + DIMS - 1]);
    // The row of 3 leaves, 4 joins: no extreme left, so the ranges only widen (here not at all).
    expect(Array.from(slideRanges(r, row(4), row(3), rows(1, 5, 4)))).toEqual(Array.from(r));
    expect(Array.from(slideRanges(r, row(9), row(3), rows(1, 5, 9)))).toEqual(Array.from(rangesOf(rows(1, 5, 9))));
    // The minimum or the maximum leaves: scanned again.
    expect(Array.from(slideRanges(r, row(4), row(1), rows(5, 3, 4)))).toEqual(Array.from(rangesOf(rows(5, 3, 4))));
    expect(Array.from(slideRanges(r, row(4), row(5), rows(1, 3, 4)))).toEqual(Array.from(rangesOf(rows(1, 3, 4))));
  });
});

describe('excursion beyond the training range', () => {
  // Feature 0 spans 10-20, feature 1 is constant at 4, the others span −1000 to 1000.
  const r = new Float64Array(2 * DIMS).fill(-1000, 0, DIMS).fill(1000, DIMS);
  r[0] = 10;
  r[DIMS] = 20;
  r[1] = 4;
  r[DIMS + 1] = 4;
  const x = (v0: number, v1 = 4) => Float64Array.from({ length: DIMS }, (_, f) => (f === 0 ? v0 : f === 1 ? v1 : 0));

  it('0 on the range and its ends; past them, the distance in widths of the range', () => {
    expect([10, 15, 20].map((v) => excursion(r, x(v)))).toEqual([0, 0, 0]);
    expect(excursion(r, x(25))).toBe(0.5);
    expect(excursion(r, x(5))).toBe(0.5);
    expect(excursion(r, x(-10))).toBe(2);
  });

  it('a constant feature has the floor of its level as its width; the largest excursion counts', () => {
    expect(excursion(r, x(15, 4.001))).toBeCloseTo(0.001 / (1e-9 + 4e-6), 6);
    expect(excursion(r, x(15, 3.999))).toBeCloseTo(0.001 / (1e-9 + 4e-6), 6);
    expect(excursion(r, x(40, 4.001))).toBeCloseTo(0.001 / (1e-9 + 4e-6), 6);
    expect(excursion(r, x(40, 4))).toBe(2);
  });

  it('a feature with no rows yet has no range and no excursion', () => {
    expect(excursion(rangesOf(new Float32Array(0)), x(1e9, 1e9))).toBe(0);
  });

  it('withExcursion moves the score half way to 1 per width', () => {
    // Exactly the score, not 1 − (1 − s): for 0.1 that would be 0.09999999999999998.
    expect(withExcursion(0.1, 0)).toBe(0.1);
    expect(withExcursion(0.6, 0)).toBe(0.6);
    expect(withExcursion(0.6, 1)).toBeCloseTo(0.8, 15);
    expect(withExcursion(0.6, 2)).toBeCloseTo(0.9, 15);
    expect(withExcursion(0.6, 0.5)).toBeCloseTo(1 - 0.4 / Math.SQRT2, 15);
  });
});

describe('normalTail', () => {
  // Q(z) to 9 digits; the approximation is good to 1.5·10⁻⁷ of erfc.
  it.each([
    [0.5, 0.308537539],
    [1, 0.158655254],
    [2, 0.022750132],
    [3, 0.001349898],
    [-1, 0.841344746],
    [-2.5, 0.993790335],
  ])('Q(%d) ≈ %d', (z, q) => {
    expect(Math.abs(normalTail(z) - q)).toBeLessThan(1e-7);
  });

  it('is 1/2 at 0 and goes to 0 and 1 in the tails', () => {
    expect(Math.abs(normalTail(0) - 0.5)).toBeLessThan(1e-8);
    expect(normalTail(8)).toBeGreaterThan(0);
    expect(normalTail(8)).toBeLessThan(1e-14);
    expect(normalTail(-8)).toBeCloseTo(1, 14);
  });
});

describe('quantile, training and the features an alert names', () => {
  it('quantile is the nearest rank, clamped to the ends, and leaves its input alone', () => {
    const xs = Float64Array.of(7, 3, 9, 1, 5, 10, 2, 8, 4, 6);
    expect(quantile(xs, 0)).toBe(1);
    expect(quantile(xs, 0.05)).toBe(1);
    expect(quantile(xs, 0.1)).toBe(1);
    expect(quantile(xs, 0.11)).toBe(2);
    expect(quantile(xs, 0.5)).toBe(5);
    expect(quantile(xs, 0.95)).toBe(10);
    expect(quantile(xs, 1)).toBe(10);
    expect(quantile(xs, 1.5)).toBe(10);
    expect(Array.from(xs)).toEqual([7, 3, 9, 1, 5, 10, 2, 8, 4, 6]);
  });

  it('train fits the forest its version names, with the training rows’ (1 − contamination) quantile', () => {
    const { state } = run(withSpikes(400, 3));
    const opts = { ...o, contamination: 0.2, trees: 20 };
    const model = train(state.training, 400, opts, 'q');
    expect(model.version).toBe(`q@400/${(1_000_003 + 400) >>> 0}`);
    const rows = Float64Array.from(state.training);
    const forest = fit(rows, DIMS, { trees: 20, sampleSize: opts.sampleSize, seed: 1_000_403 });
    expect(Array.from(scoreAll(model.forest, rows))).toEqual(Array.from(scoreAll(forest, rows)));
    expect(model.threshold).toBe(quantile(scoreAll(forest, rows), 0.8));
  });

  it('topFeatures: the n largest shares, largest first, to four decimals', () => {
    const { state } = run(withSpikes(600, 2));
    const spike = features(state.recent, 200, o.window, 0, state.long, state.slots)!;
    const top = topFeatures(state.model!, spike, 3);
    expect(top).toHaveLength(3);
    const all = topFeatures(state.model!, spike);
    expect(top).toEqual(all.slice(0, 3));
    for (let i = 1; i < all.length; i++) expect(all[i - 1]!.contribution).toBeGreaterThanOrEqual(all[i]!.contribution);
    for (const { contribution } of all) expect(Math.round(contribution * 1e4)).toBeCloseTo(contribution * 1e4, 6);
    expect(all[0]!.contribution).toBeGreaterThan(all[DIMS - 1]!.contribution);
  });
});

describe('step: when a scored point alerts, each condition at its boundary', () => {
  // A series with a model and a calibration ring; the probe lies so far out that its raw score is
  // exactly 1 (a float32 value, so a ring can hold the very same score).
  const base = run(withSpikes(400, 5, 0)).state;
  const at = 500 * SLOT_MS;
  const far = 1e6;
  /** A ring of `n` raw scores of 0.5, with 1 at the indexes given. */
  const ringOf = (n: number, ...ones: number[]) => {
    const ring = new Float32Array(n).fill(0.5);
    for (const i of ones) ring[i] = 1;
    return ring;
  };
  const probe = (patch: Partial<SeriesState>, opts: Partial<DetectorOptions> = {}, value = far) =>
    step(
      { ...base, rawSums: undefined, budget: undefined, lastAlertAt: undefined, ...patch },
      at,
      value,
      {
        ...o,
        refractory: 10,
        ...opts,
      },
      's',
    );

  it('the probe is a fresh, rare, certain score that alerts, and says so in every field', () => {
    const r = probe({ raw: ringOf(100), budget: { scored: 7, alerts: 0 }, lastAlertAt: 3 });
    expect(r).toMatchObject({ raw: 1, score: 1, likelihood: 1, threshold: o.threshold, alert: true });
    expect(r.modelVersion).toBe(base.model!.version);
    expect(r.state.budget).toEqual({ scored: 8, alerts: 1 });
    expect(r.state.lastAlertAt).toBe(at);
    expect(r.state.raw).toHaveLength(101);
    expect(r.state.rawSums).toEqual({ sum: 51, sq: 26 });
  });

  it('a point that does not alert keeps the last alert time and counts as scored only', () => {
    // Held back by the minimum gap alone.
    const last = at - 1;
    const r = probe({ raw: ringOf(100), budget: { scored: 7, alerts: 1 }, lastAlertAt: last }, { minGapMs: 600_000 });
    expect(r).toMatchObject({ score: 1, alert: false });
    expect(r.state.budget).toEqual({ scored: 8, alerts: 1 });
    expect(r.state.lastAlertAt).toBe(last);
  });

  it('scores only once the ring holds MIN_CALIBRATION raw scores', () => {
    expect(probe({ raw: ringOf(MIN_CALIBRATION - 1) }).score).toBeUndefined();
    expect(probe({ raw: ringOf(MIN_CALIBRATION) }).score).toBe(1);
  });

  it('refractory: a score as high within the last `refractory` raw scores halves it, one just before does not', () => {
    expect(probe({ raw: ringOf(100, 90) })).toMatchObject({ score: 0.5, alert: false });
    expect(probe({ raw: ringOf(100, 89) }).score).toBe(1);
    expect(probe({ raw: ringOf(100, 99) }, { refractory: 0 }).score).toBe(1);
    // A refractory period longer than the ring looks at all of it.
    expect(probe({ raw: ringOf(100, 0) }, { refractory: 500 }).score).toBe(0.5);
  });

  it('rare: at most `contamination` of the ring as high as the score', () => {
    // 1 % of 100 is one score: one as high is allowed, two are not.
    expect(probe({ raw: ringOf(100, 0) }, { contamination: 0.01 }).alert).toBe(true);
    expect(probe({ raw: ringOf(100, 0, 1) }, { contamination: 0.01 }).alert).toBe(false);
  });

  it('the budget: alerts stay under one plus `contamination` of the points scored, this one included', () => {
    const c = { contamination: 0.5 };
    // 2 alerts against 1 + 0.5 × (2 + 1) = 2.5: one more; against 1 + 0.5 × (1 + 1) = 2: none.
    expect(probe({ raw: ringOf(100), budget: { scored: 2, alerts: 2 } }, c).alert).toBe(true);
    expect(probe({ raw: ringOf(100), budget: { scored: 1, alerts: 2 } }, c).alert).toBe(false);
    expect(probe({ raw: ringOf(100), budget: { scored: 0, alerts: 1 } }, c).alert).toBe(true);
  });

  it('the minimum gap counts from the last alert, its end included', () => {
    const gap = { minGapMs: 600_000 };
    expect(probe({ raw: ringOf(100), lastAlertAt: at - 600_000 }, gap).alert).toBe(true);
    expect(probe({ raw: ringOf(100), lastAlertAt: at - 599_999 }, gap).alert).toBe(false);
  });

  it('the likelihood threshold is met at equality', () => {
    expect(probe({ raw: ringOf(100) }, { threshold: 1 }).alert).toBe(true);
    const ring = Float32Array.from({ length: 100 }, (_, i) => 0.5 + 0.4 * Math.sin(i));
    const likelihood = probe({ raw: ring }).likelihood!;
    expect(likelihood).toBeLessThan(1);
    expect(probe({ raw: ring }, { threshold: likelihood }).alert).toBe(true);
    expect(probe({ raw: ring }, { threshold: likelihood + 1e-12 }).alert).toBe(false);
  });

  it('before a model, raw scores and their sums pass through as they were', () => {
    const raw = ringOf(40);
    const rawSums = { sum: 1, sq: 2 }; // not the ring's: passed through, not recomputed
    const r = step({ ...emptyState, raw, rawSums }, 0, 5, o, 's');
    expect(r.state.raw).toBe(raw);
    expect(r.state.rawSums).toBe(rawSums);
    expect(r.score).toBeUndefined();
    // Not scored, so not counted against the alert budget; no features yet, and nothing trained.
    expect(r.state.budget).toBeUndefined();
    expect(Object.keys(r).sort()).toEqual(['alert', 'state']);
  });

  it('a point with features returns them, as `features` computes them', () => {
    const r = step(base, at, 123, o, 's');
    expect(Array.from(r.features!)).toEqual(
      Array.from(features(base.recent, 123, o.window, at, base.long, base.slots)!),
    );
    expect('trained' in r).toBe(false);
  });

  it('a window raised past what the state holds scores nothing until it has enough values', () => {
    const r = step(base, at, far, { ...o, window: base.recent.length + 1 }, 's');
    expect(r.features).toBeUndefined();
    expect(r.raw).toBeUndefined();
    expect(r.score).toBeUndefined();
    expect(r.state.recent).toHaveLength(base.recent.length + 1);
  });
});

describe('step: the long-run mean and the model', () => {
  it('the day-long exponential mean and variance move by 1/288 of each difference', () => {
    const a = step(emptyState, 0, 10, o, 'long').state;
    expect(a.long).toEqual({ mean: 10, variance: 0, n: 1 });
    const b = step(a, 1, 16, o, 'long').state;
    const alpha = 1 / 288;
    expect(b.long!.mean).toBeCloseTo(10 + alpha * 6, 14);
    expect(b.long!.variance).toBeCloseTo((1 - alpha) * alpha * 36, 14);
    expect(b.long!.n).toBe(2);
  });

  it('a model trained ahead of time is used when its version is this point’s, and only then', () => {
    const small = { ...o, trees: 10 };
    let state = emptyState;
    for (let t = 0; t < 99; t++) state = step(state, t, 10 + Math.sin(t), small, 'pre').state;
    // Point 100 trains: a model made ahead of time from the same state is that very model.
    const ahead = train(step(state, 99, 10, { ...small, warmup: 1e9 }, 'pre').state.training, 100, small, 'pre');
    expect(step(state, 99, 10, small, 'pre', ahead).trained).toBe(ahead);
    const stale = { ...ahead, version: 'pre@99/1000102' };
    const own = step(state, 99, 10, small, 'pre', stale).trained!;
    expect(own).not.toBe(stale);
    expect(own.version).toBe(ahead.version);
  });

  it('the first one once warm-up is over and ten feature rows exist', () => {
    const small = { ...o, window: 6, warmup: 1, retrainEvery: 5 };
    let state = emptyState;
    const trainedAt: number[] = [];
    for (let t = 0; t < 40; t++) {
      const r = step(state, t, 10 + Math.sin(t), small, 'ten');
      if (r.trained !== undefined) trainedAt.push(t);
      state = r.state;
    }
    // Rows from the seventh point on (six before it): the tenth row is point 15's.
    expect(trainedAt.slice(0, 3)).toEqual([15, 20, 25]);
  });
});
