import { prng } from '../core/forest.js';

/**
 * The development corpus: labelled synthetic operational series, reproducible from a seed. Each
 * is two weeks of 5-minute points (4,032) of one of four kinds of base signal, with noise,
 * sometimes gaps, and one to three anomalies of one kind. Labels are the anomalies' onsets: the
 * point where a person looking at the chart would say "it started here". Windows around them
 * follow the windowed early-detection scoring (see windowed-score.ts).
 */

export const anomalyKinds = [
  'spike',
  'dip',
  'level-shift',
  'variance-change',
  'seasonality-break',
  'flatline',
  'drift',
] as const;
export type AnomalyKind = (typeof anomalyKinds)[number] | 'none' | 'constant';

export interface CorpusSeries {
  readonly name: string;
  readonly kind: AnomalyKind;
  /** Epoch milliseconds, increasing. */
  readonly times: Float64Array;
  readonly values: Float64Array;
  /** Indexes of the labelled anomaly onsets. */
  readonly onsets: readonly number[];
}

const STEP_MS = 300_000;
const DAY = 288;

function gaussian(rnd: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
}

type Base = 'cpu' | 'requests' | 'latency' | 'temperature';
const bases: readonly Base[] = ['cpu', 'requests', 'latency', 'temperature'];

interface Signal {
  /** The expected value at t (level, seasonality). */
  readonly expected: (t: number) => number;
  /** The noise at t given the expected value. */
  readonly noise: (t: number, expected: number) => number;
  /** A typical spread of the noise, for sizing anomalies. */
  readonly sigma: number;
  readonly round: (v: number) => number;
}

function signal(base: Base, rnd: () => number): Signal {
  const g = gaussian(rnd);
  const phase = rnd() * DAY;
  const daily = (t: number) => Math.sin((2 * Math.PI * (t + phase)) / DAY);
  const weekday = (t: number) => (Math.floor((t + phase) / DAY) % 7 < 5 ? 1 : 0.6);
  switch (base) {
    case 'cpu': {
      // AR(1) noise around a daily load curve; percentages.
      let ar = 0;
      const level = 25 + rnd() * 30;
      return {
        expected: (t) => level + 10 * daily(t) * weekday(t),
        noise: () => (ar = 0.8 * ar + 1.5 * g()),
        sigma: 2.5,
        round: (v) => Math.round(Math.min(100, Math.max(0, v)) * 100) / 100,
      };
    }
    case 'requests': {
      // Counts per 5 minutes with a strong daily and weekly cycle; Poisson-like noise.
      const level = 200 + rnd() * 800;
      return {
        expected: (t) => level * (1 + 0.5 * daily(t)) * weekday(t),
        noise: (_t, e) => Math.sqrt(Math.max(e, 1)) * g(),
        sigma: Math.sqrt(level),
        round: (v) => Math.max(0, Math.round(v)),
      };
    }
    case 'latency': {
      // Milliseconds: a floor and a heavy right tail, with short benign bursts.
      const level = 40 + rnd() * 100;
      return {
        expected: (t) => level * (1 + 0.15 * daily(t)),
        noise: (_t, e) => {
          const tail = Math.exp(0.25 * g()) - 1;
          return e * tail + (rnd() < 0.01 ? e * 0.6 * rnd() : 0);
        },
        sigma: level * 0.25,
        round: (v) => Math.round(Math.max(1, v) * 10) / 10,
      };
    }
    case 'temperature': {
      // A slow daily swing and small sensor noise, quantised to 0.1.
      const level = 55 + rnd() * 20;
      let ar = 0;
      return {
        expected: (t) => level + 3 * daily(t),
        noise: () => (ar = 0.95 * ar + 0.15 * g()) + 0.1 * g(),
        sigma: 0.6,
        round: (v) => Math.round(v * 10) / 10,
      };
    }
  }
}

/**
 * One series of `kind` on `base`. Anomalies come after the first 20 % of the points (beyond the
 * scoring's probation) and at least 600 points apart. Long, and kept whole: its draws from one
 * random stream, in this order, are the corpus, and every backtest figure on record was measured on it.
 */
