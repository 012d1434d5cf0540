import { context, ROOT_CONTEXT, trace, TraceFlags, type SpanContext } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installTestTracing } from './testing/index.js';
import { contextOfTraceHeaders, spanTraceContext, traceContextOf } from './tracing.js';

let tracing: ReturnType<typeof installTestTracing>;
beforeAll(() => {
  tracing = installTestTracing();
});
afterAll(() => tracing.dispose());

const remote = (over: Partial<SpanContext> = {}): SpanContext => ({
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  spanId: '00f067aa0ba902b7',
  traceFlags: TraceFlags.SAMPLED,
  isRemote: true,
  ...over,
});

describe('spanTraceContext', () => {
  it('writes what the W3C propagator writes for a context holding the span', () => {
    const withState = contextOfTraceHeaders({
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      tracestate: 'vendor=a,other=b',
    });
    const cases = [
      trace.getTracer('test').startSpan('recorded'),
      trace.getTracer('test').startSpan('child with state', {}, withState),
      trace.wrapSpanContext(remote()),
      trace.wrapSpanContext(remote({ traceFlags: TraceFlags.NONE })),
    ];
    for (const span of cases) {
      const expected = traceContextOf(trace.setSpan(ROOT_CONTEXT, span));
      expect(expected.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
      expect(spanTraceContext(span)).toEqual(expected);
    }
    expect(spanTraceContext(cases[1]!).tracestate).toBe('vendor=a,other=b');
    expect(spanTraceContext(cases[3]!).traceparent).toMatch(/-00$/);
  });

  it('writes nothing for a span without a valid context (no SDK, no parent)', () => {
    const invalid = trace.wrapSpanContext(remote({ traceId: '0'.repeat(32), spanId: '0'.repeat(16) }));
    expect(spanTraceContext(invalid)).toEqual({});
    expect(traceContextOf(trace.setSpan(ROOT_CONTEXT, invalid))).toEqual({});
  });
});

describe('contextOfTraceHeaders', () => {
  it('continues the trace whose headers traceContextOf wrote', () => {
    const span = trace.getTracer('test').startSpan('producer');
    const stored = traceContextOf(trace.setSpan(ROOT_CONTEXT, span)) as Record<string, string>;
    const parent = trace.getSpanContext(contextOfTraceHeaders(stored));
    expect(parent).toMatchObject({ traceId: span.spanContext().traceId, spanId: span.spanContext().spanId });
    expect(parent?.isRemote).toBe(true);
    span.end();
  });

  it('gives the active context when the headers hold no trace or a malformed one', () => {
    const active = trace.getTracer('test').startSpan('active');
    context.with(trace.setSpan(context.active(), active), () => {
      for (const stored of [{}, { traceparent: 'not-a-traceparent' }, { 'content-type': 'application/json' }] as Record<
        string,
        string
      >[]) {
        expect(trace.getSpanContext(contextOfTraceHeaders(stored))?.spanId).toBe(active.spanContext().spanId);
      }
    });
    active.end();
  });
});
