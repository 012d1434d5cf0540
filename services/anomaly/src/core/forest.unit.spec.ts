import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  c,
  contributions,
  fit,
  harmonic,
  loadForest,
  ModelFormatError,
  prng,
  saveForest,
  score,
  scoreAll,
} from './forest.js';

/** A typed array as a saved model holds it: base64 of its bytes. */
const b64 = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');

function rows(n: number, dims: number, seed: number): Float64Array {
  const rnd = prng(seed);
  return Float64Array.from({ length: n * dims }, () => rnd());
}

describe('isolation forest', () => {
  it('c(n) = 2H(n−1) − 2(n−1)/n: c(1) = 0, c(2) = 1, and the values the paper normalises by', () => {
    expect(c(0)).toBe(0);
    expect(c(1)).toBe(0);
    expect(c(2)).toBe(1);
    expect(c(3)).toBeCloseTo(2 * 1.5 - 4 / 3, 12);
    // With the exact H(255); scikit-learn's ln(n) + γ shortcut gives 10.2448 here.
    expect(c(256)).toBeCloseTo(10.248689925634562, 9);
    expect(Math.abs(c(256) - (2 * (Math.log(255) + 0.5772156649015329) - (2 * 255) / 256))).toBeLessThan(0.004);
    // Exact and asymptotic harmonic numbers agree where they meet.
    expect(harmonic(1000)).toBeCloseTo(Math.log(1000) + 0.5772156649015329 + 1 / 2000 - 1 / 12e6, 10);
    expect(harmonic(1001)).toBeCloseTo(harmonic(1000) + 1 / 1001, 10);
  });

  it('s = 2^(−E[h]/c(ψ)): one tree of two distinct points scores each at 2^(−1/1) = 0.5', () => {
    const f = fit(Float64Array.of(0, 1), 1, { trees: 1, sampleSize: 2 });
    expect(f.heightLimit).toBe(1);
    expect(score(f, [0])).toBe(0.5);
    expect(score(f, [1])).toBe(0.5);
    // Identical rows cannot be split: one leaf of 4, h = c(4), s = 2^(−c(4)/c(4)) = 0.5.
    const same = fit(Float64Array.of(3, 3, 3, 3), 1, { trees: 3, sampleSize: 4 });
    expect(score(same, [3])).toBe(0.5);
  });

  it('outliers score high, inliers under 0.5 on average; its contribution falls on the feature that isolates it', () => {
    // A Gaussian cloud: the density falls off, so a point far out is isolated in a few splits.
    const rnd = prng(7);
    const data = Float64Array.from(
      { length: 3000 },
      () => Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd()),
    );
    // Twenty forests, not one: a single seed's score is one random draw, and a bound on it says
    // as much about the draw as about the forest.
    const seeds = 20;
    let farSum = 0;
    let shareSum = 0;
    for (let seed = 1; seed <= seeds; seed++) {
      const f = fit(data, 3, { seed });
      expect(f.sampleSize).toBe(256);
      expect(f.heightLimit).toBe(8);
      const inliers = scoreAll(f, data);
      expect(inliers.reduce((a, b) => a + b, 0) / inliers.length).toBeLessThan(0.5);
      // Far out in one of three dimensions: only splits on that one isolate it.
      const far = score(f, [0, 8, 0]);
      expect(far).toBeGreaterThan(Float64Array.from(inliers).sort()[Math.floor(0.95 * inliers.length)]!);
      farSum += far;
      // Out in every dimension: every split helps.
      expect(score(f, [3, 3, 3])).toBeGreaterThan(0.7);
      const share = contributions(f, [0, 8, 0]);
      expect(share.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
      shareSum += share[1]!;
    }
    expect(farSum / seeds).toBeGreaterThan(0.55);
    expect(shareSum / seeds).toBeGreaterThan(0.6);
  });

  it('cuts are drawn across every training row at a node, not only the subsample: rows a subsample missed still shape its tree', () => {
    // 999 zeros and one 1000; ψ = 2, so nearly every subsample is two zeros, which alone could not be split.
    const data = Float64Array.from({ length: 1000 }, (_, i) => (i === 999 ? 1000 : 0));
    const f = fit(data, 1, { trees: 50, sampleSize: 2, seed: 5 });
    for (let t = 0; t < f.trees; t++) {
      const root = f.offsets[t]!;
      expect(f.feature[root]).toBe(0);
      expect(f.split[root]).toBeGreaterThanOrEqual(0);
      expect(f.split[root]).toBeLessThanOrEqual(1000);
    }
    // So a value between the two is told apart from the zeros the subsamples hold.
    expect(score(f, [500])).toBeGreaterThan(score(f, [0]) + 0.05);
  });

  it('every tree is built on its own subsample: trees differ, and leaves hold at most ψ rows in all', () => {
    const f = fit(rows(5000, 2, 1), 2, { trees: 10, sampleSize: 64 });
    for (let t = 0; t < f.trees; t++) expect(f.size[f.offsets[t]!]).toBe(64);
    const roots = new Set(Array.from({ length: 10 }, (_, t) => f.split[f.offsets[t]!]));
    expect(roots.size).toBe(10);
  });

  it('the same seed and data give the same forest; another seed another', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 }), (seed) => {
        const data = rows(300, 4, 11);
        const a = fit(data, 4, { seed, trees: 20 });
        const b = fit(data, 4, { seed, trees: 20 });
        expect(saveForest(a)).toEqual(saveForest(b));
        expect(saveForest(fit(data, 4, { seed: seed + 1, trees: 20 }))).not.toEqual(saveForest(a));
      }),
      { numRuns: 20 },
    );
  });

  it('the complete-tree walk scores exactly as the sparse walk, for any rows (NaN and ±Infinity too)', () => {
    const value = fc.oneof(
      fc.double({ min: -20, max: 20, noNaN: true }),
      fc.constantFrom(Number.NaN, Infinity, -Infinity),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 99 }),
        fc.integer({ min: 2, max: 300 }),
        fc.array(value, { minLength: 3, maxLength: 3 * 37 }),
        (seed, psi, flat) => {
          const f = fit(rows(400, 3, seed), 3, { seed, trees: 7, sampleSize: psi });
          expect(f.complete).toBeDefined();
          const test = Float64Array.from(flat.slice(0, flat.length - (flat.length % 3)));
          expect(scoreAll(f, test)).toEqual(scoreAll({ ...f, complete: undefined }, test));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('save → JSON → load scores identically', () => {
    const data = rows(800, 4, 5);
    const f = fit(data, 4, { seed: 9 });
    const loaded = loadForest(JSON.parse(JSON.stringify(saveForest(f))));
    expect(scoreAll(loaded, data)).toEqual(scoreAll(f, data));
    expect(loaded).toEqual(f);
  });

  it('loading refuses what is not a model of this version, or is damaged, and says why', () => {
    const saved = saveForest(fit(rows(100, 2, 1), 2, { trees: 2 }));
    expect(() => loadForest({ format: 'other' })).toThrow(ModelFormatError);
    expect(() => loadForest({ ...saved, version: 2 })).toThrow('model version 2 is not supported (this build reads 1)');
    expect(() => loadForest({ ...saved, trees: 3 })).toThrow('offsets do not match the trees');
    expect(() => loadForest(null)).toThrow('not a vigil-iforest model');
    expect(() => loadForest({ ...saved, dims: 1.5 })).toThrow('dims is not a whole number');
    expect(() => loadForest({ ...saved, seed: -1 })).toThrow('seed is not a whole number');
    expect(() => loadForest({ ...saved, nodes: { ...saved.nodes, right: 7 } })).toThrow(
      'nodes.right is not a base64 string',
    );
    expect(() => loadForest({ ...saved, nodes: undefined })).toThrow('nodes is not an object of node arrays');
    expect(() => loadForest({ ...saved, nodes: { ...saved.nodes, split: 'AAAA' } })).toThrow(
      'nodes.split has 3 bytes, not a multiple of 8',
    );
    const feature = Buffer.from(saved.nodes.feature, 'base64');
    feature.writeInt16LE(9, 0);
    expect(() => loadForest({ ...saved, nodes: { ...saved.nodes, feature: feature.toString('base64') } })).toThrow(
      'node 0 splits on feature 9 of 2',
    );
  });

  it('fit refuses fewer than two rows or a ragged array', () => {
    expect(() => fit(Float64Array.of(1, 2), 2)).toThrow(RangeError);
    expect(() => fit(Float64Array.of(1, 2, 3), 2)).toThrow(RangeError);
  });

  it('the PRNG gives the same numbers everywhere: sfc32 seeded through splitmix32, the seed taken mod 2^32', () => {
    const r = prng(1);
    expect([r(), r(), r(), r()]).toEqual([
      0.15070555242709816, 0.16780947777442634, 0.6835320217069238, 0.9219140172936022,
    ]);
    const zero = prng(0);
    expect([zero(), zero()]).toEqual([0.7413837239146233, 0.5087395466398448]);
    const wrapped = prng(2 ** 32 + 1);
    expect([wrapped(), wrapped()]).toEqual([0.15070555242709816, 0.16780947777442634]);
    // In [0, 1) over many draws.
    const many = prng(42);
    for (let i = 0; i < 10_000; i++) {
      const x = many();
      expect(x >= 0 && x < 1).toBe(true);
    }
  });

  it('c(n) from its table equals 2H(n−1) − 2(n−1)/n for every leaf size, and past the table too', () => {
    for (let n = 2; n <= 4096; n++) {
      const exact = 2 * harmonic(n - 1) - (2 * (n - 1)) / n;
      expect(Math.abs(c(n) - exact)).toBeLessThan(1e-9);
    }
    expect(c(4097)).toBe(2 * harmonic(4096) - (2 * 4096) / 4097);
    expect(c(5000)).toBe(2 * harmonic(4999) - (2 * 4999) / 5000);
    expect(harmonic(0)).toBe(0);
    expect(harmonic(-3)).toBe(0);
    expect(harmonic(1)).toBe(1);
    expect(harmonic(2)).toBe(1.5);
  });

  it('defaults: 100 trees, seed 1, ψ = 256 capped at the number of rows', () => {
    const data = rows(300, 2, 3);
    const f = fit(data, 2);
    expect([f.trees, f.seed, f.sampleSize, f.heightLimit, f.dims]).toEqual([100, 1, 256, 8, 2]);
    expect(f.offsets.length).toBe(101);
    expect(saveForest(f)).toEqual(saveForest(fit(data, 2, { trees: 100, seed: 1, sampleSize: 256 })));
    const few = fit(rows(10, 2, 3), 2, { sampleSize: 64 });
    expect([few.sampleSize, few.heightLimit]).toEqual([10, 4]);
  });

  it('complete trees up to height 12 (ψ = 4096); past it the sparse trees alone, with the same scores', () => {
    const line = Float64Array.from({ length: 4097 }, (_, i) => i);
    const at12 = fit(line.subarray(0, 4096), 1, { trees: 1, sampleSize: 4096 });
    expect(at12.heightLimit).toBe(12);
    expect(at12.complete?.height).toBe(12);
    const at13 = fit(line, 1, { trees: 1, sampleSize: 4097 });
    expect(at13.heightLimit).toBe(13);
    expect(at13.complete).toBeUndefined();
    const probe = Float64Array.of(-1, 0, 17.5, 2048, 4096, 5000);
    expect(scoreAll(at12, probe)).toEqual(scoreAll({ ...at12, complete: undefined }, probe));
  });

  it('a saved model whose trees are deeper than its height limit is scored on its sparse trees', () => {
    const data = rows(400, 2, 8);
    const f = fit(data, 2, { trees: 5, sampleSize: 64, seed: 3 });
    const shallow = loadForest({ ...saveForest(f), heightLimit: 2 });
    expect(shallow.complete).toBeUndefined();
    expect(scoreAll(shallow, data)).toEqual(scoreAll({ ...f, complete: undefined, heightLimit: 2 }, data));
    const same = loadForest(saveForest(f));
    expect(same.complete?.height).toBe(6);
    // Every leaf of the padded trees holds a path length: none is left at zero.
    expect(same.complete!.leafPath.every((h) => h > 0)).toBe(true);
  });

  it('leaf path lengths are depth + c(size): a leaf of three identical rows at depth 1 is 1 + c(3)', () => {
    const f = fit(Float64Array.of(0, 5, 5, 5), 1, { trees: 1, sampleSize: 4 });
    // Root splits 0 from the fives, which cannot be split: leaves at depth 1 of sizes 1 and 3.
    expect(Array.from(f.feature)).toEqual([0, -1, -1]);
    expect(Array.from(f.size)).toEqual([4, 1, 3]);
    expect(Array.from(f.leafPath)).toEqual([0, 1, 1 + c(3)]);
    expect(score(f, [5])).toBe(2 ** (-(1 + c(3)) / c(4)));
    expect(score(f, [0, 99])).toBe(2 ** (-1 / c(4)));
  });

  it('identical rows are isolated by no feature: contributions stay zero', () => {
    const same = fit(Float64Array.of(3, 3, 3, 3, 3, 3), 2, { trees: 4, sampleSize: 3 });
    expect(Array.from(contributions(same, [3, 3]))).toEqual([0, 0]);
    const f = fit(Float64Array.of(0, 0, 1, 0, 2, 0, 3, 0), 2, { trees: 3, sampleSize: 4 });
    expect(Array.from(contributions(f, [9, 0]))).toEqual([1, 0]);
  });

  it('loading refuses node arrays of different lengths and right children out of place, naming the node', () => {
    const f = fit(Float64Array.of(0, 5, 5, 5), 1, { trees: 1, sampleSize: 4 });
    const saved = saveForest(f);
    const withRight = (r: number[]) => ({ ...saved, nodes: { ...saved.nodes, right: b64(Int32Array.from(r)) } });
    expect(Array.from(f.right)).toEqual([2, 0, 0]);
    expect(loadForest(withRight([2, 0, 0])).right).toEqual(f.right);
    expect(() => loadForest(withRight([1, 0, 0]))).toThrow('node 0 has no valid right child');
    expect(() => loadForest(withRight([3, 0, 0]))).toThrow('node 0 has no valid right child');
    expect(() => loadForest(withRight([2, 0]))).toThrow('node arrays differ in length');
    expect(() => loadForest({ ...saved, nodes: { ...saved.nodes, size: b64(Int32Array.of(4, 1)) } })).toThrow(
      'node arrays differ in length',
    );
    expect(() => loadForest({ ...saved, nodes: { ...saved.nodes, split: b64(Float64Array.of(0, 0)) } })).toThrow(
      'node arrays differ in length',
    );
    expect(() => loadForest({ ...saved, nodes: { ...saved.nodes, offsets: b64(Int32Array.of(0, 2)) } })).toThrow(
      'offsets do not match the trees',
    );
    // A saved model's arrays are its own copies: changing the text later changes nothing loaded.
    const loaded = loadForest(saved);
    expect(loaded.feature.buffer).not.toBe(f.feature.buffer);
    expect(loaded).toEqual(f);
  });

  it('the complete-tree walk scores as the sparse walk also for rows inside the training range and exactly on its cuts', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 99 }),
        fc.integer({ min: 2, max: 300 }),
        fc.array(fc.tuple(fc.boolean(), fc.double({ min: -0.1, max: 1.1, noNaN: true }), fc.nat()), {
          minLength: 3 * 8,
          maxLength: 3 * 37,
        }),
        (seed, psi, picks) => {
          const f = fit(rows(400, 3, seed), 3, { seed, trees: 7, sampleSize: psi });
          const values = picks.map(([onCut, v, k]) => (onCut ? f.split[k % f.split.length]! : v));
          const test = Float64Array.from(values.slice(0, values.length - (values.length % 3)));
          expect(scoreAll(f, test)).toEqual(scoreAll({ ...f, complete: undefined }, test));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('a value equal to a cut goes right (x < split is false), in scores and contributions alike', () => {
    // Two rows, one tree: the root's cut lies between 0 and 1.
    const f = fit(Float64Array.of(0, 1), 1, { trees: 1, sampleSize: 2, seed: 4 });
    const cut = f.split[0]!;
    expect(cut > 0 && cut < 1).toBe(true);
    expect(Array.from(f.feature)).toEqual([0, -1, -1]);
    // Wider trees, where going right at the cut ends in another leaf than going left would.
    const data = Float64Array.from({ length: 64 }, (_, i) => i);
    const g = fit(data, 1, { trees: 1, sampleSize: 64, seed: 2 });
    const root = g.split[0]!;
    const right = scoreAll({ ...g, complete: undefined }, Float64Array.of(root))[0];
    expect(score(g, [root])).toBe(right);
    expect(score(g, [root])).toBe(score(g, [root + 1e-9]));
    expect(score(g, [root])).not.toBe(score(g, [root - 1e-9]));
    const two = fit(
      Float64Array.from({ length: 128 }, (_, i) => (i % 2 === 0 ? i / 2 : (i * 7) % 13)),
      2,
      { trees: 1, sampleSize: 64, seed: 2 },
    );
    const f0 = two.feature[0]!;
    const atCut = [0, 0];
    atCut[f0] = two.split[0]!;
    const past = [...atCut];
    past[f0] = two.split[0]! + 1e-9;
    expect(Array.from(contributions(two, atCut))).toEqual(Array.from(contributions(two, past)));
  });

  it('training sends a row equal to a cut right too, as scoring does: cuts between adjacent doubles land on one of them', () => {
    // lo + r(hi − lo) rounds to lo or hi when the two are one ulp apart, so the cut is a row's
    // value in every tree, and which side that row takes is the boundary itself.
    const lo = 1;
    const hi = 1 + Number.EPSILON;
    const f = fit(Float64Array.of(lo, hi), 1, { trees: 20, sampleSize: 2, seed: 1 });
    const cuts = new Set<number>();
    for (let t = 0; t < 20; t++) {
      const root = f.offsets[t]!;
      const cut = f.split[root]!;
      cuts.add(cut);
      // Only a row strictly below the cut goes left: the left child is built right after the root.
      expect([f.size[root + 1], f.size[f.right[root]!]]).toEqual(cut === lo ? [0, 2] : [1, 1]);
    }
    expect([...cuts].sort((a, b) => a - b)).toEqual([lo, hi]);
  });

  it('grows the same trees as ever for a seed: ψ distinct rows per tree, cuts across every row, a constant feature skipped', () => {
    // Pinned: a change to how trees are grown (the PRNG's draws, the subsample, the cut ranges) shows here.
    const data = Float64Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? (i * 37) % 11 : 5));
    // Feature 1 is 5 in every row; rows repeat, so some nodes cannot be split at all.
    const f = fit(data, 2, { trees: 2, sampleSize: 8, seed: 5 });
    expect(Array.from(f.offsets)).toEqual(GOLDEN.offsets);
    expect(Array.from(f.feature)).toEqual(GOLDEN.feature);
    expect(Array.from(f.size)).toEqual(GOLDEN.size);
    expect(Array.from(f.split)).toEqual(GOLDEN.split);
    expect(Array.from(scoreAll(f, Float64Array.of(0, 5, 3, 5, 10, 5, 4.5, 5)))).toEqual(GOLDEN.scores);
    // Fifty identical rows: nodes above the height limit that no feature can split, where every
    // feature is drawn and dropped before the node becomes a leaf.
    const dup = Float64Array.from({ length: 60 }, (_, i) => (i < 50 ? 1 : i));
    const d = fit(dup, 2, { trees: 3, sampleSize: 16, seed: 9 });
    expect(Array.from(d.size)).toEqual([16, 14, 2, 0, 2, 2, 1, 1, 0, 16, 14, 2, 2, 1, 1, 0, 16, 14, 2, 0, 2, 1, 1]);
    expect(Array.from(scoreAll(d, Float64Array.of(1, 1, 55, 56, 30, 1)))).toEqual([
      0.44882824880762007, 0.6155441819087729, 0.6006982173078,
    ]);
  });

  it('the exact harmonic number up to 1000, the asymptotic one past it; c(n) from the exact sums in its table', () => {
    let exact = 0;
    for (let k = 1; k <= 1000; k++) exact += 1 / k;
    expect(harmonic(1000)).toBe(exact);
    const asymptotic = (i: number) => Math.log(i) + 0.5772156649015329 + 1 / (2 * i) - 1 / (12 * i * i);
    expect(harmonic(1001)).toBe(asymptotic(1001));
    expect(harmonic(5000)).toBe(asymptotic(5000));
    let h = 0;
    for (let k = 1; k < 4096; k++) h += 1 / k;
    expect(c(4096)).toBe(2 * h - (2 * 4095) / 4096);
    expect(c(-1)).toBe(0);
  });

  it('says what fit refuses and what a damaged model holds, for each array', () => {
    expect(() => fit(Float64Array.of(1, 2), 2)).toThrow('fit needs at least 2 rows of 2 values');
    expect(() => fit(Float64Array.of(1, 2, 3), 2)).toThrow('fit needs at least 2 rows of 2 values');
    expect(() => fit(Float64Array.of(1, 2, 3, 4, 5), 2)).toThrow('fit needs at least 2 rows of 2 values');
    const f = fit(Float64Array.of(0, 5, 5, 5), 1, { trees: 1, sampleSize: 4 });
    const saved = saveForest(f);
    const odd = Buffer.alloc(3).toString('base64');
    for (const [what, bytes] of [
      ['offsets', 4],
      ['feature', 2],
      ['split', 8],
      ['right', 4],
      ['size', 4],
    ] as const) {
      expect(() => loadForest({ ...saved, nodes: { ...saved.nodes, [what]: odd } })).toThrow(
        `nodes.${what} has 3 bytes, not a multiple of ${bytes}`,
      );
    }
    // The split on feature 1 of a one-feature model: the first feature past the last.
    expect(() => loadForest({ ...saved, nodes: { ...saved.nodes, feature: b64(Int16Array.of(1, -1, -1)) } })).toThrow(
      'node 0 splits on feature 1 of 1',
    );
    // Offsets one longer than the trees, though the last one named is the node count.
    expect(() => loadForest({ ...saved, nodes: { ...saved.nodes, offsets: b64(Int32Array.of(0, 3, 3)) } })).toThrow(
      'offsets do not match the trees',
    );
    expect(() => loadForest({ ...saved, seed: -1 })).toThrow(expect.objectContaining({ code: 'MODEL_FORMAT' }));
  });
});

/** The forest of the pinned-growth test, as this build grows it. */
const GOLDEN = {
  offsets: [0, 11, 22],
  feature: [0, 0, 0, -1, -1, 0, -1, -1, 0, -1, -1, 0, 0, 0, -1, -1, -1, 0, 0, -1, -1, -1],
  size: [8, 6, 4, 0, 4, 2, 1, 1, 2, 1, 1, 8, 2, 2, 1, 1, 0, 6, 6, 4, 2, 0],
  split: [
    5.631477381102741, 3.77646193606779, 0.24214737466536462, 0, 0, 4.152814803412184, 0, 0, 8.359034256078303, 0, 0,
    3.803105168044567, 2.3994471793994308, 1.868805239442736, 0, 0, 0, 9.962235156446695, 8.54991556936875, 0, 0, 0,
  ],
  scores: [0.5459418229083259, 0.4853286580388739, 0.6679812062197815, 0.4387599694081749],
};
