import { context as otelContext, SpanKind, trace, type Tracer } from '@opentelemetry/api';
import type { JetStreamClient } from '@nats-io/jetstream';
import { encodeStructured } from './binding.js';
import { createEvent, withExtensions, type CreateEventOptions, type VigilEvent } from './envelope.js';
import { PublishError } from './errors.js';
import { defaultNamespace, subjectOf, type EventDataInput, type EventType, type Namespace } from './registry.js';
import { eventsTracer, extractTraceContext, messagingAttributes, recordFailure, traceContextOf } from './tracing.js';

/** What JetStream said about a publish. */
export interface PublishResult {
  readonly id: string;
  readonly stream: string;
  /** Stream sequence of the stored message (of the first copy when `duplicate`). */
  readonly seq: number;
  /** True when JetStream already had a message with this id inside its duplicate window. */
  readonly duplicate: boolean;
  readonly subject: string;
  /** The trace id of the publish span, for finding the request in Jaeger. */
  readonly traceId?: string;
}

export interface PublisherOptions {
  readonly js: JetStreamClient;
  /** The producer's CloudEvents `source`, e.g. `vigil/cli`. */
  readonly source: string;
  /** @default defaultNamespace */
  readonly ns?: Namespace;
  /** How long to wait for JetStream's ack. @default 5000 ms */
  readonly timeoutMs?: number;
  /** @default the global tracer provider's tracer for @vigil/events */
  readonly tracer?: Tracer;
}

export interface Publisher {
  /** Validates `data`, builds the CloudEvent and publishes it; rejects with a typed error. */
  publish<T extends EventType>(
    type: T,
    data: EventDataInput<T>,
    options?: Omit<CreateEventOptions, 'source'>,
  ): Promise<PublishResult>;
  /** Publishes an already built event (its id stays the `Nats-Msg-Id`, so a retry is deduplicated). */
  publishEvent(event: VigilEvent): Promise<PublishResult>;
}

export function createPublisher(o: PublisherOptions): Publisher {
  const ns = o.ns ?? defaultNamespace;
  const tracer = o.tracer ?? eventsTracer();
  const timeout = o.timeoutMs ?? 5000;

  async function send(build: () => VigilEvent, type: EventType, parent = otelContext.active()): Promise<PublishResult> {
    const subject = subjectOf(ns, type);
    const span = tracer.startSpan(
      `publish ${subject}`,
      { kind: SpanKind.PRODUCER, attributes: messagingAttributes({ operation: 'publish', subject }) },
      parent,
    );
    const ctx = trace.setSpan(parent, span);
    try {
      // The consumer's span is a child of this publish span (messaging semconv creation context).
      const event = withExtensions(build(), traceContextOf(ctx));
      const { data, headers } = encodeStructured(event);
      span.setAttributes(messagingAttributes({ operation: 'publish', subject, event, bodySize: data.length }));
      let ack;
      try {
        ack = await o.js.publish(subject, data, {
          msgID: event.id,
          headers,
          timeout,
          expect: { streamName: ns.stream },
        });
      } catch (e) {
        throw new PublishError(`publish of ${type} ${event.id} to ${subject} failed: ${(e as Error).message}`, {
          cause: e,
        });
      }
      span.setAttribute('messaging.nats.stream_sequence', ack.seq);
      span.setAttribute('messaging.nats.duplicate', ack.duplicate);
      return {
        id: event.id,
        stream: ack.stream,
        seq: ack.seq,
        duplicate: ack.duplicate,
        subject,
        traceId: span.spanContext().traceId,
      };
    } catch (e) {
      recordFailure(span, e);
      throw e;
    } finally {
      span.end();
    }
  }

  return {
    publish: (type, data, options = {}) =>
      send(() => createEvent(type, data, { ...options, source: o.source }) as VigilEvent, type),
    // An event built earlier carries the trace it was created in; its publish continues that trace.
    publishEvent: (event) => send(() => event, event.type, extractTraceContext(undefined, event)),
  };
}
