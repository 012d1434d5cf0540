import { contributions, fit, scoreAll, score as scoreOne, type Forest } from './forest.js';

/**
 * The features of a point, each defined only once `window` values came before it (no feature on
 * fewer points than its window: a series' first points train nothing and score nothing):
 * - value, previous value: the last two values as they are (a shingle of raw values; the
 *   excursion beyond the training range is measured on the first);
 * - level: (value − the window's mean) / the window's standard deviation;
 * - change, previous change: the last two differences (shingles of the differenced values), in
 *   units of the window's mean absolute difference;
 * - volatility: log of the deviation of the last 6 values (with this one) over the window's;
 * - seasonal: (value − the same 5-minute slot yesterday and a week ago, where history holds them)
 *   / the window's deviation; the level where there is no such history;
 * - drift: (the mean of the last 6 values − a day-long exponential mean) / its deviation;
 * - mean: the window's mean (with `value`, what keeps a whole level-shift episode apart from the
 *   normal level once the window has moved into it).
 * Deviations have a small floor (10⁻⁶ of the level), so a change of a constant series stands out.
 */
export const featureNames = [
  'value',
  'previous value',
  'level',
  'change',
  'previous change',
  'volatility',
  'seasonal',
  'drift',
  'mean',
] as const;
export const DIMS = featureNames.length;

export interface DetectorOptions {
  /** Values before a point that its features look at. @default 30 */
  readonly window: number;
  /** Feature rows the model trains on: the most recent ones. @default 1000 */
  readonly trainingSize: number;
  /** Points between retrainings. @default 250 */
  readonly retrainEvery: number;
  /** Points before the first model; scores start `window` points later, once calibrated. @default 100 */
  readonly warmup: number;
  /**
   * The most a series alerts: a point alerts only if its raw score is among this share of the
   * highest of the series' last `calibration` raw scores. @default 0.001
   */
  readonly contamination: number;
  /** The likelihood an alert needs (0-1; 0.5 is a tail probability of 10⁻⁵). @default 0.5 */
  readonly threshold: number;
  /** Raw scores each series keeps to calibrate new ones against. @default 2000 */
  readonly calibration: number;
  /**
   * Points after a high raw score during which a lower one counts half and does not alert: an
   * ongoing episode is reported once, at its start. 0 for none. @default 288
   */
  readonly refractory: number;
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
  retrainEvery: 250,
  warmup: 100,
  contamination: 0.001,
  threshold: 0.5,
  calibration: 2000,
  refractory: 288,
  minGapMs: 600_000,
  trees: 100,
  sampleSize: 256,
  seed: 1,
};

export interface Model {
  readonly forest: Forest;
  readonly version: string;
  /** The (1 − contamination) quantile of the training rows' raw scores (for reference). */
  readonly threshold: number;
}

/** The seasonal memory: the last value seen in each 5-minute slot of the past 8 days. */
export const SLOT_MS = 300_000;
export const SLOTS = 8 * 288;

/** Everything a series remembers between points; the service persists it. */
export interface SeriesState {
  /** The last `window` values, oldest first. */
  readonly recent: readonly number[];
  /**
   * The last `trainingSize` feature rows, row-major, in single precision: the series row is
   * written at every group of points, and half the bytes is half the cost (7 significant digits
   * are plenty for a split).
   */
  readonly training: Float32Array;
  readonly seen: number;
  readonly sinceTrain: number;
  readonly model?: Model | undefined;
  readonly lastAlertAt?: number | undefined;
  /** `rangesOf(training)`, kept as rows come and go (recomputed from `training` when absent). */
  readonly ranges?: Float64Array | undefined;
  /** Points scored (past calibration) and alerts raised: the alert budget (contamination). */
  readonly budget?: { readonly scored: number; readonly alerts: number } | undefined;
  /** Day-long exponential mean and variance of the values, and how many values they hold. */
  readonly long?: { readonly mean: number; readonly variance: number; readonly n: number } | undefined;
  /** The last `calibration` raw scores, oldest first. */
  readonly raw?: Float32Array | undefined;
  /** Their sum and sum of squares, kept as they change (recomputed from `raw` when absent). */
  readonly rawSums?: { readonly sum: number; readonly sq: number } | undefined;
  /**
   * The newest slot number written (time / SLOT_MS) and the values of the SLOTS slots up to it,
   * slot s at index s mod SLOTS, NaN where no point fell; absent until a value.
   */
  readonly slots?: { readonly newest: number; readonly value: Float32Array } | undefined;
}

export const emptyState: SeriesState = { recent: [], training: new Float32Array(0), seen: 0, sinceTrain: 0 };

