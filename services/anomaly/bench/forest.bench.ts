/**
 * pnpm bench:anomaly — prints a table; not a test.
 * Our Isolation Forest against the npm `isolation-forest` package (0.0.9) on the same data: the
 * detector's features of seeded synthetic series (spikes, level shifts, drifts). Each
 * implementation runs in its own process, so peak memory (max RSS) is its own.
 * Fit: 100 trees, ψ = 256, on the first 1000 points; scoring: the remaining points, the median of
 * seven passes after a warm-up pass.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { IsolationForest } from 'isolation-forest';
import { DIMS, featureNames, features } from '../src/core/detector.js';
import { fit, scoreAll } from '../src/core/forest.js';
import { rocAuc, withDrifts, withLevelShifts, withSpikes, type LabelledSeries } from '../src/testing/synthetic.js';

const POINTS = Number(process.env['BENCH_POINTS'] ?? 21_000);
const TRAIN = 1000;
const SEEDS = Number(process.env['BENCH_SEEDS'] ?? 20);
const WINDOW = 30;

interface Result {
  impl: string;
  fitMs: number;
  scorePerSec: number;
  maxRssMb: number;
  auc: Record<string, number>;
}

/** The detector's feature rows of every point that has them (from the WINDOW-th on). */
function featureRows(s: LabelledSeries): Float64Array {
  const n = s.values.length - WINDOW;
  const rows = new Float64Array(n * DIMS);
  const recent = Array.from(s.values.subarray(0, WINDOW));
  for (let t = WINDOW; t < s.values.length; t++) {
    rows.set(features(recent, s.values[t]!, WINDOW, t * 300_000)!, (t - WINDOW) * DIMS);
    recent.push(s.values[t]!);
    recent.shift();
  }
  return rows;
}

/** Points per second scoring `points` with `run`: the median of 7 timed passes after one warm-up pass. */
function scoringRate(points: number, run: () => unknown): number {
  run();
  const times = Array.from({ length: 7 }, () => {
    const t0 = performance.now();
    run();
    return performance.now() - t0;
  }).sort((a, b) => a - b);
  return points / (times[3]! / 1000);
}

function runOne(impl: 'ours' | 'npm'): Result {
  const auc: Record<string, number> = {};
  let fitMs = 0;
  let scorePerSec = 0;
  // AUC is the mean over SEEDS series of each kind (and, for ours, forest seeds): one series
  // says little, as the npm package draws from an unseeded Math.random.
  const runs = Array.from({ length: SEEDS }, (_, i) => i + 1).flatMap((seed) => [
    { name: 'spikes', seed, s: withSpikes(POINTS, seed, 300) },
    { name: 'levelShifts', seed, s: withLevelShifts(POINTS, seed) },
    { name: 'drifts', seed, s: withDrifts(POINTS, seed) },
  ]);
  for (const { name, seed, s } of runs) {
    const timed = name === 'spikes' && seed === 1;
    const rows = featureRows(s);
    const train = rows.subarray(0, TRAIN * DIMS);
    const test = rows.subarray(TRAIN * DIMS);
    const labels = s.labels.subarray(WINDOW + TRAIN);
    let scores: ArrayLike<number>;
    if (impl === 'ours') {
      const t0 = performance.now();
      const forest = fit(train, DIMS, { trees: 100, sampleSize: 256, seed });
      const t1 = performance.now();
      scores = scoreAll(forest, test);
      if (timed) {
        // Measured once the JIT has warmed up, as in a long-running service; the same for both.
        [fitMs, scorePerSec] = [t1 - t0, scoringRate(labels.length, () => scoreAll(forest, test))];
      }
    } else {
      const asObjects = (r: Float64Array) =>
        Array.from({ length: r.length / DIMS }, (_, i) => ({
          ...Object.fromEntries(featureNames.map((name, f) => [name, r[i * DIMS + f]!])),
        }));
      const trainObjects = asObjects(train);
      const testObjects = asObjects(test);
      const forest = new IsolationForest(100, 256);
      const t0 = performance.now();
      forest.fit(trainObjects);
      const t1 = performance.now();
      scores = forest.predict(testObjects);
      if (timed) {
        [fitMs, scorePerSec] = [t1 - t0, scoringRate(labels.length, () => forest.predict(testObjects))];
      }
    }
    auc[name] = (auc[name] ?? 0) + rocAuc(scores, labels) / SEEDS;
  }
  return { impl, fitMs, scorePerSec, maxRssMb: process.resourceUsage().maxRSS / 1024, auc };
}

const which = process.argv[2];
if (which === 'ours' || which === 'npm') {
  process.stdout.write(JSON.stringify(runOne(which)));
} else {
  const self = fileURLToPath(import.meta.url);
  const results = (['ours', 'npm'] as const).map((impl) => {
    const r = spawnSync(process.execPath, ['--conditions=vigil-source', '--import', 'tsx', self, impl], {
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`${impl} failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as Result;
  });
  const [ours, npm] = results as [Result, Result];
  const row = (k: string, a: string, b: string, extra = '') =>
    process.stdout.write(`${k.padEnd(34)}${a.padStart(14)}${b.padStart(20)}${extra ? `   ${extra}` : ''}\n`);
  process.stdout.write(
    `isolation forest benchmark (node ${process.version}; ${POINTS - TRAIN} points scored, fit on ${TRAIN}, 100 trees, ψ 256, ${DIMS} features)\n`,
  );
  row('', 'vigil', 'isolation-forest');
  row(
    'fit (spikes series)',
    `${ours.fitMs.toFixed(1)} ms`,
    `${npm.fitMs.toFixed(1)} ms`,
    `${(npm.fitMs / ours.fitMs).toFixed(1)}× faster`,
  );
  row(
    'scoring',
    `${Math.round(ours.scorePerSec)} pt/s`,
    `${Math.round(npm.scorePerSec)} pt/s`,
    `${(ours.scorePerSec / npm.scorePerSec).toFixed(1)}× faster (target ≥ 10×)`,
  );
  row('peak memory (max RSS, whole run)', `${ours.maxRssMb.toFixed(0)} MB`, `${npm.maxRssMb.toFixed(0)} MB`);
  for (const k of Object.keys(ours.auc)) {
    row(`ROC AUC, ${k} (mean of ${SEEDS})`, ours.auc[k]!.toFixed(3), npm.auc[k]!.toFixed(3));
  }
}
