/**
 * pnpm bench:anomaly (second part) — prints a table; not a test.
 * Detection quality on the development corpus (src/testing/corpus.ts): every series run online
 * through the service's own detector (`backtest`, row i sees rows up to i), scored by windowed
 * early detection (src/testing/windowed-score.ts) on three profiles: the score column with the
 * best threshold per profile, and the alerts the detector emits at its own threshold. Beside it a
 * windowed Gaussian (mean and deviation of the last 6,400 values, score |z|: the order of 1 − the
 * normal tail of |z|, which saturates at 1 in floating point), the benchmark's classic baseline.
 */
import { backtest } from '../src/core/backtest.js';
import { defaultDetectorOptions } from '../src/core/detector.js';
import { anomalyKinds, corpus, type CorpusSeries } from '../src/testing/corpus.js';
import {
  bestThreshold,
  normalised,
  profiles,
  rawScore,
  scoreAt,
  windowsOf,
  type ProfileName,
  type Scored,
} from '../src/testing/windowed-score.js';

const PER_KIND = Number(process.env['BENCH_PER_KIND'] ?? 8);
// BENCH_DETECTOR='{"refractory":0}' tries other options.
const options = {
  ...defaultDetectorOptions,
  ...(JSON.parse(process.env['BENCH_DETECTOR'] ?? '{}') as Partial<typeof defaultDetectorOptions>),
};

function windowedGaussian(values: Float64Array, size = 6400): Float64Array {
  const out = new Float64Array(values.length);
  let sum = 0;
  let sq = 0;
  for (let i = 0; i < values.length; i++) {
    const n = Math.min(i, size);
    if (n >= 2) {
      const mean = sum / n;
      const std = Math.sqrt(Math.max(sq / n - mean * mean, 0));
      // |z| itself: 1 − the tail saturates at 1 in floating point for |z| over about 8.
      out[i] = std > 0 ? Math.abs(values[i]! - mean) / std : values[i] === mean ? 0 : Infinity;
    }
    sum += values[i]!;
    sq += values[i]! ** 2;
    if (i >= size) {
      sum -= values[i - size]!;
      sq -= values[i - size]! ** 2;
    }
  }
  return out;
}

interface Run {
  readonly series: CorpusSeries;
  readonly ours: Scored;
  readonly alerts: number[];
  readonly gaussian: Scored;
}

const t0 = performance.now();
const runs: Run[] = [];
let points = 0;
for (const s of corpus(PER_KIND)) {
  const windows = windowsOf({ length: s.values.length, onsets: s.onsets });
  const scores = new Float64Array(s.values.length);
  const alerts: number[] = [];
  let i = 0;
  for (const r of backtest(s.times, s.values, options)) {
    scores[i] = r.score ?? 0;
    if (r.alert) alerts.push(i);
    i++;
  }
  points += s.values.length;
  runs.push({
    series: s,
    ours: { windows, scores },
    alerts,
    gaussian: { windows, scores: windowedGaussian(s.values) },
  });
}
const elapsed = performance.now() - t0;

const names = Object.keys(profiles) as ProfileName[];
const kinds = [...anomalyKinds, 'none', 'constant'] as const;
process.stdout.write(
  `windowed early-detection scores, development corpus: ${runs.length} series, ${points} points; detector ${((points / elapsed) * 1000).toFixed(0)} points/s online\n`,
);
process.stdout.write(
  `${'kind'.padEnd(18)}${names.map((p) => `${`score ${p}`.padStart(20)}${`alerts ${p}`.padStart(18)}${`gauss ${p}`.padStart(18)}`).join('')}\n`,
);
const row = (label: string, rs: readonly Run[], thresholds: Record<ProfileName, { ours: number; gauss: number }>) => {
  const cells = names.map((p) => {
    const prof = profiles[p];
    const windows = rs.reduce((n, r) => n + r.ours.windows.windows.length, 0);
    const ours = scoreAt(
      rs.map((r) => r.ours),
      thresholds[p].ours,
      prof,
    );
    const ga = scoreAt(
      rs.map((r) => r.gaussian),
      thresholds[p].gauss,
      prof,
    );
    const al = normalised(
      rs.reduce((n, r) => n + rawScore(r.alerts, r.ours.windows, prof).score, 0),
      windows,
      prof,
    );
    if (windows === 0) {
      // No anomalies: what counts is how many points were flagged.
      const flagged = rs.reduce((n, r) => n + r.alerts.length, 0);
      return `${'-'.padStart(20)}${`${flagged} alerts`.padStart(18)}${'-'.padStart(18)}`;
    }
    return `${ours.toFixed(1).padStart(20)}${al.toFixed(1).padStart(18)}${ga.toFixed(1).padStart(18)}`;
  });
  process.stdout.write(`${label.padEnd(18)}${cells.join('')}\n`);
};
const thresholds = Object.fromEntries(
  names.map((p) => [
    p,
    {
      ours: bestThreshold(
        runs.map((r) => r.ours),
        profiles[p],
      ).threshold,
      gauss: bestThreshold(
        runs.map((r) => r.gaussian),
        profiles[p],
      ).threshold,
    },
  ]),
) as Record<ProfileName, { ours: number; gauss: number }>;
for (const k of kinds)
  row(
    k,
    runs.filter((r) => r.series.kind === k),
    thresholds,
  );
row('total', runs, thresholds);
process.stdout.write(
  `thresholds (best per profile over the whole corpus): ${names.map((p) => `${p} ${thresholds[p].ours.toFixed(4)} / gauss ${thresholds[p].gauss.toFixed(4)}`).join('; ')}\n`,
);
