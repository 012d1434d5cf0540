import { context, trace } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { consume, createEvent, ensureConsumer, subjectOf, type VigilEvent } from '@vigil/events';
import { installTestTracing } from '@vigil/events/testing';
import { waitFor } from '@vigil/testkit';
import { relayFixture } from './testing/fixture.js';

let tracing: ReturnType<typeof installTestTracing>;
beforeAll(() => {
  tracing = installTestTracing();
});
afterAll(() => tracing.dispose());
const finishedSpans = () => tracing.exporter.getFinishedSpans();

describe('trace through the outbox', () => {
  it('request → outbox write → relay publish → consumer, one trace with each hop the parent of the next', async () => {
    await using f = await relayFixture(inject('natsUrl'), inject('databaseUrl'), 'trace');
    await f.startRelay();
    await ensureConsumer(f.events.nc, { durable: 'downstream' }, f.ns);
    const request = trace.getTracer('test').startSpan('handle validation.requested');
    const event = createEvent('validation.requested', { suite: 'vigil-self' }, { source: 'vigil/test' }) as VigilEvent;
    await context.with(trace.setSpan(context.active(), request), () =>
      f.db.transaction().execute((tx) => f.outbox.add(tx, event)),
    );
    request.end();
    const c = await consume({
      js: f.events.js,
      ns: f.ns,
      spec: { durable: 'downstream' },
      handler: async () => undefined,
    });
    await waitFor(() => c.stats.processed === 1, { message: 'consumed' });
    await c.stop();

    const subject = subjectOf(f.ns, 'validation.requested');
    const spans = finishedSpans();
    const byName = (n: string) => spans.find((s) => s.name === n);
    const write = byName(`outbox write ${subject}`);
    const publish = byName(`publish ${subject}`);
    const processed = byName(`process ${subject}`);
    const traceId = request.spanContext().traceId;
    for (const s of [write, publish, processed]) expect(s?.spanContext().traceId).toBe(traceId);
    expect(write?.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
    expect(publish?.parentSpanContext?.spanId).toBe(write?.spanContext().spanId);
    expect(processed?.parentSpanContext?.spanId).toBe(publish?.spanContext().spanId);
    expect(publish?.attributes).toMatchObject({
      'messaging.system': 'nats',
      'messaging.message.id': event.id,
      'messaging.operation.type': 'send',
    });
  });
});
