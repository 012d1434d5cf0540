import fc from 'fast-check';
import { jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it, inject } from 'vitest';
import { waitFor } from '@vigil/testkit';
import { encodeBinary } from './binding.js';
import { consume } from './consume.js';
import { createEvent, parseData, type VigilEvent } from './envelope.js';
import { createPublisher } from './publish.js';
import { eventTypes, subjectOf } from './registry.js';
import { replay } from './replay.js';
import { ensureConsumer } from './topology.js';
import { anyEvent, collect, eventsFixture, samples } from './testing/index.js';

const natsUrl = inject('natsUrl');

const json = (v: unknown) => JSON.parse(JSON.stringify(v)) as unknown;

describe('round trips through JetStream', () => {
  it('every registry event, published structured and decoded; and published binary and decoded', async () => {
    await using f = await eventsFixture(natsUrl, { label: 'rt' });
    const pub = createPublisher({ js: f.js, ns: f.ns, source: 'vigil/test' });
    await ensureConsumer(f.nc, { durable: 'all' }, f.ns);
    const sent: VigilEvent[] = [];
    for (const type of eventTypes) {
      const r = await pub.publish(type, samples[type]);
      expect(r.duplicate).toBe(false);
      expect(r.subject).toBe(subjectOf(f.ns, type));
      const binary = createEvent(type, samples[type] as never, { source: 'urn:tool:binary' }) as VigilEvent;
      const { data, headers } = encodeBinary(binary);
      await f.js.publish(subjectOf(f.ns, type), data, { headers, msgID: binary.id });
      sent.push(binary);
    }
    const received: VigilEvent[] = [];
    const c = await consume({
      js: f.js,
      ns: f.ns,
      spec: { durable: 'all' },
      handler: async (e) => void received.push(e),
    });
    await waitFor(() => received.length === eventTypes.length * 2, { message: 'all events consumed' });
    await c.stop();
    expect(received.map((e) => e.type)).toEqual(eventTypes.flatMap((t) => [t, t]));
    for (const b of sent) expect(received.find((e) => e.id === b.id)).toEqual(b);
    for (const e of received) expect(e.data).toEqual(json(parseData(e.type, samples[e.type])) as never);
    expect(c.stats).toMatchObject({ processed: eventTypes.length * 2, deadLettered: 0 });
  });

  it('arbitrary valid data of every type round-trips through the stream unchanged (property)', async () => {
    await using f = await eventsFixture(natsUrl, { label: 'prop' });
    const pub = createPublisher({ js: f.js, ns: f.ns, source: 'vigil/prop' });
    const events = fc.sample(anyEvent, { numRuns: 150, seed: 42 });
    const expected: VigilEvent[] = [];
    for (const { type, data } of events) {
      const e = createEvent(type, data as never, { source: 'vigil/prop' }) as VigilEvent;
      await pub.publishEvent(e);
      expected.push(e);
    }
    const got = await collect(replay(f.nc, { ns: f.ns, start: { from: 'beginning' } }));
    expect(got.map((r) => json(r.event.data))).toEqual(expected.map((e) => json(e.data)));
    expect(got.map((r) => r.event.id)).toEqual(expected.map((e) => e.id));
  });

  it('the same event published twice is stored once', async () => {
    await using f = await eventsFixture(natsUrl, { label: 'dup' });
    const pub = createPublisher({ js: f.js, ns: f.ns, source: 'vigil/test' });
    const e = createEvent('validation.requested', { suite: 'x' }, { source: 'vigil/test' }) as VigilEvent;
    const first = await pub.publishEvent(e);
    const second = await pub.publishEvent(e);
    expect(first.duplicate).toBe(false);
    expect(second.duplicate).toBe(true);
    expect(second.seq).toBe(first.seq);
    const jsm = await jetstreamManager(f.nc);
    expect((await jsm.streams.info(f.ns.stream)).state.messages).toBe(1);
  });

  it('publish refuses invalid data with the field path before sending', async () => {
    await using f = await eventsFixture(natsUrl, { label: 'inv' });
    const pub = createPublisher({ js: f.js, ns: f.ns, source: 'vigil/test' });
    await expect(pub.publish('anomaly.detected', { ...samples['anomaly.detected'], score: 2 })).rejects.toThrow(
      /data\.score/,
    );
    const jsm = await jetstreamManager(f.nc);
    expect((await jsm.streams.info(f.ns.stream)).state.messages).toBe(0);
  });
});
