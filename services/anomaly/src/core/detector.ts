import { contributions, fit, scoreAll, score as scoreOne, type Forest } from './forest.js';

/**
 * The features of a point, from its value and the `window` values before it:
 * - value: the value itself;
 * - delta: value − the previous value (0 for the first point);
 * - mean: the mean of the values before it (the value itself for the first point);
 * - zscore: (value − mean) / standard deviation of the values before it (the deviation has a
 *   small floor, so a change in a constant series stands out instead of dividing by zero).
 */
export const featureNames = ['value', 'delta', 'mean', 'zscore'] as const;
export const DIMS = featureNames.length;

export interface DetectorOptions {
  /** Values before a point that its mean and z-score use. @default 30 */
  readonly window: number;
  /** Feature rows the model trains on: the most recent ones. @default 1000 */
  readonly trainingSize: number;
  /** Points between retrainings. @default 100 */
  readonly retrainEvery: number;
  /** Points before the first model (and so the first alert). @default 100 */
  readonly warmup: number;
  /**
   * The share of training points expected to be anomalous: the threshold is the (1 − contamination)
   * quantile of the training points' scores. @default 0.01
   */
  readonly contamination: number;
  /** A fixed score threshold instead of the contamination quantile. */
  readonly threshold?: number | undefined;
  /** Least time between two alerts of one series. @default 10 minutes */
  readonly minGapMs: number;
  /** @default 100 */
  readonly trees: number;
  /** @default 256 */
  readonly sampleSize: number;
  /** Base seed; each model's seed also mixes in the point count it was trained at. @default 1 */
  readonly seed: number;
}

export const defaultDetectorOptions: DetectorOptions = {
  window: 30,
  trainingSize: 1000,
  retrainEvery: 100,
  warmup: 100,
  contamination: 0.01,
  minGapMs: 600_000,
  trees: 100,
  sampleSize: 256,
  seed: 1,
};

export interface Model {
  readonly forest: Forest;
  readonly version: string;
  readonly threshold: number;
}

/** Everything a series remembers between points; the service persists it. */
export interface SeriesState {
  /** The last `window` values, oldest first. */
  readonly recent: readonly number[];
  /** The last `trainingSize` feature rows, row-major. */
  readonly training: Float64Array;
  readonly seen: number;
  readonly sinceTrain: number;
  readonly model?: Model | undefined;
  readonly lastAlertAt?: number | undefined;
}

export const emptyState: SeriesState = { recent: [], training: new Float64Array(0), seen: 0, sinceTrain: 0 };

export function features(recent: readonly number[], value: number): Float64Array {
  const n = recent.length;
  if (n === 0) return Float64Array.of(value, 0, value, 0);
  let sum = 0;
  for (const v of recent) sum += v;
  const mean = sum / n;
  let sq = 0;
  for (const v of recent) sq += (v - mean) ** 2;
  const std = Math.sqrt(sq / n);
  const floor = 1e-9 + 1e-6 * Math.abs(mean);
  return Float64Array.of(value, value - recent[n - 1]!, mean, (value - mean) / Math.max(std, floor));
}

/** The q-quantile of `xs` (nearest rank). */
export function quantile(xs: Float64Array, q: number): number {
  const sorted = Float64Array.from(xs).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** Trains a model on the state's training rows; the threshold comes from contamination unless fixed. */
export function train(training: Float64Array, seen: number, o: DetectorOptions, series: string): Model {
  const seed = (o.seed * 1_000_003 + seen) >>> 0;
  const forest = fit(training, DIMS, { trees: o.trees, sampleSize: o.sampleSize, seed });
  const threshold = o.threshold ?? quantile(scoreAll(forest, training), 1 - o.contamination);
  return { forest, version: `${series}@${seen}/${seed}`, threshold };
}

/**
 * How far `value` lies outside the values of the training rows, in widths of their range (0
 * inside it). A constant series has a range of (nearly) 0, so any change of its value is far out.
 */
export function excursion(training: Float64Array, value: number): number {
  const rows = Math.floor(training.length / DIMS);
  if (rows === 0) return 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < rows; i++) {
    const v = training[i * DIMS]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (value >= min && value <= max) return 0;
  const width = Math.max(max - min, 1e-9 + 1e-6 * Math.abs((max + min) / 2));
  return (value < min ? min - value : value - max) / width;
}

/**
 * The forest scores every point beyond the training range like the range's edge (its cuts all
 * lie inside it), so a drop to 2 from values of 50-100 scored as a point at 50 would. The score
 * moves toward 1 with the excursion instead: half way after one range width, and so on.
 */
export function withExcursion(score: number, widths: number): number {
  return widths <= 0 ? score : 1 - (1 - score) * 2 ** -widths;
}

export interface StepResult {
  readonly state: SeriesState;
  readonly features: Float64Array;
  /** Absent during warm-up. */
  readonly score?: number;
  readonly threshold?: number;
  readonly modelVersion?: string;
  /** Score over the threshold, past warm-up, and the series' last alert long enough ago. */
  readonly alert: boolean;
  /** Set when this point triggered a retraining (used from the next point on). */
  readonly trained?: Model;
}

/**
 * One point of a series: features, score with the current model, then the point joins the
 * training window, and every `retrainEvery` points past warm-up a new model is trained on it.
 */
export function step(state: SeriesState, at: number, value: number, o: DetectorOptions, series: string): StepResult {
  const x = features(state.recent, value);
  const model = state.model;
  const s =
    model === undefined ? undefined : withExcursion(scoreOne(model.forest, x), excursion(state.training, value));
  // Over, not at: on a constant series every score and the threshold are the same 0.5, and a
  // repeat of the value is no anomaly.
  const alert =
    model !== undefined &&
    s !== undefined &&
    s > model.threshold &&
    (state.lastAlertAt === undefined || at - state.lastAlertAt >= o.minGapMs);

  const rows = Math.floor(state.training.length / DIMS);
  const keep = Math.min(rows, o.trainingSize - 1);
  const training = new Float64Array((keep + 1) * DIMS);
  training.set(state.training.subarray((rows - keep) * DIMS));
  training.set(x, keep * DIMS);
  const recent = [...state.recent, value].slice(-o.window);
  const seen = state.seen + 1;
  let sinceTrain = state.sinceTrain + 1;
  let trained: Model | undefined;
  if (seen >= o.warmup && (model === undefined || sinceTrain >= o.retrainEvery)) {
    trained = train(training, seen, o, series);
    sinceTrain = 0;
  }
  return {
    state: {
      recent,
      training,
      seen,
      sinceTrain,
      model: trained ?? model,
      lastAlertAt: alert ? at : state.lastAlertAt,
    },
    features: x,
    ...(s === undefined ? {} : { score: s, threshold: model!.threshold, modelVersion: model!.version }),
    alert,
    ...(trained === undefined ? {} : { trained }),
  };
}

/** The features that isolate a point, largest share first. */
export function topFeatures(model: Model, x: Float64Array, n = DIMS): { name: string; contribution: number }[] {
  const share = contributions(model.forest, x);
  return featureNames
    .map((name, i) => ({ name, contribution: Math.round(share[i]! * 1e4) / 1e4 }))
    .sort((a, b) => b.contribution - a.contribution)
    .slice(0, n);
}
