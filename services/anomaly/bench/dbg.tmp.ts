import { withSpikes } from '../src/testing/synthetic.js';
import { emptyState, step, defaultDetectorOptions, excursion, featureNames } from '../src/core/detector.js';
const o = { ...defaultDetectorOptions, minGapMs: 0, contamination: 0.05 };
const s = withSpikes(1500, 3, 0);
let st = emptyState;
for (let t = 0; t < 300; t++) {
  const r = step(st, t * 300_000, s.values[t]!, o, 'shift');
  if (r.alert || t === 287)
    console.log(
      t,
      s.values[t],
      r.raw,
      r.likelihood,
      r.alert,
      r.features &&
        Array.from(r.features)
          .map((v, i) => `${featureNames[i]}=${v.toFixed(2)}`)
          .join(' '),
      r.features && excursion(st.training, r.features),
    );
  st = r.state;
}