const floorOf = (level: number) => 1e-9 + 1e-6 * Math.abs(level);
const DAY_SLOTS = 288;
const SHORT = 6;

/**
 * The seasonal memory after `value` fell in `slot`: slots skipped since the newest one are
 * emptied (their index still holds a value of 8 days before). A slot older than the newest is
 * written in place if the memory still spans it.
 */
export function writeSlot(slots: SeriesState['slots'], slot: number, value: number): SeriesState['slots'] {
  if (slot < 0) return slots;
  const out = slots === undefined ? new Float32Array(SLOTS).fill(Number.NaN) : Float32Array.from(slots.value);
  let newest = slots?.newest ?? slot;
  // Stryker disable next-line EqualityOperator: equivalent, at slot = newest the loop below is empty and newest stays
  if (slot > newest) {
    // Stryker disable next-line EqualityOperator,ArithmeticOperator: equivalent, one more slot at either end is an index the range already holds or the one written next
    for (let s = Math.max(newest + 1, slot - SLOTS + 1); s < slot; s++) out[s % SLOTS] = Number.NaN;
    newest = slot;
  } else if (slot <= newest - SLOTS) return slots;
  out[slot % SLOTS] = value;
  return { newest, value: out };
}

/** The value of the slot `slot` if the memory holds that very slot. */
export function slotValue(slots: SeriesState['slots'], slot: number): number | undefined {
  if (slots === undefined || slot > slots.newest || slot <= slots.newest - SLOTS) return undefined;
  // Stryker disable next-line ConditionalExpression: equivalent, a negative index reads undefined from a typed array, which the NaN test below passes on; the test says what the read relies on
  if (slot < 0) return undefined;
  const v = slots.value[slot % SLOTS]!;
  return Number.isNaN(v) ? undefined : v;
}

/**
 * The feature row of `value` at `at`, or undefined while fewer than `window` values came before.
 * `recent` holds the values before it, oldest first.
 */
export function features(
  recent: readonly number[],
  value: number,
  window: number,
  at = 0,
  long?: SeriesState['long'],
  slots?: SeriesState['slots'],
): Float64Array | undefined {
  const n = recent.length;
  if (n < window || n < SHORT) return undefined;
  let sum = 0;
  let absDiff = 0;
  for (let i = n - window; i < n; i++) {
    sum += recent[i]!;
    if (i > n - window) absDiff += Math.abs(recent[i]! - recent[i - 1]!);
  }
  const mean = sum / window;
  let sq = 0;
  for (let i = n - window; i < n; i++) sq += (recent[i]! - mean) ** 2;
  const std = Math.max(Math.sqrt(sq / window), floorOf(mean));
  const diffScale = Math.max(absDiff / (window - 1), floorOf(mean));
  // The last SHORT values, this one included.
  let shortSum = value;
  for (let i = n - SHORT + 1; i < n; i++) shortSum += recent[i]!;
  const shortMean = shortSum / SHORT;
  let shortSq = (value - shortMean) ** 2;
  for (let i = n - SHORT + 1; i < n; i++) shortSq += (recent[i]! - shortMean) ** 2;
  const shortStd = Math.max(Math.sqrt(shortSq / SHORT), floorOf(mean));

  const slot = Math.floor(at / SLOT_MS);
  const day = slotValue(slots, slot - DAY_SLOTS);
  const week = slotValue(slots, slot - 7 * DAY_SLOTS);
  const seasonalBase = day !== undefined && week !== undefined ? (day + week) / 2 : (day ?? week);
  const level = (value - mean) / std;
  const longStd = long === undefined ? std : Math.max(Math.sqrt(long.variance), floorOf(long.mean));
  return Float64Array.of(
    value,
    recent[n - 1]!,
    level,
    (value - recent[n - 1]!) / diffScale,
    (recent[n - 1]! - recent[n - 2]!) / diffScale,
    Math.log(shortStd / std),
    seasonalBase === undefined ? level : (value - seasonalBase) / std,
    long === undefined ? 0 : (shortMean - long.mean) / Math.max(std, longStd / 4),
    mean,
  );
}

