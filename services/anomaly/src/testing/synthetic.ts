import { prng } from '../core/forest.js';

/** A synthetic metric series with labelled anomalies, reproducible from its seed. */
export interface LabelledSeries {
  readonly values: Float64Array;
  readonly labels: Uint8Array;
}

function gaussian(rnd: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
}

/** A daily cycle of ±4 (period 288 points, i.e. 5-minute points) plus noise of σ 2 around 100. */
function baseline(n: number, seed: number): { values: Float64Array; rnd: () => number } {
  const rnd = prng(seed);
  const g = gaussian(rnd);
  const values = new Float64Array(n);
  for (let t = 0; t < n; t++) values[t] = 100 + 4 * Math.sin((2 * Math.PI * t) / 288) + 2 * g();
  return { values, rnd };
}

/** Single-point spikes of 8-15 σ, up or down, at `count` places after the first `quiet` points. */
export function withSpikes(n: number, seed: number, count = 30, quiet = 300): LabelledSeries {
  const { values, rnd } = baseline(n, seed);
  const labels = new Uint8Array(n);
  for (let k = 0; k < count; k++) {
    const t = quiet + Math.floor(rnd() * (n - quiet));
    values[t] = values[t]! + (rnd() < 0.5 ? -1 : 1) * 2 * (8 + 7 * rnd());
    labels[t] = 1;
  }
  return { values, labels };
}

/**
 * Level shifts: episodes of 50-150 points at a level 5-10 σ above or below normal, 250-450 points
 * apart, after which the series returns (a regression that is later fixed). The shifted points
 * are the anomalies: the series is in an abnormal state for the whole episode.
 */
export function withLevelShifts(n: number, seed: number, quiet = 300): LabelledSeries {
  const { values, rnd } = baseline(n, seed);
  const labels = new Uint8Array(n);
  for (let t = quiet; t < n;) {
    const level = (rnd() < 0.5 ? -1 : 1) * 2 * (5 + 5 * rnd());
    const until = Math.min(n, t + 50 + Math.floor(rnd() * 100));
    for (let i = t; i < until; i++) {
      values[i] = values[i]! + level;
      labels[i] = 1;
    }
    t = until + 250 + Math.floor(rnd() * 200);
  }
  return { values, labels };
}

/** Slow drifts of 3-6 σ over 100 points, then back; the drifting points are the anomalies. */
export function withDrifts(n: number, seed: number, quiet = 300): LabelledSeries {
  const { values, rnd } = baseline(n, seed);
  const labels = new Uint8Array(n);
  for (let t = quiet; t + 100 < n; t += 400 + Math.floor(rnd() * 200)) {
    const size = (rnd() < 0.5 ? -1 : 1) * 2 * (3 + 3 * rnd());
    for (let i = 0; i < 100; i++) {
      values[t + i] = values[t + i]! + (size * i) / 100;
      labels[t + i] = 1;
    }
  }
  return { values, labels };
}

/** ROC AUC by ranks (Mann–Whitney U), ties averaged. */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const idx = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  const ranks = new Float64Array(scores.length);
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j + 1 < idx.length && scores[idx[j + 1]!] === scores[idx[i]!]) j++;
    for (let k = i; k <= j; k++) ranks[idx[k]!] = (i + j) / 2 + 1;
    i = j + 1;
  }
  let pos = 0;
  let rankSum = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i]) {
      pos++;
      rankSum += ranks[i]!;
    }
  }
  const neg = labels.length - pos;
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}
