import { describe, expect, it } from 'vitest';
import {
  checkDuplicateWindow,
  defaultRetrySchedule,
  isPermanentPublishError,
  needsStreamCheck,
  retryDelayMs,
  retryHorizonMs,
} from './core.js';

describe('relay retry horizon', () => {
  it('given the default schedule, the delays double up to the cap and the horizon sums timeouts and delays', () => {
    expect([2, 3, 4, 5].map((a) => retryDelayMs(defaultRetrySchedule, a))).toEqual([100, 200, 400, 800]);
    expect(retryHorizonMs(defaultRetrySchedule)).toBe(5 * 5000 + 100 + 200 + 400 + 800);
    expect(retryDelayMs({ ...defaultRetrySchedule, maxDelayMs: 250 }, 5)).toBe(250);
  });

  it('accepts the default 15-minute window and refuses JetStream’s 2-minute default for a long schedule, saying why', () => {
    expect(checkDuplicateWindow(15 * 60_000, defaultRetrySchedule, 'EVENTS')).toBeNull();
    const long = { ...defaultRetrySchedule, attempts: 20, publishTimeoutMs: 10_000 };
    const why = checkDuplicateWindow(120_000, long, 'EVENTS');
    expect(why).toMatch(
      /stream EVENTS has a duplicate window of 120\.0 s, shorter than the relay's retry horizon of \d+\.\d s/,
    );
    expect(why).toMatch(/20 attempts × 10000 ms ack timeout/);
  });

  it('asks for a stream check only for rows first tried longer ago than the window still remembers', () => {
    const now = new Date('2026-11-22T10:00:00Z');
    const window = 15 * 60_000;
    expect(needsStreamCheck({ firstAttemptAt: null }, now, window, defaultRetrySchedule)).toBe(false);
    expect(
      needsStreamCheck({ firstAttemptAt: new Date(now.getTime() - 60_000) }, now, window, defaultRetrySchedule),
    ).toBe(false);
    expect(
      needsStreamCheck({ firstAttemptAt: new Date(now.getTime() - 14.9 * 60_000) }, now, window, defaultRetrySchedule),
    ).toBe(true);
  });
});

describe('publish failures', () => {
  const api = (err_code: number) => ({ name: 'JetStreamApiError', apiError: () => ({ err_code }) });
  it('over-size payloads are permanent; outages and stream problems are not', () => {
    expect(
      isPermanentPublishError({ name: 'InvalidArgumentError', message: "'payload' max_payload size exceeded" }),
    ).toBe(true);
    expect(isPermanentPublishError({ name: 'InvalidSubjectError' })).toBe(true);
    expect(isPermanentPublishError({ name: 'PublishUnansweredError' })).toBe(false);
    expect(isPermanentPublishError(api(10054))).toBe(true);
    expect(isPermanentPublishError(api(10060))).toBe(false);
    expect(isPermanentPublishError({ name: 'TimeoutError' })).toBe(false);
    expect(isPermanentPublishError(new Error('CONNECTION_CLOSED'))).toBe(false);
    expect(isPermanentPublishError(undefined)).toBe(false);
  });
});