/** The q-quantile of `xs` (nearest rank). */
export function quantile(xs: Float64Array, q: number): number {
  const sorted = Float64Array.from(xs).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** Trains a model on the state's training rows. */
export function train(training: Float32Array, seen: number, o: DetectorOptions, series: string): Model {
  const seed = seedOf(seen, o);
  const rows = Float64Array.from(training);
  const forest = fit(rows, DIMS, { trees: o.trees, sampleSize: o.sampleSize, seed });
  const threshold = quantile(scoreAll(forest, rows), 1 - o.contamination);
  return { forest, version: modelVersion(series, seen, o), threshold };
}

const seedOf = (seen: number, o: Pick<DetectorOptions, 'seed'>) => (o.seed * 1_000_003 + seen) >>> 0;

/**
 * The version of the model a series trains at its `seen`-th point. A series' states form one
 * history, so that version names one training window: a model trained ahead of time from the
 * same state is the very model `step` would train.
 */
export function modelVersion(series: string, seen: number, o: Pick<DetectorOptions, 'seed'>): string {
  return `${series}@${seen}/${seedOf(seen, o)}`;
}

/** Each feature's smallest, then largest value over feature rows (2 × DIMS; ±Infinity for none). */
export function rangesOf(training: Float32Array): Float64Array {
  const r = new Float64Array(2 * DIMS);
  r.fill(Infinity, 0, DIMS);
  r.fill(-Infinity, DIMS);
  const rows = Math.floor(training.length / DIMS);
  // Stryker disable next-line EqualityOperator: equivalent, one row past the end reads undefined, which no comparison takes
  for (let i = 0; i < rows; i++) {
    for (let f = 0; f < DIMS; f++) {
      const v = training[i * DIMS + f]!;
      // Stryker disable next-line EqualityOperator: equivalent, an equal value leaves the minimum as it was
      if (v < r[f]!) r[f] = v;
      // Stryker disable next-line EqualityOperator: equivalent, likewise for the maximum
      if (v > r[DIMS + f]!) r[DIMS + f] = v;
    }
  }
  return r;
}

/**
 * The ranges after `added` joined the rows and `dropped` rows left them (`rows` is the result):
 * widened by the new row, and scanned again only when a dropped row held an extreme, which for
 * 1000 rows is about one step in fifty.
 */
export function slideRanges(
  r: Float64Array,
  added: ArrayLike<number>,
  dropped: Float32Array,
  rows: Float32Array,
): Float64Array {
  // Stryker disable next-line EqualityOperator: equivalent, one past the end reads undefined, equal to no range end
  for (let i = 0; i < dropped.length; i++) {
    const f = i % DIMS;
    if (dropped[i] === r[f] || dropped[i] === r[DIMS + f]) return rangesOf(rows);
  }
  const out = Float64Array.from(r);
  // Stryker disable next-line EqualityOperator: equivalent, `added` is one row: a tenth feature reads undefined, which no comparison takes
  for (let f = 0; f < DIMS; f++) {
    const v = added[f]!;
    // Stryker disable next-line EqualityOperator: equivalent, an equal value leaves the minimum as it was
    if (v < out[f]!) out[f] = v;
    // Stryker disable next-line EqualityOperator: equivalent, likewise for the maximum
    if (v > out[DIMS + f]!) out[DIMS + f] = v;
  }
  return out;
}

/**
 * How far the feature row `x` lies outside the training rows' ranges `r` (`rangesOf`), in widths
 * of each range: the largest excursion over its features (0 inside every range). A constant feature has a range of
 * (nearly) 0, so any change of it is far out: a constant series' value, a stuck sensor's
 * volatility. The rows are the series' current training window, not the model's (up to
 * `retrainEvery` points older): on the development corpus that scored 65 against 56, since a
 * new level stops counting as an excursion as soon as its points join the window.
 */
export function excursion(r: Float64Array, x: ArrayLike<number>): number {
  let widths = 0;
  // Stryker disable next-line EqualityOperator: equivalent, a tenth feature reads undefined and the range's second half, which `lo <= hi` skips
  for (let f = 0; f < DIMS; f++) {
    const v = x[f]!;
    const lo = r[f]!;
    const hi = r[DIMS + f]!;
    if (!(lo <= hi)) continue; // no rows yet
    // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent, inside the range the distance below is ≤ 0, which the maximum ignores: this only skips the work
    if (v >= lo && v <= hi) continue;
    const width = Math.max(hi - lo, floorOf((hi + lo) / 2));
    // Stryker disable next-line EqualityOperator: equivalent, v = lo was skipped above
    widths = Math.max(widths, (v < lo ? lo - v : v - hi) / width);
  }
  return widths;
}

/**
 * The forest scores every point beyond the training range like the range's edge (its cuts all
 * lie inside it), so a drop to 2 from values of 50-100 scored as a point at 50 would. The score
 * moves toward 1 with the excursion instead: half way after one range width, and so on.
 */
export function withExcursion(score: number, widths: number): number {
  return widths <= 0 ? score : 1 - (1 - score) * 2 ** -widths;
}

/** The upper tail of the standard normal, Q(z) (Abramowitz and Stegun 7.1.26 on erfc). */
export function normalTail(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erfc =
    t *
    (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))) *
    Math.exp(-x * x);
  // Stryker disable next-line EqualityOperator: equivalent, at z = 0 both branches give 1/2 within the approximation's error (10⁻⁹ here)
  return z >= 0 ? erfc / 2 : 1 - erfc / 2;
}

