import { describe, expect, it } from 'vitest';
import { normalised, profiles, rawScore, sigma, windowsOf } from './windowed-score.js';

describe('windowed early-detection scoring', () => {
  const w = windowsOf({ length: 1000, onsets: [500] }); // one window of 100 points: 450-549
  const std = profiles.standard;

  it('windows: 10 % of the length shared among the onsets, centred; probation 15 %', () => {
    expect(w).toEqual({ windows: [[450, 549]], probation: 150 });
    expect(windowsOf({ length: 1000, onsets: [300, 700] }).windows).toEqual([
      [275, 324],
      [675, 724],
    ]);
  });

  it('early detection earns nearly 1, late little; later ones in the window count for nothing', () => {
    expect(rawScore([450], w, std).score).toBeCloseTo(sigma(-1), 9);
    expect(sigma(-1)).toBeCloseTo(0.9866, 4);
    expect(rawScore([549], w, std).score).toBeCloseTo(sigma(-1 / 100), 9);
    expect(rawScore([450, 460, 470], w, std)).toMatchObject({ tp: 1, fp: 0 });
  });

  it('false positives cost A_FP, less just after a window; a miss costs A_FN; probation is free', () => {
    expect(rawScore([300], w, std)).toMatchObject({ score: -0.11 - 1, fp: 1, fn: 1 });
    const after = rawScore([550], w, std).score + 1;
    expect(after).toBeGreaterThan(-0.11);
    expect(after).toBeLessThan(0);
    expect(rawScore([10], w, std).score).toBe(-1);
    expect(rawScore([], w, profiles['low-fn']).score).toBe(-2);
  });

  it('normalised: never detecting is 0, detecting each window at its start is 100', () => {
    expect(normalised(-1, 1, std)).toBe(0);
    expect(normalised(rawScore([450], w, std).score, 1, std)).toBeCloseTo(100, 9);
  });
});
