import { describe, expect, it } from 'vitest';
import { rocAuc, withLevelShifts, withSpikes, type LabelledSeries } from '../testing/synthetic.js';
import {
  calibrate,
  defaultDetectorOptions,
  DIMS,
  emptyState,
  featureNames,
  features,
  MIN_CALIBRATION,
  ringSums,
  step,
  topFeatures,
  type DetectorOptions,
  type SeriesState,
} from './detector.js';

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
