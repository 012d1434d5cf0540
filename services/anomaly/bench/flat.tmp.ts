import { backtest } from '../src/core/backtest.js';
import { defaultDetectorOptions, featureNames } from '../src/core/detector.js';
import { corpus } from '../src/testing/corpus.js';
const all = corpus(8).filter((s) => s.kind === 'flatline');
for (const s of all.slice(0, 4)) {
  const rows = [...backtest(s.times, s.values, defaultDetectorOptions)];
  const on = s.onsets[0]!;
  const top = rows
    .map((r, i) => [i, r.score ?? 0] as const)
    .filter(([i]) => i > 600)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5);
  console.log(
    s.name,
    'onsets',
    s.onsets,
    'scores around onset',
    rows
      .slice(on - 2, on + 12)
      .map((r) => (r.score ?? 0).toFixed(2))
      .join(' '),
    'values',
    Array.from(s.values.slice(on - 2, on + 8)).join(' '),
    'top',
    top.map(([i, v]) => `${i}:${v.toFixed(2)}`).join(' '),
  );
}
