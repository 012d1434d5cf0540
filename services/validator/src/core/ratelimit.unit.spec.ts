import { describe, expect, it } from 'vitest';
import { createBuckets, take } from './ratelimit.js';

describe('requests per requester', () => {
  const limit = { perMinute: 6, burst: 3 };

  it('allows a burst, then one request per 10 s (6 a minute), per requester', () => {
    const b = createBuckets();
    const at = (s: number) => s * 1000;
    expect([0, 0, 0, 0].map(() => take(b, limit, 'flood', at(0)))).toEqual([true, true, true, false]);
    // Another requester has a bucket of its own.
    expect(take(b, limit, 'other', at(0))).toBe(true);
    expect(take(b, limit, 'flood', at(9))).toBe(false);
    expect(take(b, limit, 'flood', at(11))).toBe(true); // a refusal costs nothing
    expect(take(b, limit, 'flood', at(12))).toBe(false);
    expect(take(b, limit, 'flood', at(22))).toBe(true);
    // Idle long enough, the bucket is full again, never fuller.
    expect([0, 0, 0, 0].map(() => take(b, limit, 'flood', at(3600)))).toEqual([true, true, true, false]);
  });
});

describe('how many requesters are remembered', () => {
  const limit = { perMinute: 6, burst: 1 };
  const fill = (b: ReturnType<typeof createBuckets>, n: number) => {
    for (let i = 1; i < n; i++) expect(take(b, limit, `r${i}`, 0)).toBe(true);
  };

  it('10,000: the first requester is still held to its empty bucket', () => {
    const b = createBuckets();
    expect(take(b, limit, 'r0', 0)).toBe(true);
    fill(b, 10_000);
    expect(b.tokens.size).toBe(10_000);
    expect(take(b, limit, 'r0', 0)).toBe(false);
  });

  it('one more, and the one idle longest is forgotten: full again', () => {
    const b = createBuckets();
    expect(take(b, limit, 'r0', 0)).toBe(true);
    fill(b, 10_001);
    expect(b.tokens.size).toBe(10_000);
    expect(b.tokens.has('r0')).toBe(false);
    expect(take(b, limit, 'r0', 0)).toBe(true);
  });
});
