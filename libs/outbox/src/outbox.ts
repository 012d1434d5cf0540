import { context as otelContext, SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import type { Kysely, Transaction } from 'kysely';
import {
  defaultNamespace,
  encodeStructured,
  subjectOf,
  traceContextOf,
  withExtensions,
  type Namespace,
  type VigilEvent,
} from '@vigil/events';
import type { OutboxDatabase } from './schema.js';

export interface OutboxOptions {
  /** @default defaultNamespace */
  readonly ns?: Namespace;
  /** @default the global tracer provider's tracer for @vigil/outbox */
  readonly tracer?: Tracer;
}

export interface Outbox {
  /**
   * Stores the event inside the caller's transaction; the relay publishes it after commit. The
   * current trace context is captured (as a `outbox write` span) so the relay's publish continues it.
   */
  add<DB>(tx: Transaction<DB> | Kysely<DB>, event: VigilEvent): Promise<void>;
}

const tracerOf = () => trace.getTracer('@vigil/outbox', '0.1.0');

export function createOutbox(o: OutboxOptions = {}): Outbox {
  const ns = o.ns ?? defaultNamespace;
  return {
    async add(tx, event) {
      const subject = subjectOf(ns, event.type);
      const span = (o.tracer ?? tracerOf()).startSpan(`outbox write ${subject}`, {
        kind: SpanKind.INTERNAL,
        attributes: {
          'messaging.system': 'nats',
          'messaging.destination.name': subject,
          'messaging.message.id': event.id,
          'cloudevents.event_type': event.type,
          'db.system.name': 'postgresql',
        },
      });
      try {
        const traced = withExtensions(event, traceContextOf(trace.setSpan(otelContext.active(), span)));
        const { data, headers } = encodeStructured(traced);
        const h: Record<string, string> = {};
        for (const k of headers.keys()) if (k !== 'Nats-Msg-Id') h[k] = headers.get(k);
        await (tx as unknown as Kysely<OutboxDatabase>)
          .insertInto('outbox.events')
          .values({ event_id: event.id, subject, headers: JSON.stringify(h), payload: Buffer.from(data) })
          .execute();
      } catch (e) {
        span.recordException(e as Error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: (e as Error).message });
        throw e;
      } finally {
        span.end();
      }
    },
  };
}
