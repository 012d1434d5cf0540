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
});
