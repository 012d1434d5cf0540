import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import {
  isBrokenCircuitError,
  circuitBreaker,
  ConsecutiveBreaker,
  handleAll,
  handleWhen,
  retry,
  wrap,
} from 'cockatiel';
import { sql } from 'kysely';
import { contextOfTraceHeaders, messagingAttributes, readMessages, spanTraceContext, VigilError } from '@vigil/events';
import { BatchPublisher, type BatchMessage, type PubAck } from './batch-publisher.js';
import type { RelayContext, Row } from './context.js';
import { isPermanentPublishError, needsStreamCheck, publishHeaders, retryBackoff, retryDelayMs } from './core.js';

/** Rows JetStream did not acknowledge in one round; retried by the policy. */
export class TransientBatchError extends VigilError {
  readonly code = 'PUBLISH_BATCH_TRANSIENT';
  constructor(
    readonly rows: Row[],
    cause: unknown,
  ) {
    super(`${rows.length} rows not acknowledged: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

export interface Publisher {
  /**
   * Publishes rows in their order with retries; every row ends published (in `done`) or marked
   * failed, else it throws. Rows published before a throw are still in `done`.
   */
  publishRows(rows: Row[], done: Row[], signal: AbortSignal): Promise<void>;
  /** After a failed round: waits as the failure asks (a probe interval when the circuit is open). */
  pauseAfter(e: unknown, signal: AbortSignal): Promise<void>;
  /** JetStream's duplicate window of the stream, read at start. */
  setDuplicateWindow(ms: number): void;
  close(): void;
}

const tracer = () => trace.getTracer('@vigil/outbox-relay', '0.1.0');

/**
 * Publishing to JetStream, the same for both readers: one pipelined round per batch (every row
 * sent, then every ack awaited), a retry policy inside a circuit breaker, rows JetStream refuses
 * for good marked failed, and duplicates told apart from events another publisher preempted.
 */
// Over 60 lines: one closure over the publisher's connection, breaker and duplicate window; its steps are the inner functions.
export function createPublisher(
  ctx: RelayContext,
  o: { inboxPrefix?: string | undefined; breakerProbeMs: number },
): Publisher {
  const { db, ns, logger, metrics, schedule, clock } = ctx;
  const batch = new BatchPublisher(ctx.nc, o.inboxPrefix);
  let duplicateWindowMs = 0;
  // The span attributes a subject's publishes share, made once per subject.
  const bySubject = new Map<string, Record<string, string | number>>();
  const attributesOf = (subject: string) => {
    let a = bySubject.get(subject);
    if (a === undefined) {
      a = messagingAttributes({ operation: 'publish', subject });
      if (bySubject.size < 1000) bySubject.set(subject, a);
    }
    return a;
  };

  const retryPolicy = retry(
    handleWhen((e) => e instanceof TransientBatchError),
    {
      maxAttempts: schedule.attempts - 1,
      backoff: retryBackoff(schedule),
    },
  );
  retryPolicy.onRetry(() => metrics.retries.inc());
  const breaker = circuitBreaker(handleAll, { halfOpenAfter: o.breakerProbeMs, breaker: new ConsecutiveBreaker(1) });
  breaker.onBreak(() => logger.warn('JetStream unavailable: circuit open, rows stay pending, probing'));
  breaker.onReset(() => logger.info('JetStream available again: circuit closed'));
  const policy = wrap(breaker, retryPolicy);

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
    for await (const m of readMessages(ctx.nc, {
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
   * batch, the tail a restarted slot replays). But anyone who may publish on the subject can use
   * an event id first, e.g. one they guessed: JetStream then drops the real event. Comparing the
   * stored message tells them apart, and a dropped event is reported, not passed over in silence.
   */
  async function checkDuplicates(rows: Row[], acks: (PubAck | Error)[]): Promise<void> {
    for (const [i, ack] of acks.entries()) {
      const row = rows[i];
      if (row === undefined || ack instanceof Error || !ack.duplicate) continue;
      const stored = await ctx.jsm.streams.getMessage(ns.stream, { seq: ack.seq }).catch(() => null);
      if (stored !== null && stored.subject === row.subject && Buffer.from(stored.data).equals(row.payload)) continue;
      metrics.preempted.inc();
      logger.error(
        { eventId: row.event_id, subject: row.subject, streamSeq: ack.seq, storedSubject: stored?.subject },
        'event dropped by JetStream: the stream already holds a different message with this event id (another publisher used it first)',
      );
    }
  }

  /** One pipelined round: every row is sent, then every ack awaited; published rows go to `done`. */
  // Over 60 lines: one publishing round, read top to bottom: publish, sort the acks into published, duplicate, permanent and retried, mark them in one transaction.
  async function attempt(rows: Row[], done: Row[]): Promise<void> {
    const startedAt = clock();
    const t = tracer();
    const spans = rows.map((row) => {
      // The attributes go on after the start: given to startSpan, the SDK checks each one twice
      // (once for the sampler, once on the span), and this runs for every event.
      const span = t.startSpan(
        `publish ${row.subject}`,
        { kind: SpanKind.PRODUCER },
        contextOfTraceHeaders(row.headers),
      );
      span.setAttributes(attributesOf(row.subject));
      span.setAttribute('messaging.message.body.size', row.payload.length);
      span.setAttribute('messaging.message.id', row.event_id);
      span.setAttribute('vigil.outbox.seq', row.seq);
      // Consumers become children of this publish span, which continues the trace of the insert.
      const extra: Record<string, string> = spanTraceContext(span);
      extra['Nats-Msg-Id'] = row.event_id;
      extra['Nats-Expected-Stream'] = ns.stream;
      let message: BatchMessage;
      try {
        message = { subject: row.subject, data: row.payload, headers: publishHeaders(row.headers, extra) };
      } catch (e) {
        // Refused before sending: that error is the row's answer (marked failed below).
        message = { refused: e as Error };
      }
      return { span, message };
    });
    const acks = await batch.publish(
      spans.map((x) => x.message),
      schedule.publishTimeoutMs,
    );
    const transient: Row[] = [];
    let lastError: unknown;
    let duplicates = 0;
    let published = 0;
    for (const [i, ack] of acks.entries()) {
      const span = spans[i]?.span;
      const row = rows[i] as Row;
      if (!(ack instanceof Error)) {
        span?.setAttribute('messaging.nats.stream_sequence', ack.seq);
        span?.setAttribute('messaging.nats.duplicate', ack.duplicate);
        span?.end();
        done.push(row);
        published++;
        if (ack.duplicate) duplicates++;
        continue;
      }
      span?.recordException(ack);
      span?.setStatus({ code: SpanStatusCode.ERROR, message: ack.message });
      span?.end();
      if (isPermanentPublishError(ack)) {
        await markFailed(row, ack.message);
        metrics.failed.inc();
        logger.error(
          { eventId: row.event_id, seq: row.seq, subject: row.subject, err: ack },
          'row rejected by JetStream for good: marked failed',
        );
      } else {
        // Kept on the row too: the logical reader retries rows it holds in memory, and a retry
        // after the duplicate window needs them to look for an earlier copy in the stream.
        row.first_attempt_at ??= startedAt;
        row.last_attempt_at = clock();
        transient.push(row);
        lastError = ack;
      }
    }
    metrics.recordPublished(published, clock().getTime());
    metrics.duplicates.inc(duplicates);
    if (duplicates > 0) await checkDuplicates(rows, acks);
    if (transient.length > 0) {
      const message = lastError instanceof Error ? lastError.message : String(lastError);
      await markAttempted(transient, startedAt, message);
      throw new TransientBatchError(transient, lastError);
    }
  }

  return {
    async publishRows(rows, done, signal) {
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
      if (toSend.length === 0) return;
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
    },
    async pauseAfter(e, signal) {
      if (signal.aborted) return;
      if (isBrokenCircuitError(e)) {
        await ctx.wake.wait(o.breakerProbeMs, signal);
      } else if (e instanceof TransientBatchError) {
        logger.warn({ rows: e.rows.length, err: e.cause }, `batch still failing after ${schedule.attempts} attempts`);
      } else {
        logger.error({ err: e }, 'publish round failed');
        await ctx.wake.wait(retryDelayMs(schedule, 2), signal);
      }
    },
    setDuplicateWindow(ms) {
      duplicateWindowMs = ms;
    },
    close() {
      batch.close();
    },
  };
}
