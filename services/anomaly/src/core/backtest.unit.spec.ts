import { describe, expect, it } from 'vitest';
import { backtest } from './backtest.js';
import { defaultDetectorOptions, emptyState, step, type SeriesState } from './detector.js';

describe('backtest', () => {
  it('scores each point with what the points before it taught the detector, as the service does, and names the series', () => {
    const n = 200;
    const times = Float64Array.from({ length: n }, (_, i) => 1_700_000_000_000 + i * 60_000);
    // A wave with one spike: warm-up rows, scored rows and an alert among them.
    const values = Float64Array.from({ length: n }, (_, i) => (i === 170 ? 500 : 50 + 10 * Math.sin(i / 5)));
    const o = { ...defaultDetectorOptions, window: 10, trainingSize: 100, retrainEvery: 50 };
    const rows = [...backtest(times, values, o, 'cpu')];
    expect(rows).toHaveLength(n);

    let state: SeriesState = emptyState;
    for (let i = 0; i < n; i++) {
      const r = step(state, times[i]!, values[i]!, o, 'cpu');
      state = r.state;
      const expected =
        r.score === undefined
          ? { at: times[i], value: values[i], alert: r.alert }
          : { at: times[i], value: values[i], score: r.score, raw: r.raw, alert: r.alert };
      // toStrictEqual: a warm-up row has no score or raw key at all, not one set to undefined.
      expect(rows[i]).toStrictEqual(expected);
    }
    expect(rows.some((r) => r.score === undefined)).toBe(true);
    expect(rows.some((r) => r.score !== undefined)).toBe(true);
  });

  it('an empty series yields no rows', () => {
    expect([...backtest([], [], defaultDetectorOptions)]).toEqual([]);
  });
});
