import { describe, expect, it } from 'vitest';
import { emptyState, step, defaultDetectorOptions, type SeriesState } from './core/detector.js';
import { packAux, unpackAux } from './store.js';

describe('the detector memory in the series row', () => {
  it('packs and unpacks long-run stats, the budget, raw scores and seasonal slots', () => {
    let s: SeriesState = emptyState;
    for (let t = 0; t < 400; t++) s = step(s, t * 300_000, 50 + Math.sin(t), defaultDetectorOptions, 'x').state;
    const back = unpackAux(packAux(s));
    expect(back.long).toEqual(s.long);
    expect(back.budget).toEqual(s.budget);
    expect(back.raw).toEqual(s.raw);
    expect(back.slots).toEqual(s.slots);
    expect(unpackAux(Buffer.alloc(0))).toEqual({});
  });
});
