import { emptyState, step, type DetectorOptions, type SeriesState } from './detector.js';

export interface BacktestRow {
  readonly at: number;
  readonly value: number;
  /** Absent during warm-up. */
  readonly score?: number;
  /** The forest's own score (with the excursion), before calibration. */
  readonly raw?: number;
  readonly alert: boolean;
}

/**
 * Runs one series through the detector online, as the service does point by point: row i is
 * scored with what rows before it taught the detector, never with later ones.
 */
export function* backtest(
  times: ArrayLike<number>,
  values: ArrayLike<number>,
  o: DetectorOptions,
  // Stryker disable next-line StringLiteral: equivalent, the name only goes into the model's version, which no row carries
  series = 'backtest',
): Generator<BacktestRow> {
  let state: SeriesState = emptyState;
  for (let i = 0; i < values.length; i++) {
    const at = times[i]!;
    const value = values[i]!;
    const r = step(state, at, value, o, series);
    state = r.state;
    yield { at, value, ...(r.score === undefined ? {} : { score: r.score, raw: r.raw }), alert: r.alert };
  }
}
