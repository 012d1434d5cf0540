import { context, trace } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { waitFor } from '@vigil/testkit';
import { encodeStructured } from './binding.js';
import { consume } from './consume.js';
import { createEvent } from './envelope.js';
import { createPublisher } from './publish.js';
import { subjectOf } from './registry.js';
import { ensureConsumer } from './topology.js';
import { eventsFixture, installTestTracing, samples } from './testing/index.js';

let tracing: ReturnType<typeof installTestTracing>;
beforeAll(() => {
  tracing = installTestTracing();
});
afterAll(() => tracing.dispose());
const finishedSpans = () => tracing.exporter.getFinishedSpans();

describe('trace context across JetStream', () => {
  it('a span started before publish is the ancestor of the consumer span, and the handler runs inside it', async () => {
    await using f = await eventsFixture(inject('natsUrl'), { label: 'trace' });
    const pub = createPublisher({ js: f.js, ns: f.ns, source: 'vigil/test' });
    await ensureConsumer(f.nc, { durable: 'traced' }, f.ns);
    const tracer = trace.getTracer('test');
    const request = tracer.startSpan('user request');
    const published = await context.with(trace.setSpan(context.active(), request), () =>
      pub.publish('validation.requested', { suite: 'vigil-self' }),
    );
    request.end();
    let handlerSpanId: string | undefined;
    let handlerTraceparent: unknown;
    const c = await consume({
      js: f.js,
      ns: f.ns,
      spec: { durable: 'traced' },
      handler: async (e) => {
        handlerSpanId = trace.getActiveSpan()?.spanContext().spanId;
        handlerTraceparent = e.extensions['traceparent'];
      },
    });
    await waitFor(() => c.stats.processed === 1, { message: 'processed' });
    await c.stop();

    const spans = finishedSpans();
    const publishSpan = spans.find((s) => s.name === `publish ${subjectOf(f.ns, 'validation.requested')}`);
    const processSpan = spans.find((s) => s.name === `process ${subjectOf(f.ns, 'validation.requested')}`);
    expect(publishSpan).toBeDefined();
    expect(processSpan).toBeDefined();
    const traceId = request.spanContext().traceId;
    expect(published.traceId).toBe(traceId);
    expect(publishSpan?.spanContext().traceId).toBe(traceId);
    expect(publishSpan?.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
    expect(processSpan?.spanContext().traceId).toBe(traceId);
    expect(processSpan?.parentSpanContext?.spanId).toBe(publishSpan?.spanContext().spanId);
    expect(handlerSpanId).toBe(processSpan?.spanContext().spanId);
    expect(handlerTraceparent).toBe(`00-${traceId}-${publishSpan?.spanContext().spanId}-01`);
    expect(publishSpan?.kind).toBe(3); // PRODUCER
    expect(processSpan?.kind).toBe(4); // CONSUMER
    expect(processSpan?.attributes).toMatchObject({
      'messaging.system': 'nats',
      'messaging.operation.type': 'process',
      'messaging.destination.name': subjectOf(f.ns, 'validation.requested'),
      'messaging.consumer.group.name': 'traced',
      'messaging.message.id': published.id,
      'cloudevents.event_type': 'validation.requested',
    });
    expect(publishSpan?.attributes).toMatchObject({
      'messaging.operation.type': 'send',
      'messaging.nats.stream_sequence': published.seq,
    });
  });

  it('trace headers in any case (Go writes Traceparent) continue the trace; several tracestate lines are one list', async () => {
    await using f = await eventsFixture(inject('natsUrl'), { label: 'tracecase' });
    await ensureConsumer(f.nc, { durable: 'traced' }, f.ns);
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parentId = '00f067aa0ba902b7';
    const event = createEvent('sli.observed', samples['sli.observed'], { source: 'vigil/test' });
    const { data, headers } = encodeStructured(event);
    headers.set('Traceparent', `00-${traceId}-${parentId}-01`);
    headers.append('Tracestate', 'vendor1=a');
    headers.append('Tracestate', 'vendor2=b');
    await f.js.publish(subjectOf(f.ns, 'sli.observed'), data, { headers, msgID: event.id });
    let state: string | undefined;
    const c = await consume({
      js: f.js,
      ns: f.ns,
      spec: { durable: 'traced' },
      handler: async () => {
        state = trace.getActiveSpan()?.spanContext().traceState?.serialize();
      },
    });
    await waitFor(() => c.stats.processed === 1, { message: 'processed' });
    await c.stop();
    const processSpan = finishedSpans().find((s) => s.name === `process ${subjectOf(f.ns, 'sli.observed')}`);
    expect(processSpan?.spanContext().traceId).toBe(traceId);
    expect(processSpan?.parentSpanContext?.spanId).toBe(parentId);
    expect(state).toBe('vendor1=a,vendor2=b');
  });
});