export function corpusSeries(kind: AnomalyKind, base: Base, seed: number, n = 4032): CorpusSeries {
  const rnd = prng(seed);
  const sig = signal(base, rnd);
  const expected = new Float64Array(n);
  const values = new Float64Array(n);
  for (let t = 0; t < n; t++) expected[t] = sig.expected(t);
  const count = kind === 'none' || kind === 'constant' ? 0 : 1 + Math.floor(rnd() * 3);
  const onsets: number[] = [];
  const start = Math.floor(n * 0.2);
  const span = Math.floor((n - start - 300) / Math.max(count, 1));
  for (let k = 0; k < count; k++) onsets.push(start + k * span + Math.floor(rnd() * (span - 600)));
  const sign = () => (rnd() < 0.5 ? -1 : 1);

  // Shape the expected value and the noise scale for the anomaly kinds that change them.
  const noiseScale = new Float64Array(n).fill(1);
  const stuck = new Uint8Array(n);
  const spikes: [number, number][] = [];
  for (const [k, at] of onsets.entries()) {
    const until = Math.min(n, at + 150 + Math.floor(rnd() * 350));
    const nextOnset = onsets[k + 1] ?? n;
    switch (kind) {
      case 'spike':
        spikes.push([at, (6 + 6 * rnd()) * sig.sigma]);
        if (rnd() < 0.5) spikes.push([at + 1, (3 + 3 * rnd()) * sig.sigma]);
        break;
      case 'dip': {
        // A drop that lasts a few points: a partial outage.
        const depth = Math.min(0.9, (5 + 5 * rnd()) * (sig.sigma / Math.max(expected[at]!, 1e-9)));
        for (let t = at; t < Math.min(n, at + 3 + Math.floor(rnd() * 8)); t++) expected[t] = expected[t]! * (1 - depth);
        break;
      }
      case 'level-shift': {
        const d = sign() * (4 + 4 * rnd()) * sig.sigma;
        for (let t = at; t < nextOnset; t++) expected[t] = expected[t]! + d;
        break;
      }
      case 'variance-change':
        for (let t = at; t < until; t++) noiseScale[t] = 4 + 2 * rnd();
        break;
      case 'seasonality-break': {
        // The daily cycle stops (a stuck job, a lost region): the value sits at its daily mean.
        const mean = expected.slice(Math.max(0, at - DAY), at).reduce((a, b) => a + b, 0) / Math.min(at, DAY);
        for (let t = at; t < Math.min(n, at + DAY); t++) expected[t] = mean;
        break;
      }
      case 'flatline':
        for (let t = at; t < until; t++) stuck[t] = 1;
        break;
      case 'drift': {
        // A slow leak: a ramp of 6-10 σ over 300-500 points, labelled where it passes 2 σ.
        const size = sign() * (6 + 4 * rnd()) * sig.sigma;
        const ramp = 300 + Math.floor(rnd() * 200);
        const begin = at - Math.floor((2 / Math.abs(size / sig.sigma)) * ramp);
        for (let t = Math.max(0, begin); t < nextOnset; t++) {
          expected[t] = expected[t]! + size * Math.min(1, (t - begin) / ramp);
        }
        break;
      }
    }
  }
  let last = 0;
  for (let t = 0; t < n; t++) {
    if (kind === 'constant') {
      values[t] = 42;
      continue;
    }
    const v = sig.round(expected[t]! + noiseScale[t]! * sig.noise(t, expected[t]!));
    // A stuck sensor repeats its last reading.
    values[t] = stuck[t] ? last : v;
    if (!stuck[t]) last = values[t]!;
  }
  for (const [at, size] of spikes) if (at < n) values[at] = sig.round(values[at]! + (kind === 'spike' ? size : -size));

  // Gaps: a third of the series lose a few stretches of points (a scraper down).
  const keep = new Uint8Array(n).fill(1);
  if (rnd() < 0.33) {
    for (let k = 0; k < 3; k++) {
      const at = Math.floor(rnd() * n);
      for (let t = at; t < Math.min(n, at + 5 + Math.floor(rnd() * 40)); t++) if (!onsets.includes(t)) keep[t] = 0;
    }
  }
  const t0 = Date.UTC(2026, 0, 5);
  const idx: number[] = [];
  for (let t = 0; t < n; t++) if (keep[t]) idx.push(t);
  const remap = new Map(idx.map((t, i) => [t, i]));
  return {
    name: `${kind}-${base}-${seed}`,
    kind,
    times: Float64Array.from(idx, (t) => t0 + t * STEP_MS),
    values: Float64Array.from(idx, (t) => values[t]!),
    onsets: onsets.map((t) => remap.get(t)!),
  };
}

/**
 * The corpus: for each anomaly kind, `perKind` series over the four bases; plus series without
 * anomalies (`none`) and constant series (`constant`), which must not alert at all.
 */
export function corpus(perKind = 8, seed = 20_261_201): CorpusSeries[] {
  const out: CorpusSeries[] = [];
  let s = seed;
  for (const kind of [...anomalyKinds, 'none'] as const) {
    for (let i = 0; i < perKind; i++) out.push(corpusSeries(kind, bases[i % bases.length]!, s++));
  }
  for (let i = 0; i < 3; i++) out.push(corpusSeries('constant', 'cpu', s++));
  return out;
}
