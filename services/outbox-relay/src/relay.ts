import { context as otelContext, SpanKind, trace } from '@opentelemetry/api';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/nats-core';
import { BatchPublisher } from './batch-publisher.js';
import type { JetStreamManager } from '@nats-io/jetstream';
import {
  BrokenCircuitError,
  circuitBreaker,
  ConsecutiveBreaker,
  ExponentialBackoff,
  handleAll,
  handleWhen,
  noJitterGenerator,
  retry,
  wrap,
} from 'cockatiel';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import type { Logger } from '@vigil/events';
import { extractTraceContext, messagingAttributes, readMessages, traceContextOf, type Namespace } from '@vigil/events';
import { OUTBOX_CHANNEL, pruneInbox, type OutboxDatabase } from '@vigil/outbox';
import {
  checkDuplicateWindow,
  defaultRetrySchedule,
  isPermanentPublishError,
  needsStreamCheck,
  retryDelayMs,
  type RetrySchedule,
} from './core.js';
import type { RelayMetrics } from './metrics.js';

export interface RelayOptions {
  /** Rows read and published per round. @default 1000 */
  readonly batchSize?: number;
  /** Fallback poll when no NOTIFY arrives (a missed notification). @default 1000 ms */
  readonly pollIntervalMs?: number;
  /**
   * Poll while committed rows wait behind a transaction that began before theirs and is still
   * open (any service's), which ends without a NOTIFY when it wrote no outbox row. Waiting for
   * the next NOTIFY instead delayed events by the gap between two of them. Doubles while the
   * wait lasts, up to 100 ms (or `pollIntervalMs` if shorter): transaction ids are shared by
   * every database of the server, so another database's long transaction holds rows back too.
   * @default 5 ms
   */
  readonly blockedPollMs?: number;
  /** Retry schedule of a batch before the circuit breaker opens. */
  readonly retry?: Partial<RetrySchedule>;
  /** While the breaker is open, one probe batch every this long. @default 2000 ms */
  readonly breakerProbeMs?: number;
  /** Published rows older than this are deleted. @default 24 h */
  readonly retentionMs?: number;
  /** Inbox rows older than this are deleted (longer than the stream keeps events). @default 8 days */
  readonly inboxRetentionMs?: number;
  /** @default 60 000 ms */
  readonly janitorIntervalMs?: number;
  /** How often a standby tries to take the leader lock. @default 1000 ms */
  readonly standbyRetryMs?: number;
  /** Advisory lock key of the leader. @default 0x76696769 ('vigi') */
  readonly lockKey?: number;
}

export interface RelayDeps {
  /** The inbox prefix of that connection (`_INBOX_<user>` with NATS auth). @default _INBOX */
  readonly inboxPrefix?: string | undefined;
  /** The connection the relay publishes on (its acks come back on an inbox of it). */
  readonly nc: NatsConnection;
  /**
   * Its connections should carry {@link relayConnectionSettings}: without them a table whose
   * statistics are fresh or stale gets a scan and sort of every row instead of reading the
   * (txid, seq) index in order (measured: 30-40 ms instead of 0.5 ms per batch of 1000).
   */
  readonly db: Kysely<OutboxDatabase>;
  /** For the two dedicated connections: the leader lock and LISTEN. */
  readonly databaseUrl: string;
  readonly jsm: JetStreamManager;
  readonly ns: Namespace;
  readonly logger: Logger;
  readonly metrics: RelayMetrics;
  /** @default () => new Date() */
  readonly clock?: () => Date;
}

/**
 * Postgres settings for the relay's pool (see {@link RelayDeps.db}). `synchronous_commit=off`:
 * the relay's own writes (marks, the low-water mark) need not wait for the WAL flush, since a
 * mark lost in a crash only means a republish that JetStream drops as a duplicate. It halves
 * the cost of a mark on a machine where NATS and Postgres share the disk.
 */
export const relayConnectionSettings = {
  enable_bitmapscan: 'off',
  enable_sort: 'off',
  synchronous_commit: 'off',
} as const;

export interface Relay {
  /** Checks the duplicate window (throws, saying why, when it is too short), then runs. */
  start(): Promise<void>;
  stop(): Promise<void>;
  isLeader(): boolean;
  /** Readiness: Postgres answers; NATS connected. */
  ready(): Promise<Record<string, boolean | string>>;
}

