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
  publishHeaders,
  retryDelayMs,
  retryHorizonMs,
  seqRanges,
} from './core.js';
import { PublishRejectedError, PublishUnansweredError } from './batch-publisher.js';
import { JetStreamApiError } from '@nats-io/jetstream';
import {
  headers as natsHeaders,
  InvalidArgumentError,
  InvalidSubjectError,
  MsgHdrsImpl,
  TimeoutError,
  type MsgHdrs,
} from '@nats-io/nats-core';

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

describe('publish headers', () => {
  const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  const decoder = new TextDecoder();
  // What a publish sends: nats.js calls encode() on the headers it is given.
  const wire = (h: MsgHdrs) => {
    expect(h).toBeInstanceOf(MsgHdrsImpl);
    return decoder.decode((h as MsgHdrsImpl).encode());
  };

  it('the bytes nats.js headers().set makes of the same headers: stored first, the span’s and the relay’s after, a stored name replaced', () => {
    const stored = { 'content-type': 'application/cloudevents+json', traceparent: 'stale', 'x-padded': '  v  ' };
    const extra = { traceparent, 'Nats-Msg-Id': 'e-1', 'Nats-Expected-Stream': 'VIGIL' };
    const h = natsHeaders();
    for (const [k, v] of Object.entries({ ...stored, ...extra })) h.set(k, v);
    const made = publishHeaders(stored, extra);
    expect(made.get('traceparent')).toBe(traceparent);
    expect(made.get('x-padded')).toBe('v');
    expect(made.values('traceparent')).toEqual([traceparent]);
    expect(wire(made)).toBe(wire(h));
    expect(wire(publishHeaders({}, { 'Nats-Msg-Id': 'e-2' }))).toBe('NATS/1.0\r\nNats-Msg-Id: e-2\r\n\r\n');
  });

  it('names kept as written: another case is another header, as with set', () => {
    const made = publishHeaders({ Traceparent: 'stored' }, { traceparent });
    expect(made.keys()).toEqual(['Traceparent', 'traceparent']);
  });

  it('refuses, naming the header, what nats.js would refuse: a permanent error of that row', () => {
    const refused = (stored: Record<string, unknown>) => {
      try {
        publishHeaders(stored, {});
      } catch (e) {
        expect(isPermanentPublishError(e)).toBe(true);
        return (e as Error).message;
      }
      return 'accepted';
    };
    expect(refused({ 'x-a': 'one\r\nInjected: two' })).toBe("'header' stored header x-a holds a line break");
    expect(refused({ 'x-b': 'one\ntwo' })).toBe("'header' stored header x-b holds a line break");
    expect(refused({ 'x-c': 'one\rtwo' })).toBe("'header' stored header x-c holds a line break");
    expect(refused({ 'x:d': 'v' })).toBe("'header' stored header name \"x:d\" is not printable ASCII without ':'");
    expect(refused({ 'x e': 'v' })).toBe("'header' stored header name \"x e\" is not printable ASCII without ':'");
    expect(refused({ 'x-é': 'v' })).toBe("'header' stored header name \"x-é\" is not printable ASCII without ':'");
    expect(refused({ '': 'v' })).toBe("'header' stored header name \"\" is not printable ASCII without ':'");
    expect(refused({ 'x-n': 7 })).toBe("'header' stored header x-n is not text");
    // The edges of the printable range: '!' (33), '9' (57), ';' (59) and '~' (126).
    expect(refused({ '!9;~': 'v' })).toBe('accepted');
    expect(refused({ 'x\u007f': 'v' })).toMatch(/is not printable/);
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

describe('published ranges', () => {
  it('a batch in commit order from one writer is one range', () => {
    expect(seqRanges(['7', '8', '9', '10'])).toEqual({ lo: ['7'], hi: ['10'] });
    expect(seqRanges(['42'])).toEqual({ lo: ['42'], hi: ['42'] });
    expect(seqRanges([])).toEqual({ lo: [], hi: [] });
  });

  it('a gap starts a new range: a seq not in the batch is never in a range', () => {
    expect(seqRanges(['1', '2', '4', '5', '7'])).toEqual({ lo: ['1', '4', '7'], hi: ['2', '5', '7'] });
  });

  it('transactions committed out of seq order are sorted by value, not text, and repeats fold', () => {
    // Two writers: the one with the later seqs committed first.
    expect(seqRanges(['10', '11', '9', '2', '3', '3', '1'])).toEqual({ lo: ['1', '9'], hi: ['3', '11'] });
    expect(seqRanges(['5', '5', '6'])).toEqual({ lo: ['5'], hi: ['6'] });
  });

  it('seqs past 2^53 keep every digit', () => {
    const big = 2n ** 62n;
    expect(seqRanges([String(big + 1n), String(big), String(big + 3n)])).toEqual({
      lo: [String(big), String(big + 3n)],
      hi: [String(big + 1n), String(big + 3n)],
    });
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

describe('boundaries (mutation testing found these unpinned)', () => {
  it('the duplicate window must reach the horizon plus the margin; the refusal says how long each is', () => {
    const s = { attempts: 2, initialDelayMs: 100, maxDelayMs: 3000, publishTimeoutMs: 1000 };
    // 2 × 1000 ms + 100 ms of backoff + 10 s of margin.
    expect(checkDuplicateWindow(12_100, s, 'EVENTS')).toBeNull();
    expect(checkDuplicateWindow(12_099, s, 'EVENTS')).toBe(
      "stream EVENTS has a duplicate window of 12.1 s, shorter than the relay's retry horizon of 12.1 s " +
        '(2 attempts × 1000 ms ack timeout + backoff + 10 s margin): a retried publish could be stored twice. ' +
        "Raise the stream's duplicate_window or shorten the retry schedule.",
    );
  });

  it('a row is checked in the stream once its first attempt is past what the window still covers, not at it', () => {
    const now = new Date('2026-11-22T10:00:00Z');
    const window = 15 * 60_000;
    const covered = window - defaultRetrySchedule.publishTimeoutMs - 10_000;
    const tried = (agoMs: number) => ({ firstAttemptAt: new Date(now.getTime() - agoMs) });
    expect(needsStreamCheck(tried(covered), now, window, defaultRetrySchedule)).toBe(false);
    expect(needsStreamCheck(tried(covered + 1), now, window, defaultRetrySchedule)).toBe(true);
  });

  it('every mode decision in full', () => {
    const logical = { walLevel: 'logical', canReplicate: true };
    const replica = { walLevel: 'replica', canReplicate: true };
    expect(chooseMode('logical', logical)).toEqual({ mode: 'logical' });
    expect(chooseMode('auto', logical)).toEqual({ mode: 'logical' });
    expect(chooseMode('xmin', logical)).toEqual({ mode: 'xmin' });
    expect(chooseMode('xmin', replica)).toEqual({ mode: 'xmin' });
    expect(chooseMode('logical', replica)).toEqual({
      mode: 'logical',
      error:
        'RELAY_MODE=logical, but wal_level is replica: ALTER SYSTEM SET wal_level = logical and restart PostgreSQL ' +
        '(the role needs REPLICATION or superuser)',
    });
  });

  it('a WAL position is the whole text, in upper-case hex; a negative one is refused', () => {
    expect(() => lsnToBigInt('x16/B374D848')).toThrow('not a WAL position: "x16/B374D848"');
    expect(() => lsnToBigInt('16/B374D848x')).toThrow('not a WAL position: "16/B374D848x"');
    expect(lsnFromBigInt((0xabn << 32n) | 0xcdn)).toBe('AB/CD');
    expect(() => lsnFromBigInt(-1n)).toThrow('a WAL position is not negative');
  });

  it('of two equal positions the first is kept', () => {
    expect(laterLsn('0/a', '0/A')).toBe('0/a');
  });

  it('a slot name of exactly 63 characters is kept as it is', () => {
    const db = 'd'.repeat(63 - 'vigil_relay_'.length);
    expect(slotNameFor(db)).toBe(`vigil_relay_${db}`);
  });
});
