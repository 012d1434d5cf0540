/**
 * Windowed early-detection scoring, as the Numenta Anomaly Benchmark defines it (Lavin and
 * Ahmad, 2015), written from the paper's description:
 * - each labelled onset gets a window centred on it, 10 % of the series' length shared among its
 *   windows; the first 15 % of a series (at most 750 points) is a probation that is not scored;
 * - the first detection in a window earns A_TP · σ(y), y the detection's place in the window from
 *   −1 (its start) to 0 (its end), σ(y) = 2 / (1 + e^(5y)) − 1: early detection earns nearly 1, a
 *   late one little; later detections in the same window count for nothing;
 * - a detection outside every window costs A_FP · σ(y), y its distance past the end of the
 *   window before it in window lengths (a detection just after a window costs little, one far
 *   from any costs A_FP); a window without detection costs A_FN;
 * - the total over all series is normalised: 100 · (S − S_null) / (S_perfect − S_null), where
 *   the null detector never detects and the perfect one detects at each window's start.
 */

export interface Profile {
  readonly tp: number;
  readonly fp: number;
  readonly fn: number;
}

export const profiles = {
  standard: { tp: 1, fp: 0.11, fn: 1 },
  'low-fp': { tp: 1, fp: 0.22, fn: 1 },
  'low-fn': { tp: 1, fp: 0.11, fn: 2 },
} as const satisfies Record<string, Profile>;
export type ProfileName = keyof typeof profiles;

export interface Labelled {
  readonly length: number;
  readonly onsets: readonly number[];
}

export interface Windows {
  readonly windows: readonly (readonly [number, number])[];
  readonly probation: number;
}

export function windowsOf(s: Labelled): Windows {
  const probation = Math.min(Math.floor(0.15 * s.length), 750);
  if (s.onsets.length === 0) return { windows: [], probation };
  const width = Math.floor((0.1 * s.length) / s.onsets.length);
  const windows: [number, number][] = [];
  for (const at of [...s.onsets].sort((a, b) => a - b)) {
    const start = Math.max(0, at - Math.floor(width / 2));
    const end = Math.min(s.length - 1, start + width - 1);
    const prev = windows.at(-1);
    // Overlapping windows merge.
    if (prev !== undefined && start <= prev[1]) prev[1] = Math.max(prev[1], end);
    else windows.push([start, end]);
  }
  return { windows, probation };
}

export function sigma(y: number): number {
  return y > 3 ? -1 : 2 / (1 + Math.exp(5 * y)) - 1;
}

export interface RawScore {
  readonly score: number;
  readonly tp: number;
  readonly fp: number;
  readonly fn: number;
}

/** The raw score of one series' detections (indexes, any order). */
export function rawScore(detections: Iterable<number>, w: Windows, p: Profile): RawScore {
  const sorted = [...detections].filter((i) => i >= w.probation).sort((a, b) => a - b);
  const hit = new Set<number>();
  let score = 0;
  let fp = 0;
  let k = 0; // the first window that does not end before i
  for (const i of sorted) {
    while (k < w.windows.length && w.windows[k]![1] < i) k++;
    const win = w.windows[k];
    if (win !== undefined && i >= win[0]) {
      if (hit.has(k)) continue;
      hit.add(k);
      const length = win[1] - win[0] + 1;
      score += p.tp * sigma(-(win[1] - i + 1) / length);
    } else {
      fp++;
      const before = w.windows[k - 1];
      if (before === undefined) score -= p.fp;
      else {
        const length = before[1] - before[0] + 1;
        score += p.fp * sigma((i - before[1]) / length);
      }
    }
  }
  const fn = w.windows.length - hit.size;
  return { score: score - p.fn * fn, tp: hit.size, fp, fn };
}

/** The normalised score (0 = never detect, 100 = detect at each window's start) of summed raw scores. */
export function normalised(raw: number, totalWindows: number, p: Profile): number {
  const nil = -p.fn * totalWindows;
  const perfect = p.tp * sigma(-1) * totalWindows;
  return totalWindows === 0 ? 0 : (100 * (raw - nil)) / (perfect - nil);
}

export interface Scored {
  readonly windows: Windows;
  /** Per point: the detector's score (higher is more anomalous). */
  readonly scores: ArrayLike<number>;
}

/** Indexes whose score is at least `threshold`. */
function detectionsAt(scores: ArrayLike<number>, threshold: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < scores.length; i++) if (scores[i]! >= threshold) out.push(i);
  return out;
}

/** The normalised score of a set of series at one threshold. */
export function scoreAt(series: readonly Scored[], threshold: number, p: Profile): number {
  let raw = 0;
  let windows = 0;
  for (const s of series) {
    raw += rawScore(detectionsAt(s.scores, threshold), s.windows, p).score;
    windows += s.windows.windows.length;
  }
  return normalised(raw, windows, p);
}

/**
 * The best normalised score over thresholds, and the threshold: one threshold for all series, as
 * the benchmark optimises it per profile. Candidates are the distinct scores' quantiles plus the
 * top scores.
 */
export function bestThreshold(
  series: readonly Scored[],
  p: Profile,
  candidates = 400,
): { score: number; threshold: number } {
  const all: number[] = [];
  for (const s of series) for (let i = s.windows.probation; i < s.scores.length; i++) all.push(s.scores[i]!);
  const sorted = Float64Array.from(all).sort();
  const cands = new Set<number>();
  for (let k = 0; k < candidates; k++) {
    // Denser toward the top, where sparse detectors' thresholds lie.
    const q = 1 - (1 - k / candidates) ** 3;
    cands.add(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!);
  }
  for (let k = 1; k <= 200 && k <= sorted.length; k++) cands.add(sorted[sorted.length - k]!);
  cands.add(Infinity);
  let best = { score: -Infinity, threshold: Infinity };
  for (const t of cands) {
    const score = scoreAt(series, t, p);
    if (score > best.score) best = { score, threshold: t };
  }
  return best;
}
