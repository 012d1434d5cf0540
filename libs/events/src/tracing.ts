import {
  context as otelContext,
  isSpanContextValid,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Context,
  type Span,
  type Tracer,
  type TextMapGetter,
  type TextMapSetter,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import type { MsgHdrs } from '@nats-io/nats-core';
import { headerValues } from './binding.js';
import type { VigilEvent } from './envelope.js';

// An explicit propagator: a library must not depend on whichever global one the host installed.
const w3c = new W3CTraceContextPropagator();

const recordSetter: TextMapSetter<Record<string, string>> = {
  set: (carrier, key, value) => {
    carrier[key] = value;
  },
};

const carrierGetter: TextMapGetter<Record<string, string>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};

/** The tracer of this library; a host without an SDK gets a no-op tracer. */
export function eventsTracer(): Tracer {
  return trace.getTracer('@vigil/events', '0.1.0');
}

/** W3C `traceparent` / `tracestate` of a context (empty when it holds no sampled span). */
export function traceContextOf(ctx: Context): { traceparent?: string; tracestate?: string } {
  const carrier: Record<string, string> = {};
  w3c.inject(ctx, carrier, recordSetter);
  const out: { traceparent?: string; tracestate?: string } = {};
  if (carrier['traceparent'] !== undefined) out.traceparent = carrier['traceparent'];
  if (carrier['tracestate'] !== undefined && carrier['tracestate'] !== '') out.tracestate = carrier['tracestate'];
  return out;
}

/**
 * W3C `traceparent` / `tracestate` of one span, as {@link traceContextOf} writes them for a
 * context holding it, without making that context: the relay does this for every event it
 * publishes, and the context and the propagator's carrier were a third of its tracing cost.
 */
export function spanTraceContext(span: Span): { traceparent?: string; tracestate?: string } {
  const sc = span.spanContext();
  if (!isSpanContextValid(sc)) return {};
  const flags = (sc.traceFlags & (TraceFlags.SAMPLED as number)) !== 0 ? '01' : '00';
  const out: { traceparent?: string; tracestate?: string } = { traceparent: `00-${sc.traceId}-${sc.spanId}-${flags}` };
  const state = sc.traceState?.serialize();
  if (state !== undefined && state !== '') out.tracestate = state;
  return out;
}

/**
 * The context a stored `traceparent` / `tracestate` pair continues (headers written by
 * {@link traceContextOf}, kept as a record): the active context when there is none or it is
 * malformed.
 */
export function contextOfTraceHeaders(stored: Readonly<Record<string, string>>): Context {
  return w3c.extract(otelContext.active(), stored, carrierGetter);
}

/**
 * The publisher's context of a received message: the W3C NATS headers when present (set by any
 * W3C-aware client), else the CloudEvents distributed-tracing extension.
 */
export function extractTraceContext(headers: MsgHdrs | undefined, event: VigilEvent | undefined): Context {
  const carrier: Record<string, string> = {};
  // Header names in any case (Go's carrier writes `Traceparent`); W3C: several tracestate lines
  // are one list, joined with commas.
  const fromHeaders = headerValues(headers, 'traceparent')[0];
  const tp =
    fromHeaders || (typeof event?.extensions['traceparent'] === 'string' ? event.extensions['traceparent'] : '');
  if (tp) {
    carrier['traceparent'] = tp;
    const ts = fromHeaders
      ? headerValues(headers, 'tracestate')
          .filter((v) => v.trim() !== '')
          .join(',')
      : event?.extensions['tracestate'];
    if (typeof ts === 'string' && ts !== '') carrier['tracestate'] = ts;
  }
  return w3c.extract(otelContext.active(), carrier, carrierGetter);
}

/** OTel messaging semantic-convention attributes shared by publish and process spans. */
export function messagingAttributes(args: {
  operation: 'publish' | 'process';
  subject: string;
  event?: VigilEvent | undefined;
  bodySize?: number;
  consumer?: string;
  stream?: string;
  streamSequence?: number;
  deliveryCount?: number;
}): Record<string, string | number> {
  const a: Record<string, string | number> = {
    'messaging.system': 'nats',
    'messaging.operation.name': args.operation,
    'messaging.operation.type': args.operation === 'publish' ? 'send' : 'process',
    'messaging.destination.name': args.subject,
  };
  if (args.event !== undefined) {
    a['messaging.message.id'] = args.event.id;
    a['cloudevents.event_id'] = args.event.id;
    a['cloudevents.event_type'] = args.event.type;
    a['cloudevents.event_source'] = args.event.source;
    a['cloudevents.event_spec_version'] = args.event.specversion;
  }
  if (args.bodySize !== undefined) a['messaging.message.body.size'] = args.bodySize;
  if (args.consumer !== undefined) {
    a['messaging.consumer.group.name'] = args.consumer;
    a['messaging.destination.subscription.name'] = args.consumer;
  }
  if (args.stream !== undefined) a['messaging.nats.stream'] = args.stream;
  if (args.streamSequence !== undefined) a['messaging.nats.stream_sequence'] = args.streamSequence;
  if (args.deliveryCount !== undefined) a['messaging.nats.delivery_count'] = args.deliveryCount;
  return a;
}

export function recordFailure(span: Span, e: unknown): void {
  span.recordException(e instanceof Error ? e : new Error(String(e)));
  span.setStatus({ code: SpanStatusCode.ERROR, message: e instanceof Error ? e.message : String(e) });
}
