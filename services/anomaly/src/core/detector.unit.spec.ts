import { describe, expect, it } from 'vitest';
import { rocAuc, withLevelShifts, withSpikes, type LabelledSeries } from '../testing/synthetic.js';
import {
  defaultDetectorOptions,
  emptyState,
  features,
  step,
  topFeatures,
  type DetectorOptions,
  type SeriesState,
} from './detector.js';

const o: DetectorOptions = { ...defaultDetectorOptions, minGapMs: 0 };

/** Streams a series through the detector as the service does; returns the AUC over scored points. */
function run(series: LabelledSeries, opts = o): { auc: number; alerts: number; state: SeriesState } {
  let state = emptyState;
  const scores: number[] = [];
  const labels: number[] = [];
  let alerts = 0;
  for (let t = 0; t < series.values.length; t++) {
    const r = step(state, t * 300_000, series.values[t]!, opts, 's');
    state = r.state;
    if (r.score !== undefined) {
      scores.push(r.score);
      labels.push(series.labels[t]!);
    }
    if (r.alert) alerts++;
  }
  return { auc: rocAuc(scores, labels), alerts, state };
}

describe('features', () => {
  it('value, delta, rolling mean and z-score of the values before the point', () => {
    expect([...features([], 5)]).toEqual([5, 0, 5, 0]);
    expect([...features([1, 3], 6)]).toEqual([6, 3, 2, 4]);
    // A change in a constant series stands out instead of dividing by zero.
    expect(features([2, 2, 2], 3)[3]).toBeGreaterThan(1e5);
  });
});

describe('detector on synthetic series (seeded)', () => {
  it.each([1, 2, 3])('spikes: ROC AUC ≥ 0.9 (seed %i)', (seed) => {
    const { auc } = run(withSpikes(3000, seed));
    expect(auc).toBeGreaterThanOrEqual(0.9);
  });

  it.each([1, 2, 3])('level shifts: ROC AUC ≥ 0.9 over the shifted episodes (seed %i)', (seed) => {
    const { auc } = run(withLevelShifts(3000, seed));
    expect(auc).toBeGreaterThanOrEqual(0.9);
  });

  it('warm-up: no score and no alert before the first model; then one model per retrain interval', () => {
    let state = emptyState;
    const s = withSpikes(400, 4);
    for (let t = 0; t < 400; t++) {
      const r = step(state, t, s.values[t]!, o, 's');
      if (t < 100) expect(r).toMatchObject({ alert: false });
      if (t < 100) expect(r.score).toBeUndefined();
      if (t === 99) expect(r.trained?.version).toBe('s@100/1000103');
      if (t === 199) expect(r.trained).toBeDefined();
      if (t > 99 && t < 199) expect(r.trained).toBeUndefined();
      state = r.state;
    }
    expect(state.training.length).toBe(400 * 4);
  });

  it('contamination sets the threshold: about that share of training points scores over it', () => {
    const { state } = run(withSpikes(1500, 5), { ...o, contamination: 0.05 });
    const m = state.model!;
    const rows = state.training.length / 4;
    let over = 0;
    for (let i = 0; i < rows; i++) if (scoreOf(m, state.training.subarray(i * 4, i * 4 + 4)) >= m.threshold) over++;
    expect(over / rows).toBeGreaterThanOrEqual(0.04);
    expect(over / rows).toBeLessThanOrEqual(0.06);
  });

  it('the minimum gap holds alerts of one series apart; a fixed threshold replaces contamination', () => {
    const gap = run(withSpikes(3000, 1), { ...o, minGapMs: 24 * 3_600_000 });
    // 3000 points 5 minutes apart are about 10.4 days: at most one alert a day.
    expect(gap.alerts).toBeLessThanOrEqual(11);
    const fixed = run(withSpikes(3000, 1), { ...o, threshold: 0.99 });
    expect(fixed.state.model!.threshold).toBe(0.99);
    expect(fixed.alerts).toBe(0);
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
    const scoreOf = (v: number) => step(state, 500, v, o, 'range').score!;
    const inside = [60, 75, 90].map(scoreOf);
    // Further out scores higher: 45 (a tenth of the range below), 25, 2.
    const out = [45, 25, 2].map(scoreOf);
    expect(out[0]!).toBeGreaterThan(Math.max(...inside));
    expect(out[1]!).toBeGreaterThan(out[0]!);
    expect(out[2]!).toBeGreaterThan(out[1]!);
    expect(out[2]!).toBeGreaterThan(state.model!.threshold);
  });

  it('an alert says which features isolate the point', () => {
    const { state } = run(withSpikes(1000, 2));
    const spike = features(state.recent, 200);
    const top = topFeatures(state.model!, spike);
    expect(top).toHaveLength(4);
    expect(['value', 'delta', 'zscore']).toContain(top[0]!.name);
    expect(top.reduce((a, f) => a + f.contribution, 0)).toBeCloseTo(1, 3);
  });
});

import { score as scoreForest } from './forest.js';
function scoreOf(m: { forest: Parameters<typeof scoreForest>[0] }, x: Float64Array): number {
  return scoreForest(m.forest, x);
}