/** Raw scores a series needs before its scores are calibrated (and it may alert). */
export const MIN_CALIBRATION = 30;

/**
 * A raw score against the series' own recent raw scores: how unlikely a score this high is under
 * a normal fit of them (mean, deviation), as −log10 of the tail probability over 10, capped at 1.
 * 0.5 is a tail of 10⁻⁵, 1 a tail of 10⁻¹⁰ or less. A series whose scores are always high (a
 * noisy one) and one whose scores are always low (a smooth one) land on one scale.
 */
export function calibrate(raw: number, recent: Float32Array, sums = ringSums(recent)): number {
  const mean = sums.sum / recent.length;
  const std = Math.max(Math.sqrt(Math.max(sums.sq / recent.length - mean * mean, 0)), 1e-4);
  const tail = normalTail((raw - mean) / std);
  return Math.min(1, -Math.log10(Math.max(tail, 1e-300)) / 10);
}

/** The sum and the sum of squares of a ring's values. */
export function ringSums(ring: Float32Array): { sum: number; sq: number } {
  let sum = 0;
  let sq = 0;
  for (const r of ring) {
    sum += r;
    sq += r * r;
  }
  return { sum, sq };
}

/** `ring` with `x` appended, keeping the last `cap` values. */
function pushRing(ring: Float32Array | undefined, x: number, cap: number): Float32Array {
  const old = ring ?? new Float32Array(0);
  const keep = Math.min(old.length, cap - 1);
  const out = new Float32Array(keep + 1);
  out.set(old.subarray(old.length - keep));
  out[keep] = x;
  return out;
}

/** The raw ring with `raw` appended, and its sums kept in step. */
export function pushRaw(
  ring: Float32Array | undefined,
  sums: { sum: number; sq: number },
  raw: number,
  cap: number,
): { raw: Float32Array; rawSums: { sum: number; sq: number } } {
  const next = pushRing(ring, raw, cap);
  const x = next[next.length - 1]!;
  let { sum, sq } = sums;
  sum += x;
  sq += x * x;
  // What the ring lost: all but its last cap − 1 values (none while it is shorter).
  if (ring !== undefined) {
    for (let i = 0; i <= ring.length - cap; i++) {
      sum -= ring[i]!;
      sq -= ring[i]! * ring[i]!;
    }
  }
  return { raw: next, rawSums: { sum, sq } };
}

const LONG_ALPHA = 1 / 288;

export interface StepResult {
  readonly state: SeriesState;
  /** Absent while fewer than `window` values came before. */
  readonly features?: Float64Array;
  /**
   * The score, 0-1: the raw score, halved within `refractory` points of a higher one. Absent
   * during warm-up and calibration.
   */
  readonly score?: number;
  /** The forest's score, moved toward 1 by an excursion beyond the training range. */
  readonly raw?: number;
  /** The raw score calibrated against the series' own recent raw scores (see `calibrate`). */
  readonly likelihood?: number;
  readonly threshold?: number;
  readonly modelVersion?: string;
  /**
   * Likelihood at the threshold or over, a raw score among the series' rarest (contamination),
   * no higher one within `refractory` points, and `minGap` since the series' last alert.
   */
  readonly alert: boolean;
  /** Set when this point triggered a retraining (used from the next point on). */
  readonly trained?: Model;
}

/**
 * One point of a series: features, raw score with the current model, its calibration against the
 * series' recent raw scores; then the point joins the series' memory, and every `retrainEvery`
 * points past warm-up a new model is trained.
 */
