import { describe, expect, it } from 'vitest';
import {
  acknowledgeArgument,
  checkDuplicateWindow,
  chooseMode,
  laterLsn,
  lsnFromBigInt,
  lsnToBigInt,
  slotNameFor,
  defaultRetrySchedule,
  isPermanentPublishError,
  needsStreamCheck,
  retryDelayMs,
  retryHorizonMs,
} from './core.js';
import { PublishRejectedError, PublishUnansweredError } from './batch-publisher.js';
import { JetStreamApiError } from '@nats-io/jetstream';
import { InvalidArgumentError, InvalidSubjectError, TimeoutError } from '@nats-io/nats-core';

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
  // As nats.js throws it, and as the relay's own publisher reads it from the PubAck.
  const api = (err_code: number) => new JetStreamApiError({ code: 400, err_code, description: 'refused' });
  const rejected = (err_code: number) => new PublishRejectedError(400, err_code, 'refused');
  it('over-size payloads are permanent; outages and stream problems are not', () => {
    expect(isPermanentPublishError(new InvalidArgumentError("'payload' max_payload size exceeded"))).toBe(true);
    expect(isPermanentPublishError(new InvalidSubjectError('bad.subject.'))).toBe(true);
    expect(isPermanentPublishError(new PublishUnansweredError('no responders'))).toBe(false);
    expect(isPermanentPublishError(api(10054))).toBe(true);
    expect(isPermanentPublishError(api(10060))).toBe(false);
    expect(isPermanentPublishError(rejected(10054))).toBe(true);
    expect(isPermanentPublishError(rejected(10060))).toBe(false);
    // The shape alone is not the error: a look-alike is retried like any unknown failure.
    expect(isPermanentPublishError({ name: 'JetStreamApiError', apiError: () => ({ err_code: 10054 }) })).toBe(false);
    expect(isPermanentPublishError(new TimeoutError())).toBe(false);
    expect(isPermanentPublishError(new Error('CONNECTION_CLOSED'))).toBe(false);
    expect(isPermanentPublishError(undefined)).toBe(false);
  });
});

describe('relay mode', () => {
  it('auto takes logical decoding where the server has wal_level = logical and the role may replicate', () => {
    expect(chooseMode('auto', { walLevel: 'logical', canReplicate: true })).toEqual({ mode: 'logical' });
  });

  it('auto falls back to xmin with a warning that names the cause and the remedy', () => {
    const replica = chooseMode('auto', { walLevel: 'replica', canReplicate: true });
    expect(replica.mode).toBe('xmin');
    expect(replica.error).toBeUndefined();
    expect(replica.warning).toMatch(/^wal_level is replica: the relay falls back to xmin mode/);
    expect(replica.warning).toMatch(/ALTER SYSTEM SET wal_level = logical and restart PostgreSQL/);
    const role = chooseMode('auto', { walLevel: 'logical', canReplicate: false });
    expect(role).toMatchObject({
      mode: 'xmin',
      warning: expect.stringMatching(/^the database role has neither REPLICATION nor superuser/),
    });
  });

  it('a configured mode is kept: xmin as it is, logical refused where the server cannot decode', () => {
    expect(chooseMode('xmin', { walLevel: 'logical', canReplicate: true })).toEqual({ mode: 'xmin' });
    expect(chooseMode('logical', { walLevel: 'minimal', canReplicate: true }).error).toMatch(
      /^RELAY_MODE=logical, but wal_level is minimal: ALTER SYSTEM SET wal_level = logical/,
    );
  });
});

describe('WAL positions', () => {
  it('parse and print as PostgreSQL does, across the 32-bit boundary', () => {
    expect(lsnToBigInt('0/0')).toBe(0n);
    expect(lsnToBigInt('16/B374D848')).toBe((0x16n << 32n) | 0xb374d848n);
    expect(lsnFromBigInt(lsnToBigInt('1/0') - 1n)).toBe('0/FFFFFFFF');
    expect(() => lsnToBigInt('16-B374D848')).toThrow(/not a WAL position: "16-B374D848"/);
  });

  it('hand pg-logical-replication one byte less, since it reports its argument + 1 as flushed', () => {
    expect(acknowledgeArgument('1/0')).toBe('0/FFFFFFFF');
    expect(acknowledgeArgument('0/1A2B')).toBe('0/1A2A');
    expect(acknowledgeArgument('0/0')).toBe('0/0');
  });

  it('compare by value, not text', () => {
    expect(laterLsn('0/FFFFFFFF', '1/0')).toBe('1/0');
    expect(laterLsn('A/0', '9/FFFFFFFF')).toBe('A/0');
  });
});

describe('slot name', () => {
  it('one per database, in the characters slot names allow, at most 63 long and still distinct', () => {
    expect(slotNameFor('vigil')).toBe('vigil_relay_vigil');
    expect(slotNameFor('My-App.db')).toBe('vigil_relay_my_app_db');
    const a = slotNameFor('x'.repeat(60) + 'a');
    const b = slotNameFor('x'.repeat(60) + 'b');
    expect(a).toMatch(/^[a-z0-9_]{63}$/);
    expect(a).not.toBe(b);
  });
});
