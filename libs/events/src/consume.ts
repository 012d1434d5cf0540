import { context as otelContext, SpanKind, trace, type Tracer } from '@opentelemetry/api';
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { backoffDelay } from './backoff.js';
import { decodeStreamMessage } from './binding.js';
import { deadLetter } from './deadletter.js';
import type { VigilEvent } from './envelope.js';
import { ConsumeTimeoutError, dispositionOf, isDecodeError, isVigilEventsError } from './errors.js';
import { silentLogger, type Logger } from './logger.js';
import { defaultNamespace, type EventType, type Namespace } from './registry.js';
import { DEFAULT_MAX_DELIVER, type ConsumerSpec } from './topology.js';
import { eventsTracer, extractTraceContext, messagingAttributes, recordFailure } from './tracing.js';

export interface HandlerContext {
  /** 1 on the first delivery. */
  readonly deliveryCount: number;
  readonly streamSequence: number;
  /** When the stream stored the event: arrival by the server's clock, which no sender sets. */
  readonly storedAt: Date;
  /** The NATS subject the event arrived on. */
  readonly subject: string;
  /** Resets the server's ack deadline; call it during work longer than the consumer's ack wait. */
  working(): void;
  /** Child logger carrying the event id, type, sequence and trace id. */
  readonly logger: Logger;
  /** Aborted when the consumer stops and its grace period has run out. */
  readonly signal: AbortSignal;
}

export type Handler<T extends EventType> = (event: VigilEvent<T>, ctx: HandlerContext) => Promise<void>;

export interface RetryDelayOptions {
  /** Delay before the second delivery. @default 1000 ms */
  readonly initialMs?: number;
  /** Upper bound of the delay; each delay doubles the one before. @default 60 000 ms */
  readonly maxMs?: number;
}

export interface ConsumeOptions<T extends EventType> {
  readonly js: JetStreamClient;
  /** The same spec given to `ensureConsumer`, which must have run first. */
  readonly spec: ConsumerSpec & { readonly types?: readonly T[] };
  readonly handler: Handler<T>;
  /** @default defaultNamespace */
  readonly ns?: Namespace;
  /** @default silent */
  readonly logger?: Logger;
  /** Messages handled at once by this instance. @default 1 */
  readonly concurrency?: number;
  /** Redelivery delays after a transient failure (nak with delay). */
  readonly retry?: RetryDelayOptions;
  /** @default the global tracer provider's tracer for @vigil/events */
  readonly tracer?: Tracer;
  /**
   * Says that a handler's error means a dependency is down (the database unreachable), not that
   * the event is bad. Such a message is held (its ack deadline extended) and handled again in
   * place until it succeeds or the consumer stops, without spending one of its deliveries: an
   * outage longer than the retry schedule must not dead-letter every event that arrives during it.
   * @default no error is an outage
   */
  readonly isOutage?: (e: unknown) => boolean;
  /** Delays between attempts while an outage lasts. @default 250 ms doubling to 5 s */
  readonly outageRetry?: RetryDelayOptions;
}

export interface ConsumerStats {
  received: number;
  processed: number;
  retried: number;
  deadLettered: number;
  /** Events of types this consumer does not handle (only on servers without multi-filter). */
  skipped: number;
  /** Attempts that met a dependency outage and were held for another try. */
  outages: number;
}

export interface RunningConsumer {
  readonly stats: Readonly<ConsumerStats>;
  /**
   * Stops pulling, lets in-flight handlers finish for up to `graceMs` (default 10 s), then naks
   * whatever is left so another instance gets it at once.
   */
  stop(graceMs?: number): Promise<void>;
  /** Settles when the consumer has stopped (by `stop()` or because the consumer was deleted). */
  readonly done: Promise<void>;
  /**
   * Resolves once the server's ack floor of this consumer has reached stream sequence `seq`: that
   * message and every one before it that the consumer takes has its outcome (handled, skipped or
   * dead-lettered), acknowledged to JetStream. Rejects with a ConsumeTimeoutError after `timeoutMs`
   * (default 30 s), naming the floor it saw.
   */
  whenProcessed(seq: number, timeoutMs?: number): Promise<void>;
  /**
   * Resolves once nothing is in flight here and JetStream has nothing pending for the consumer,
   * neither undelivered nor awaiting an ack. Rejects with a ConsumeTimeoutError after `timeoutMs`
   * (default 30 s), naming what was still pending.
   */
  whenIdle(timeoutMs?: number): Promise<void>;
}

/** The delay before delivery `deliveryCount + 1` (a nak's): `initialMs` doubling, capped at `maxMs`. */
export function retryDelay(deliveryCount: number, o: RetryDelayOptions = {}): number {
  return backoffDelay({ initialMs: o.initialMs ?? 1000, maxMs: o.maxMs ?? 60_000 }, deliveryCount);
}