interface Cursor {
  txid: string;
  seq: string;
}

interface Row {
  seq: string;
  txid: string;
  event_id: string;
  subject: string;
  headers: Record<string, string>;
  payload: Buffer;
  first_attempt_at: Date | null;
  last_attempt_at: Date | null;
}

class TransientBatchError extends Error {
  constructor(
    readonly rows: Row[],
    cause: unknown,
  ) {
    super(`${rows.length} rows not acknowledged: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** Sleeps until `ms` pass, `wake()` is called, or `signal` aborts. */
function waiter() {
  let wakeUp: (() => void) | undefined;
  let pending = false;
  return {
    wake() {
      pending = true;
      wakeUp?.();
    },
    async wait(ms: number, signal: AbortSignal): Promise<void> {
      if (pending || signal.aborted) {
        pending = false;
        return;
      }
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          wakeUp = undefined;
          resolve();
        };
        const timer = setTimeout(done, ms);
        signal.addEventListener('abort', done, { once: true });
        wakeUp = done;
      });
      pending = false;
    },
  };
}

const tracer = () => trace.getTracer('@vigil/outbox-relay', '0.1.0');

export function createRelay(deps: RelayDeps, options: RelayOptions = {}): Relay {
  const { db, jsm, ns, metrics } = deps;
  const logger = deps.logger;
  const clock = deps.clock ?? (() => new Date());
  const schedule: RetrySchedule = { ...defaultRetrySchedule, ...options.retry };
  const batchSize = options.batchSize ?? 1000;
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
  const blockedPollMs = options.blockedPollMs ?? 5;
  const probeMs = options.breakerProbeMs ?? 2000;
  const retentionMs = options.retentionMs ?? 24 * 3_600_000;
  const inboxRetentionMs = options.inboxRetentionMs ?? 8 * 24 * 3_600_000;
  const janitorIntervalMs = options.janitorIntervalMs ?? 60_000;
  const standbyRetryMs = options.standbyRetryMs ?? 1000;
  const lockKey = options.lockKey ?? 0x76696769;
  const stopping = new AbortController();
  const publisher = new BatchPublisher(deps.nc, deps.inboxPrefix);
  const wake = waiter();
  let duplicateWindowMs = 0;
  let leader = false;
  let running: Promise<void> | undefined;

  const retryPolicy = retry(
    handleWhen((e) => e instanceof TransientBatchError),
    {
      maxAttempts: schedule.attempts - 1,
      backoff: new ExponentialBackoff({
        initialDelay: schedule.initialDelayMs,
        maxDelay: schedule.maxDelayMs,
        exponent: 2,
        generator: noJitterGenerator,
      }),
    },
  );
  retryPolicy.onRetry(() => metrics.retries.inc());
  const breaker = circuitBreaker(handleAll, { halfOpenAfter: probeMs, breaker: new ConsecutiveBreaker(1) });
  breaker.onBreak(() => logger.warn('JetStream unavailable: circuit open, rows stay pending, probing'));
  breaker.onReset(() => logger.info('JetStream available again: circuit closed'));
  const policy = wrap(breaker, retryPolicy);

  /**
   * The next committed rows after `after` in (txid, seq) order. Every transaction below the
   * snapshot's xmin has ended, so no row can later appear before one already read: reading goes
   * on from the last row read (a keyset on the (txid, seq) index), never from the table's start.
   */
  async function fetchBatch(after: Cursor): Promise<Row[]> {
    const r = await sql<Row>`
      select e.seq, e.event_id, e.txid::text as txid, e.subject, e.headers, e.payload, e.first_attempt_at, e.last_attempt_at
      from outbox.events e
      where (e.txid, e.seq) > (${after.txid}::xid8, ${after.seq}::bigint)
        and e.txid < pg_snapshot_xmin(pg_current_snapshot())
        and e.state = 'pending'
      order by e.txid, e.seq -- the columns, not the text alias: xid8 order, read from the index
      limit ${batchSize}`.execute(db);
    return r.rows;
  }

  /** Whether pending rows after `after` exist that `fetchBatch` cannot read yet (an older transaction is open). */
  async function blockedAfter(after: Cursor): Promise<boolean> {
    const r = await sql<{ blocked: boolean }>`
      select exists (
        select 1 from outbox.events e
        where (e.txid, e.seq) > (${after.txid}::xid8, ${after.seq}::bigint)
          and e.txid >= pg_snapshot_xmin(pg_current_snapshot())
          and e.state = 'pending'
      ) as blocked`.execute(db);
    return r.rows[0]?.blocked === true;
  }

  /** The persisted low-water mark: no row at or before it is pending. */
  async function readCursor(): Promise<Cursor> {
    const r =
      await sql<Cursor>`select txid::text as txid, seq::text as seq from outbox.relay_cursor where id = 1`.execute(db);
    return r.rows[0] ?? { txid: '0', seq: '0' };
  }

  // Rows are marked published behind the publishing: the next batch is read and sent while the
  // previous one's update runs. A crash before the mark only means a republish, which JetStream
  // drops as a duplicate within its window. A batch's mark also moves the low-water mark from
  // where the batch was read to its last row, compare-and-set: if an earlier mark failed, the
  // mark stays behind and the loop starts again from it.
  let marking: Promise<void> = Promise.resolve();
  let behind = false;
  function markLater(rows: Row[], advance?: { from: Cursor; to: Cursor }): void {
    if (rows.length === 0 && advance === undefined) return;
    marking = marking.then(async () => {
      try {
        const moved = await markPublished(rows, advance);
        if (advance !== undefined && !moved) behind = true;
      } catch (e) {
        behind = true;
        logger.warn(
          { err: e, rows: rows.length },
          'marking rows published failed; they will be sent again and deduplicated',
        );
      }
    });
  }

  /** Marks rows published and, with `advance`, moves the low-water mark; true when it moved. */
  async function markPublished(rows: Row[], advance?: { from: Cursor; to: Cursor }): Promise<boolean> {
    const seqs = rows.map((r) => r.seq);
    if (advance === undefined) {
      await sql`update outbox.events set state = 'published', published_at = now() where seq = any(${seqs}::bigint[])`.execute(
        db,
      );
      return false;
    }
    const r = await sql<{ moved: number }>`
      with marked as (
        update outbox.events set state = 'published', published_at = now() where seq = any(${seqs}::bigint[]) returning 1
      ), cursor as (
        insert into outbox.relay_cursor as c (id, txid, seq) values (1, ${advance.to.txid}::xid8, ${advance.to.seq}::bigint)
        on conflict (id) do update set txid = excluded.txid, seq = excluded.seq, updated_at = now()
          where c.txid = ${advance.from.txid}::xid8 and c.seq = ${advance.from.seq}::bigint
        returning 1
      )
      select (select count(*) from cursor)::int as moved, (select count(*) from marked)::int as n`.execute(db);
    // The first advance has no row to compare with; an insert from (0, 0) counts as moved.
    return (r.rows[0]?.moved ?? 0) > 0;
  }

  async function markAttempted(rows: Row[], startedAt: Date, error: string): Promise<void> {
    if (rows.length === 0) return;
    await sql`update outbox.events
              set attempts = attempts + 1, last_error = ${error},
                  first_attempt_at = coalesce(first_attempt_at, ${startedAt}), last_attempt_at = now()
              where seq = any(${rows.map((r) => r.seq)}::bigint[])`.execute(db);
  }

  async function markFailed(row: Row, error: string): Promise<void> {
    await db.transaction().execute(async (tx) => {
      await sql`update outbox.events set state = 'failed', attempts = attempts + 1, last_error = ${error},
                last_attempt_at = now() where seq = ${row.seq}::bigint`.execute(tx);
      await sql`insert into outbox.failures (seq, event_id, subject, error) values (${row.seq}::bigint, ${row.event_id}, ${row.subject}, ${error})
                on conflict (seq) do nothing`.execute(tx);
    });
  }

  /**
   * Whether a copy of the row is already in the stream: its subject is read, headers only,
   * over the time in which an earlier attempt could have been stored.
   */
  async function isInStream(row: Row): Promise<boolean> {
    const from = new Date((row.first_attempt_at ?? clock()).getTime() - 1000);
    const until = new Date((row.last_attempt_at ?? clock()).getTime() + schedule.publishTimeoutMs + 1000);
    for await (const m of readMessages(deps.nc, {
      ns,
      start: { since: from },
      until: { time: until },
      filter: { filter_subject: row.subject },
      headersOnly: true,
    })) {
      if (m.headers?.get('Nats-Msg-Id') === row.event_id) return true;
    }
    return false;
  }

  /**
   * A duplicate is normally this relay's own earlier publish (a mark lost in a crash, a retried
   * batch). But anyone who may publish on the subject can use an event id first, e.g. one they
   * guessed: JetStream then drops the real event. Comparing the stored message tells them apart,
   * and a dropped event is reported, not passed over in silence.
   */
  async function checkDuplicates(
    rows: Row[],
    settled: ({ status: 'fulfilled'; value: { seq: number; duplicate: boolean } } | { status: 'rejected' })[],
  ): Promise<void> {
    for (const [i, s] of settled.entries()) {
      const row = rows[i];
      if (row === undefined || s.status !== 'fulfilled' || !s.value.duplicate) continue;
      const stored = await jsm.streams.getMessage(ns.stream, { seq: s.value.seq }).catch(() => null);
      if (stored !== null && stored.subject === row.subject && Buffer.from(stored.data).equals(row.payload)) continue;
      metrics.preempted.inc();
      logger.error(
        { eventId: row.event_id, subject: row.subject, streamSeq: s.value.seq, storedSubject: stored?.subject },
        'event dropped by JetStream: the stream already holds a different message with this event id (another publisher used it first)',
      );
    }
  }

  /** One pipelined round: every row is sent, then every ack awaited; published rows go to `done`. */
  async function attempt(rows: Row[], done: Row[]): Promise<void> {
    const startedAt = clock();
    const spans = rows.map((row) => {
      const h = natsHeaders();
      for (const [k, v] of Object.entries(row.headers)) h.set(k, v);
      const span = tracer().startSpan(
        `publish ${row.subject}`,
        {
          kind: SpanKind.PRODUCER,
          attributes: {
            ...messagingAttributes({ operation: 'publish', subject: row.subject, bodySize: row.payload.length }),
            'messaging.message.id': row.event_id,
            'vigil.outbox.seq': row.seq,
          },
        },
        extractTraceContext(h, undefined),
      );
      // Consumers become children of this publish span, which continues the trace of the insert.
      for (const [k, v] of Object.entries(traceContextOf(trace.setSpan(otelContext.active(), span)))) h.set(k, v);
      h.set('Nats-Msg-Id', row.event_id);
      h.set('Nats-Expected-Stream', ns.stream);
      return { span, message: { subject: row.subject, data: row.payload, headers: h } };
    });
    const results = await publisher.publish(
      spans.map((x) => x.message),
      schedule.publishTimeoutMs,
    );
    const settled = results.map((r, i) => {
      const span = spans[i]?.span;
      if (r instanceof Error) {
        span?.recordException(r);
        span?.setStatus({ code: 2, message: r.message });
        span?.end();
        return { status: 'rejected' as const, reason: r };
      }
      span?.setAttribute('messaging.nats.stream_sequence', r.seq);
      span?.setAttribute('messaging.nats.duplicate', r.duplicate);
      span?.end();
      return { status: 'fulfilled' as const, value: r };
    });
    const transient: Row[] = [];
    let lastError: unknown;
    let duplicates = 0;
    let published = 0;
    for (const [i, s] of settled.entries()) {
      const row = rows[i] as Row;
      if (s.status === 'fulfilled') {
        done.push(row);
        published++;
        if (s.value.duplicate) duplicates++;
      } else if (isPermanentPublishError(s.reason)) {
        const message = s.reason instanceof Error ? s.reason.message : String(s.reason);
        await markFailed(row, message);
        metrics.failed.inc();
        logger.error(
          { eventId: row.event_id, seq: row.seq, subject: row.subject, err: s.reason },
          'row rejected by JetStream for good: marked failed',
        );
      } else {
        transient.push(row);
        lastError = s.reason;
      }
    }
    metrics.recordPublished(published, Date.now());
    metrics.duplicates.inc(duplicates);
    if (duplicates > 0) await checkDuplicates(rows, settled);
    if (transient.length > 0) {
      const message = lastError instanceof Error ? lastError.message : String(lastError);
      await markAttempted(transient, startedAt, message);
      throw new TransientBatchError(transient, lastError);
    }
  }

  /**
   * Publishes a batch with retries; every row ends published (in `done`) or failed, else it
   * throws. Rows published before a throw are still in `done`, to be marked.
   */
  async function publishRows(rows: Row[], done: Row[], signal: AbortSignal): Promise<void> {
    const now = clock();
    const toSend: Row[] = [];
    for (const row of rows) {
      if (
        needsStreamCheck({ firstAttemptAt: row.first_attempt_at }, now, duplicateWindowMs, schedule) &&
        (await isInStream(row))
      ) {
        logger.warn(
          { eventId: row.event_id },
          'row found in the stream from an earlier attempt: marked published, not sent again',
        );
        metrics.duplicates.inc();
        done.push(row);
        continue;
      }
      toSend.push(row);
    }
    let remaining = toSend;
    await policy.execute(async () => {
      if (signal.aborted) throw new Error('relay stopping');
      try {
        await attempt(remaining, done);
      } catch (e) {
        if (e instanceof TransientBatchError) remaining = e.rows;
        throw e;
      }
    }, signal);
  }

  async function publishLoop(signal: AbortSignal): Promise<void> {
    const listener = listen(signal);
    const janitor = setInterval(() => void clean(), janitorIntervalMs);
    // Where reading goes on: the persisted low-water mark, then the last row read.
    let cursor = await readCursor();
    let prefetched: Promise<Row[]> | undefined;
    let blockedPolls = 0;
    try {
      while (!signal.aborted) {
        if (behind) {
          // A mark failed or the low-water mark did not move: start again from it.
          await prefetched?.catch(() => undefined);
          prefetched = undefined;
          await marking;
          behind = false;
          cursor = await readCursor();
        }
        let rows: Row[];
        try {
          rows = await (prefetched ?? fetchBatch(cursor));
        } catch (e) {
          prefetched = undefined;
          logger.error({ err: e }, 'reading the outbox failed; retrying');
          await wake.wait(pollIntervalMs, signal);
          continue;
        }
        prefetched = undefined;
        if (rows.length === 0) {
          const blocked = await blockedAfter(cursor).catch(() => false);
          blockedPolls = blocked ? blockedPolls + 1 : 0;
          await wake.wait(
            blocked ? Math.min(pollIntervalMs, 100, blockedPollMs * 2 ** (blockedPolls - 1)) : pollIntervalMs,
            signal,
          );
          continue;
        }
        blockedPolls = 0;
        const last = rows[rows.length - 1] as Row;
        const next: Cursor = { txid: last.txid, seq: last.seq };
        // Read the next batch while this one is being published.
        prefetched = fetchBatch(next);
        prefetched.catch(() => undefined);
        const done: Row[] = [];
        try {
          await publishRows(rows, done, signal);
          markLater(done, { from: cursor, to: next });
          cursor = next;
        } catch (e) {
          // Rows of this batch may still be pending: mark what went out, drop the read-ahead,
          // and read again from the low-water mark.
          markLater(done);
          behind = true;
          if (signal.aborted) break;
          if (e instanceof BrokenCircuitError) {
            await wake.wait(probeMs, signal);
          } else if (e instanceof TransientBatchError) {
            logger.warn(
              { rows: e.rows.length, err: e.cause },
              `batch still failing after ${schedule.attempts} attempts`,
            );
          } else {
            logger.error({ err: e }, 'publish round failed');
            await wake.wait(retryDelayMs(schedule, 2), signal);
          }
        }
      }
    } finally {
      clearInterval(janitor);
      await prefetched?.catch(() => undefined);
      await marking;
      await listener.end();
    }
  }

  /** LISTEN on a dedicated connection that reconnects itself; polling covers the gaps. */
  function listen(signal: AbortSignal): { end(): Promise<void> } {
    let current: pg.Client | undefined;
    let timer: NodeJS.Timeout | undefined;
    const connect = async (): Promise<void> => {
      if (signal.aborted) return;
      const client = new pg.Client({
        connectionString: deps.databaseUrl,
        application_name: 'vigil-outbox-relay-listen',
      });
      current = client;
      let retried = false;
      const again = (e: unknown) => {
        if (retried || signal.aborted) return;
        retried = true;
        logger.warn({ err: e }, 'LISTEN connection lost; polling until it is back');
        void client.end().catch(() => undefined);
        timer = setTimeout(() => void connect(), pollIntervalMs);
      };
      client.on('notification', () => wake.wake());
      client.on('error', again);
      try {
        await client.connect();
        await client.query(`listen ${OUTBOX_CHANNEL}`);
        wake.wake(); // rows may have committed before we listened
      } catch (e) {
        again(e);
      }
    };
    void connect();
    return {
      async end() {
        clearTimeout(timer);
        await current?.end().catch(() => undefined);
      },
    };
  }

  async function clean(): Promise<void> {
    try {
      const before = new Date(clock().getTime() - retentionMs);
      let total = 0;
      for (;;) {
        // published_at < before implies created_at < before, which the BRIN index finds cheaply.
        const r = await sql`delete from outbox.events where seq in (
                 select seq from outbox.events
                 where created_at < ${before} and state = 'published' and published_at < ${before} limit 5000)`.execute(
          db,
        );
        const n = Number(r.numAffectedRows ?? 0);
        total += n;
        if (n < 5000) break;
      }
      const inbox = await pruneInbox(db, new Date(clock().getTime() - inboxRetentionMs));
      if (total + inbox > 0) logger.info({ outboxRows: total, inboxRows: inbox }, 'janitor deleted old rows');
    } catch (e) {
      logger.warn({ err: e }, 'janitor failed; will try again');
    }
  }

  /** Holds the advisory lock on a dedicated connection; publishes only while holding it. */
  async function lead(): Promise<void> {
    while (!stopping.signal.aborted) {
      const client = new pg.Client({
        connectionString: deps.databaseUrl,
        application_name: 'vigil-outbox-relay-lock',
        keepAlive: true,
      });
      const lost = new AbortController();
      client.on('error', (e) => {
        if (!lost.signal.aborted) logger.warn({ err: e }, 'leader-lock connection lost');
        lost.abort();
      });
      client.on('end', () => lost.abort());
      try {
        await client.connect();
        for (;;) {
          if (stopping.signal.aborted) return;
          const r = await client.query<{ ok: boolean }>('select pg_try_advisory_lock($1) as ok', [lockKey]);
          if (r.rows[0]?.ok) break;
          await wake.wait(standbyRetryMs, stopping.signal);
        }
        leader = true;
        metrics.leader.set(1);
        logger.info('leader: publishing');
        const work = new AbortController();
        const abortWork = () => work.abort();
        lost.signal.addEventListener('abort', abortWork);
        stopping.signal.addEventListener('abort', abortWork);
        // A dead lock connection must stop publishing at once: probe it every second.
        const heartbeat = setInterval(() => {
          client.query('select 1').catch(() => lost.abort());
        }, 1000);
        try {
          await publishLoop(work.signal);
        } finally {
          clearInterval(heartbeat);
          lost.signal.removeEventListener('abort', abortWork);
          stopping.signal.removeEventListener('abort', abortWork);
        }
      } catch (e) {
        if (!stopping.signal.aborted) logger.error({ err: e }, 'relay round failed');
      } finally {
        if (leader) logger.info('no longer leader');
        leader = false;
        metrics.leader.set(0);
        await client.end().catch(() => undefined);
      }
      await wake.wait(standbyRetryMs, stopping.signal);
    }
  }

  return {
    async start() {
      const info = await jsm.streams.info(ns.stream);
      duplicateWindowMs = info.config.duplicate_window / 1_000_000;
      const why = checkDuplicateWindow(duplicateWindowMs, schedule, ns.stream);
      if (why !== null) throw new Error(why);
      metrics.leader.set(0);
      running = lead();
    },
    async stop() {
      stopping.abort();
      wake.wake();
      await running;
      publisher.close();
    },
    isLeader: () => leader,
    async ready() {
      const checks: Record<string, boolean | string> = {};
      try {
        await sql`select 1`.execute(db);
        checks['postgres'] = true;
      } catch (e) {
        checks['postgres'] = (e as Error).message;
      }
      try {
        await jsm.streams.info(ns.stream);
        checks['jetstream'] = true;
      } catch (e) {
        checks['jetstream'] = (e as Error).message;
      }
      return checks;
    },
  };
}
