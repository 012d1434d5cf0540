import { retry, handleAll } from 'cockatiel';
import { describe, expect, it } from 'vitest';
import { backoffDelay, delayOf, exponentialBackoff } from './backoff.js';
import { retryDelay } from './consume.js';

describe('one backoff schedule (cockatiel, no jitter)', () => {
  it('starts at initialMs, doubles, and stops at maxMs', () => {
    const o = { initialMs: 1000, maxMs: 60_000 };
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffDelay(o, n))).toEqual([
      1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000,
    ]);
    // Before the first delay, the first delay.
    expect(backoffDelay(o, 0)).toBe(1000);
  });

  it("the consumers' redelivery delay: a nak after delivery n waits the nth delay", () => {
    expect([1, 2, 3].map((d) => retryDelay(d))).toEqual([1000, 2000, 4000]);
    expect(retryDelay(30)).toBe(60_000);
    expect(retryDelay(3, { initialMs: 250, maxMs: 600 })).toBe(600);
  });

  it('delayOf reads the delays a cockatiel retry policy with that backoff waits', async () => {
    const backoff = exponentialBackoff({ initialMs: 1, maxMs: 4 });
    const waited: number[] = [];
    const policy = retry(handleAll, { maxAttempts: 4, backoff });
    policy.onRetry((r) => waited.push(r.delay));
    await policy.execute(() => Promise.reject(new Error('again'))).catch(() => undefined);
    expect(waited).toEqual([1, 2, 3, 4].map((n) => delayOf(backoff, n)));
    expect(waited).toEqual([1, 2, 4, 4]);
  });
});