// Over 60 lines: scoring, memory and retraining read the same state and make one new state; apart, they would hand a dozen values to one another.
export function step(
  state: SeriesState,
  at: number,
  value: number,
  o: DetectorOptions,
  series: string,
  /** A model trained ahead of time for this point (see {@link modelVersion}); used when its version matches. */
  pretrained?: Model,
): StepResult {
  const x = features(state.recent, value, o.window, at, state.long, state.slots);
  const model = state.model;
  const ranges = state.ranges ?? rangesOf(state.training);
  const raw =
    model === undefined || x === undefined ? undefined : withExcursion(scoreOne(model.forest, x), excursion(ranges, x));
  let score: number | undefined;
  let likelihood: number | undefined;
  let alert = false;
  const ring = state.raw;
  const sums = state.rawSums ?? (ring === undefined ? { sum: 0, sq: 0 } : ringSums(ring));
  if (raw !== undefined && ring !== undefined && ring.length >= MIN_CALIBRATION) {
    // Within `refractory` points of a higher raw score the point belongs to an episode already
    // reported (a level shift keeps scoring high until the model learns the new level): it
    // counts half, and does not alert again.
    // A raw score is above 0 (the forest's 2^(−depth / c)), so with no refractory period (an empty
    // loop) every point is fresh.
    let before = 0;
    // Stryker disable next-line EqualityOperator: equivalent, one past the end reads undefined, which is above nothing
    for (let i = Math.max(0, ring.length - o.refractory); i < ring.length; i++)
      // Stryker disable next-line EqualityOperator: equivalent, an equal score leaves the maximum as it was
      if (ring[i]! > before) before = ring[i]!;
    const fresh = raw > before;
    score = fresh ? raw : raw / 2;
    likelihood = calibrate(raw, ring, sums);
    const rare = () => {
      // A constant series' raw scores are all alike: a repeat of its value ties with every one
      // of them and is no rare score.
      let higher = 0;
      for (const r of ring) if (r >= raw) higher++;
      return higher <= o.contamination * ring.length;
    };
    // However the scores fall, a series alerts at most once plus `contamination` of its points.
    const budget = state.budget ?? { scored: 0, alerts: 0 };
    alert =
      fresh &&
      likelihood >= o.threshold &&
      budget.alerts < 1 + o.contamination * (budget.scored + 1) &&
      (state.lastAlertAt === undefined || at - state.lastAlertAt >= o.minGapMs) &&
      rare();
  }

  let training = state.training;
  let nextRanges = ranges;
  if (x !== undefined) {
    const rows = Math.floor(state.training.length / DIMS);
    const keep = Math.min(rows, o.trainingSize - 1);
    training = new Float32Array((keep + 1) * DIMS);
    training.set(state.training.subarray((rows - keep) * DIMS));
    training.set(x, keep * DIMS);
    // The row as stored (single precision), so the ranges are the stored rows' ranges.
    nextRanges = slideRanges(
      ranges,
      training.subarray(keep * DIMS),
      state.training.subarray(0, (rows - keep) * DIMS),
      training,
    );
  }
  const recent = [...state.recent, value].slice(-o.window);
  const l = state.long;
  const d = l === undefined ? 0 : value - l.mean;
  const long =
    l === undefined
      ? { mean: value, variance: 0, n: 1 }
      : { mean: l.mean + LONG_ALPHA * d, variance: (1 - LONG_ALPHA) * (l.variance + LONG_ALPHA * d * d), n: l.n + 1 };
  const slots = writeSlot(state.slots, Math.floor(at / SLOT_MS), value);

  const seen = state.seen + 1;
  let sinceTrain = state.sinceTrain + 1;
  let trained: Model | undefined;
  if (seen >= o.warmup && training.length >= 10 * DIMS && (model === undefined || sinceTrain >= o.retrainEvery)) {
    trained =
      pretrained !== undefined && pretrained.version === modelVersion(series, seen, o)
        ? pretrained
        : train(training, seen, o, series);
    sinceTrain = 0;
  }
  return {
    state: {
      recent,
      training,
      seen,
      sinceTrain,
      model: trained ?? model,
      ranges: nextRanges,
      lastAlertAt: alert ? at : state.lastAlertAt,
      budget:
        score === undefined
          ? state.budget
          : {
              scored: (state.budget?.scored ?? 0) + 1,
              alerts: (state.budget?.alerts ?? 0) + (alert ? 1 : 0),
            },
      long,
      ...(raw === undefined ? { raw: state.raw, rawSums: state.rawSums } : pushRaw(ring, sums, raw, o.calibration)),
      slots,
    },
    ...(x === undefined ? {} : { features: x }),
    ...(score === undefined ? {} : { score, raw, likelihood, threshold: o.threshold, modelVersion: model!.version }),
    alert,
    ...(trained === undefined ? {} : { trained }),
  };
}

/** The features that isolate a point, largest share first. */
export function topFeatures(model: Model, x: Float64Array, n: number = DIMS): { name: string; contribution: number }[] {
  const share = contributions(model.forest, x);
  return featureNames
    .map((name, i) => ({ name, contribution: Math.round(share[i]! * 1e4) / 1e4 }))
    .sort((a, b) => b.contribution - a.contribution)
    .slice(0, n);
}