/**
 * Runs a handler over a durable consumer with vigil's failure semantics: success → ack; a message
 * that is not a valid event, or a permanent error → dead-letter with the reason, then term; any
 * other error → nak with exponential delay, and dead-letter once the deliveries run out.
 */
// Over 60 lines: one closure over the consumer's state (unsettled messages, batched acks, in-flight work); the steps are the inner functions.
export async function consume<T extends EventType>(o: ConsumeOptions<T>): Promise<RunningConsumer> {
  const ns = o.ns ?? defaultNamespace;
  const { spec } = o;
  const maxDeliver = spec.maxDeliver ?? DEFAULT_MAX_DELIVER;
  const logger = (o.logger ?? silentLogger).child({ consumer: spec.durable });
  const tracer = o.tracer ?? eventsTracer();
  const concurrency = Math.max(1, o.concurrency ?? 1);
  const types = spec.types === undefined || spec.types.length === 0 ? undefined : new Set<string>(spec.types);
  const stats: ConsumerStats = { received: 0, processed: 0, retried: 0, deadLettered: 0, skipped: 0, outages: 0 };
  const abort = new AbortController();
  const unsettled = new Set<JsMsg>();
  let stopping = false;

  const consumer = await o.js.consumers.get(ns.stream, spec.durable);
  const messages = await consumer.consume({ max_messages: Math.max(16, concurrency * 4) });

  function settle(m: JsMsg, fn: () => void): void {
    if (!unsettled.delete(m)) return; // already nak'ed by stop()
    fn();
  }

  // The acks of messages finished in one turn of the event loop go out in one socket write: one
  // write (a system call) per ack cost more CPU under load than handling a skipped event.
  let acks: JsMsg[] = [];
  let ackTimer: NodeJS.Immediate | undefined;
  const flushAcks = () => {
    clearImmediate(ackTimer);
    ackTimer = undefined;
    const due = acks;
    acks = [];
    for (const m of due) m.ack();
  };
  const ack = (m: JsMsg) => {
    acks.push(m);
    ackTimer ??= setImmediate(flushAcks);
  };

  async function toDeadLetter(m: JsMsg, code: string, reason: string, log: Logger): Promise<void> {
    try {
      await deadLetter(
        o.js,
        ns,
        { data: m.data, headers: m.headers, subject: m.subject, stream: m.info.stream, streamSequence: m.seq },
        {
          consumer: spec.durable,
          code,
          reason,
          deliveries: m.info.deliveryCount,
        },
      );
      // A bare +TERM: nats-server before 2.10 ignores one carrying a reason, and the message would
      // come back after its ack wait to be dead-lettered again. The reason is in the dead letter.
      settle(m, () => m.term());
      stats.deadLettered++;
      log.warn({ code, reason, deliveries: m.info.deliveryCount }, 'dead-lettered');
    } catch (e) {
      // Without a stored dead letter the message must not be dropped: try again later.
      log.error({ err: e }, 'dead-letter publish failed; message will be redelivered');
      settle(m, () => m.nak(retryDelay(m.info.deliveryCount, o.retry)));
    }
  }

  async function handleThroughOutages(event: VigilEvent<T>, ctx: HandlerContext, m: JsMsg): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await o.handler(event, ctx);
        if (attempt > 1) ctx.logger.info({ attempts: attempt }, 'dependency back: handled');
        return;
      } catch (e) {
        if (o.isOutage === undefined || !o.isOutage(e) || abort.signal.aborted || stopping) throw e;
        stats.outages++;
        const delay = retryDelay(attempt, { initialMs: 250, maxMs: 5000, ...o.outageRetry });
        if (attempt === 1) ctx.logger.warn({ err: e }, 'dependency unavailable: holding the message and retrying');
        m.working();
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, delay);
          abort.signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
        });
        m.working();
      }
    }
  }

  // Over 60 lines: the one path of a message, decode → span → handler → ack, nak or dead letter, read top to bottom; its branches share the span and the logger.
  async function handle(m: JsMsg): Promise<void> {
    stats.received++;
    const deliveryCount = m.info.deliveryCount;
    const storedAt = new Date(Math.floor(m.info.timestampNanos / 1e6));
    let event: VigilEvent;
    try {
      event = decodeStreamMessage(ns, m, storedAt);
    } catch (e) {
      const code = isVigilEventsError(e) ? e.code : 'DECODE_FAILED';
      await toDeadLetter(m, code, (e as Error).message, logger.child({ seq: m.seq, subject: m.subject }));
      return;
    }
    if (types !== undefined && !types.has(event.type)) {
      stats.skipped++;
      settle(m, () => ack(m));
      return;
    }
    const parent = extractTraceContext(m.headers, event);
    const span = tracer.startSpan(
      `process ${m.subject}`,
      {
        kind: SpanKind.CONSUMER,
        attributes: messagingAttributes({
          operation: 'process',
          subject: m.subject,
          event,
          bodySize: m.data.length,
          consumer: spec.durable,
          stream: m.info.stream,
          streamSequence: m.seq,
          deliveryCount,
        }),
      },
      parent,
    );
    const sc = span.spanContext();
    const log = logger.child({
      eventId: event.id,
      type: event.type,
      seq: m.seq,
      trace_id: sc.traceId,
      span_id: sc.spanId,
    });
    try {
      if (deliveryCount > maxDeliver) {
        await toDeadLetter(
          m,
          'MAX_DELIVERIES_EXCEEDED',
          `delivered ${deliveryCount} times without an outcome (a process handling it died or hung)`,
          log,
        );
        return;
      }
      const ctx: HandlerContext = {
        deliveryCount,
        streamSequence: m.seq,
        storedAt,
        subject: m.subject,
        working: () => m.working(),
        logger: log,
        signal: abort.signal,
      };
      try {
        await otelContext.with(trace.setSpan(parent, span), () => handleThroughOutages(event as VigilEvent<T>, ctx, m));
      } catch (e) {
        recordFailure(span, e);
        const message = e instanceof Error ? e.message : String(e);
        if (o.isOutage?.(e) === true) {
          // Stopping during an outage: another instance (or this one restarted) takes it over.
          settle(m, () => m.nak());
        } else if (isDecodeError(e) || dispositionOf(e) === 'dead-letter') {
          await toDeadLetter(m, isVigilEventsError(e) ? e.code : 'PERMANENT', message, log);
        } else if (deliveryCount >= maxDeliver) {
          await toDeadLetter(
            m,
            'MAX_DELIVERIES',
            `failed ${deliveryCount} of ${maxDeliver} deliveries; last error: ${message}`,
            log,
          );
        } else {
          const delay = retryDelay(deliveryCount, o.retry);
          stats.retried++;
          log.warn({ err: e, deliveryCount, delayMs: delay }, 'handler failed; will retry');
          settle(m, () => m.nak(delay));
        }
        return;
      }
      settle(m, () => ack(m));
      stats.processed++;
    } finally {
      span.end();
    }
  }

  const inflight = new Set<Promise<void>>();
  const done = (async () => {
    for await (const m of messages) {
      if (!stopping && inflight.size >= concurrency) await Promise.race(inflight);
      if (stopping) {
        m.nak();
        continue;
      }
      unsettled.add(m);
      const p: Promise<void> = handle(m)
        .catch((e: unknown) => {
          logger.error({ err: e, seq: m.seq }, 'unexpected failure in consume wrapper');
          settle(m, () => m.nak(retryDelay(m.info.deliveryCount, o.retry)));
        })
        .finally(() => inflight.delete(p));
      inflight.add(p);
    }
    await Promise.allSettled([...inflight]);
    flushAcks();
  })();

  /** Asks the server until `check` says done (a reason otherwise), at most `timeoutMs`. */
  async function until(what: string, timeoutMs: number, check: () => Promise<string | true>): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const answer = await check();
      if (answer === true) return;
      if (performance.now() > deadline)
        throw new ConsumeTimeoutError(`${spec.durable}: not ${what} within ${timeoutMs} ms (${answer})`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  return {
    stats,
    done,
    whenProcessed: (seq, timeoutMs = 30_000) =>
      until(`past stream sequence ${seq}`, timeoutMs, async () => {
        const floor = (await consumer.info()).ack_floor.stream_seq;
        return floor >= seq || `ack floor at ${floor}`;
      }),
    whenIdle: (timeoutMs = 30_000) =>
      until('idle', timeoutMs, async () => {
        if (inflight.size > 0) return `${inflight.size} in flight here`;
        const i = await consumer.info();
        if (i.num_pending > 0 || i.num_ack_pending > 0)
          return `${i.num_pending} undelivered, ${i.num_ack_pending} awaiting an ack`;
        return true;
      }),
    async stop(graceMs = 10_000) {
      if (stopping) return;
      stopping = true;
      await messages.close();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        done.then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), graceMs);
        }),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        logger.warn({ inflight: unsettled.size }, 'grace period over: nak in-flight messages');
        for (const m of [...unsettled]) settle(m, () => m.nak());
        flushAcks();
        abort.abort(new Error('consumer stopped'));
      }
    },
  };
}
