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
