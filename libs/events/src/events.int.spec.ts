import { headers as createHeaders } from '@nats-io/nats-core';
import { AckPolicy, DeliverPolicy, jetstreamManager } from '@nats-io/jetstream';
import fc from 'fast-check';
import { describe, expect, inject, it } from 'vitest';
import { waitFor } from '@vigil/testkit';
import { encodeBinary, encodeStructured } from './binding.js';
import { consume, type RunningConsumer } from './consume.js';
import { DEAD_LETTER_KEPT_BYTES, readDeadLetters } from './deadletter.js';
import { createEvent, parseData, type VigilEvent } from './envelope.js';
import { MAX_EVENT_BYTES, PermanentError, TopologyConflictError } from './errors.js';
import { createPublisher } from './publish.js';
import { eventTypes, subjectOf, type EventType, type Namespace } from './registry.js';
import { replay, type ReplayedEvent } from './replay.js';
import {
  DEFAULT_DEAD_LETTER_MAX_BYTES,
  DEFAULT_EVENTS_MAX_BYTES,
  ensureConsumer,
  ensureStreams,
  MAX_DEAD_LETTER_MESSAGE_BYTES,
  MAX_STREAM_MESSAGE_BYTES,
} from './topology.js';
import { anyEvent, eventsFixture, samples } from './testing/index.js';

const natsUrl = inject('natsUrl');
const json = (v: unknown) => JSON.parse(JSON.stringify(v)) as unknown;

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function deadLetters(f: { nc: Parameters<typeof readDeadLetters>[0]; ns: Namespace }) {
  const out = [];
  for await (const l of readDeadLetters(f.nc, { ns: f.ns })) out.push({ dl: l.why, data: l.data, subject: l.subject });
  return out;
}

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

describe('failure semantics', () => {
  it('invalid envelopes and data land in DEADLETTER with the reason; the consumer keeps going', async () => {
    await using f = await eventsFixture(natsUrl, { label: 'bad' });
    const pub = createPublisher({ js: f.js, ns: f.ns, source: 'vigil/test' });
    await ensureConsumer(f.nc, { durable: 'validator', types: ['validation.requested'] }, f.ns);
    const subject = subjectOf(f.ns, 'validation.requested');
    const garbage = fc.sample(
      fc.oneof(
        fc.uint8Array({ maxLength: 64 }),
        fc.json().map((j) => new TextEncoder().encode(j)),
        fc
          .record({
            specversion: fc.constantFrom('1.0', '0.3', 1),
            id: fc.oneof(fc.string(), fc.constant(undefined)),
            source: fc.string(),
            type: fc.constantFrom('validation.requested', 'x', ''),
            data: fc.anything(),
          })
          .map((o) => new TextEncoder().encode(JSON.stringify(o))),
      ),
      { numRuns: 40, seed: 7 },
    );
    let valid = 0;
    for (const [i, body] of garbage.entries()) {
      const h = createHeaders();
      h.set('content-type', 'application/cloudevents+json');
      await f.js.publish(subject, body, { headers: h });
      if (i % 4 === 0) {
        await pub.publish('validation.requested', { suite: `s${i}` });
        valid++;
      }
    }
    const handled: string[] = [];
    const c = await consume({
      js: f.js,
      ns: f.ns,
      spec: { durable: 'validator', types: ['validation.requested'] },
      handler: async (e) => void handled.push(e.data.suite),
    });
    await waitFor(() => c.stats.received === garbage.length + valid, { message: 'every message seen' });
    await c.stop();
    expect(handled).toHaveLength(valid);
    const dls = await deadLetters(f);
    expect(dls.length + valid).toBe(garbage.length + valid);
    for (const d of dls) {
      expect(d.dl?.consumer).toBe('validator');
      expect(d.dl?.code).toMatch(/^(NOT_A_CLOUDEVENT|INVALID_ENVELOPE|UNKNOWN_EVENT_TYPE|INVALID_EVENT_DATA)$/);
      expect(d.dl?.reason.length).toBeGreaterThan(5);
      expect(d.dl?.originalSubject).toBe(subject);
      expect(d.dl?.deliveries).toBe(1);
    }
  });

  it('a handler that always fails: dead-lettered after max deliveries with count and reason; messages behind it are processed', async () => {
    await using f = await eventsFixture(natsUrl, { label: 'fail' });
    const pub = createPublisher({ js: f.js, ns: f.ns, source: 'vigil/test' });
    const spec = { durable: 'flaky', types: ['validation.requested'] as const, maxDeliver: 3 };
    await ensureConsumer(f.nc, spec, f.ns);
    const poison = await pub.publish('validation.requested', { suite: 'poison' });
    for (let i = 0; i < 5; i++) await pub.publish('validation.requested', { suite: `ok${i}` });
    const ok: string[] = [];
    let attempts = 0;
    const c = await consume({
      js: f.js,
      ns: f.ns,
      spec,
      retry: { initialMs: 20, maxMs: 100 },
      handler: async (e) => {
        if (e.data.suite === 'poison') {
          attempts++;
          throw new Error('backend unavailable');
        }
        ok.push(e.data.suite);
      },
    });
    await waitFor(() => c.stats.deadLettered === 1 && ok.length === 5, {
      message: 'poison dead-lettered and the rest processed',
    });
    await c.stop();
    expect(attempts).toBe(3);
    expect(ok).toEqual(['ok0', 'ok1', 'ok2', 'ok3', 'ok4']);
    const [d] = await deadLetters(f);
    expect(d?.dl).toMatchObject({
      consumer: 'flaky',
      code: 'MAX_DELIVERIES',
      deliveries: 3,
      originalSequence: poison.seq,
      originalStream: f.ns.stream,
    });
    expect(d?.dl?.reason).toMatch(/failed 3 of 3 deliveries; last error: backend unavailable/);
    expect(d?.subject).toBe(`${f.ns.deadLetterPrefix}.flaky`);
  });

  it('an outage outlasting every delivery holds the message in place: handled once it ends, no delivery spent, nothing dead-lettered', async () => {
    await using f = await eventsFixture(natsUrl, { label: 'outage' });
    const pub = createPublisher({ js: f.js, ns: f.ns, source: 'vigil/test' });
    // Ack wait shorter than the outage: the held message must keep its deadline extended.
    const spec = { durable: 'held', types: ['validation.requested'] as const, maxDeliver: 2, ackWaitMs: 1000 };
    await ensureConsumer(f.nc, spec, f.ns);
    await pub.publish('validation.requested', { suite: 'during-outage' });
    const down = { until: Date.now() + 2500 };
    const deliveries: number[] = [];
    class Down extends Error {}
    const c = await consume({
      js: f.js,
      ns: f.ns,
      spec,
      retry: { initialMs: 20, maxMs: 20 },
      outageRetry: { initialMs: 50, maxMs: 200 },
      isOutage: (e) => e instanceof Down,
      handler: async (_e, ctx) => {
        deliveries.push(ctx.deliveryCount);
        if (Date.now() < down.until) throw new Down('database unreachable');
      },
    });
    await waitFor(() => c.stats.processed === 1, { timeoutMs: 15_000, message: 'handled after the outage' });
    await c.stop();
    expect(c.stats.deadLettered).toBe(0);
    expect(c.stats.retried).toBe(0);
    expect(c.stats.outages).toBeGreaterThan(5);
    expect(new Set(deliveries)).toEqual(new Set([1]));
    expect(await deadLetters(f)).toEqual([]);
  });

  it('a permanent error is dead-lettered at once', async () => {
    await using f = await eventsFixture(natsUrl, { label: 'perm' });
    const pub = createPublisher({ js: f.js, ns: f.ns, source: 'vigil/test' });
    await ensureConsumer(f.nc, { durable: 'p' }, f.ns);
    await pub.publish('validation.requested', { suite: 'no-such-suite' });
    let calls = 0;
    const c = await consume({
      js: f.js,
      ns: f.ns,
      spec: { durable: 'p' },
      handler: async () => {
        calls++;
        throw new PermanentError("suite 'no-such-suite' does not exist");
      },
    });
    await waitFor(() => c.stats.deadLettered === 1, { message: 'dead letter' });
    // Terminated on the server, not left to come back when its ack wait runs out.
    const jsm = await jetstreamManager(f.nc);
    await waitFor(
      async () => {
        const i = await jsm.consumers.info(f.ns.stream, 'p');
        return i.num_ack_pending === 0 && i.num_pending === 0;
      },
      { message: 'the dead-lettered message settled on the server', timeoutMs: 5000 },
    );
    await c.stop();
    expect(calls).toBe(1);
    const [d] = await deadLetters(f);
    expect(d?.dl?.reason).toBe("suite 'no-such-suite' does not exist");
  });

  it('an event on another type’s subject is dead-lettered as TYPE_SUBJECT_MISMATCH by every consumer, and replay refuses it', async () => {
    await using f = await eventsFixture(natsUrl, { label: 'smuggle' });
    // A body of validation.completed on the sli.observed subject, which a client may publish.
    const smuggled = createEvent('validation.completed', samples['validation.completed'], { source: 'vigil/test' });
    const { data, headers } = encodeStructured(smuggled);
    await f.js.publish(subjectOf(f.ns, 'sli.observed'), data, { headers, msgID: smuggled.id });
    const legit = await createPublisher({ js: f.js, ns: f.ns, source: 'vigil/test' }).publish(
      'sli.observed',
      samples['sli.observed'],
    );
    const handled: string[] = [];
    const consumers: RunningConsumer[] = [];
    // A service's consumer of sli.observed, and a tool's consumer of every type.
    for (const spec of [{ durable: 'slis', types: ['sli.observed' as const] }, { durable: 'all' }]) {
      await ensureConsumer(f.nc, spec, f.ns);
      consumers.push(
        await consume({ js: f.js, ns: f.ns, spec, handler: async (e) => void handled.push(`${spec.durable}:${e.id}`) }),
      );
    }
    await waitFor(() => consumers.every((c) => c.stats.deadLettered + c.stats.processed === 2), {
      message: 'both consumers settle both messages',
    });
    for (const c of consumers) await c.stop();
    expect(handled.sort()).toEqual([`all:${legit.id}`, `slis:${legit.id}`]);
    const dls = await deadLetters(f);
    expect(dls.map((d) => [d.subject, d.dl?.code]).sort()).toEqual([
      [`${f.ns.deadLetterPrefix}.all`, 'TYPE_SUBJECT_MISMATCH'],
      [`${f.ns.deadLetterPrefix}.slis`, 'TYPE_SUBJECT_MISMATCH'],
    ]);
    expect(dls[0]?.dl?.reason).toBe(
      `event type 'validation.completed' arrived on subject '${subjectOf(f.ns, 'sli.observed')}'; its subject is '${subjectOf(f.ns, 'validation.completed')}'`,
    );
    const invalid: string[] = [];
    const replayed = await collect(
      replay(f.nc, { ns: f.ns, start: { from: 'beginning' }, onInvalid: (e) => invalid.push(e.message) }),
    );
    expect(replayed.map((x) => x.event.id)).toEqual([legit.id]);
    expect(invalid).toEqual([expect.stringMatching(/^event type 'validation.completed' arrived on subject/)]);
  });

  it('an event with a time far in the future or the distant past is dead-lettered as EVENT_TIME_OUT_OF_RANGE, and replay refuses it', async () => {
    await using f = await eventsFixture(natsUrl, { label: 'times' });
    const raw = async (e: VigilEvent) => {
      const { data, headers } = encodeStructured(e);
      await f.js.publish(subjectOf(f.ns, e.type), data, { headers, msgID: e.id });
      return e.id;
    };
    const soon = new Date(Date.now() + 60_000).toISOString();
    const forged = [
      createEvent(
        'validation.completed',
        { ...samples['validation.completed'], completedAt: '9999-12-31T23:59:59Z' },
        { source: 'vigil/test' },
      ),
      createEvent(
        'sli.observed',
        { ...samples['sli.observed'], observedAt: '0001-01-01T00:00:00Z' },
        { source: 'vigil/test' },
      ),
      createEvent('sli.observed', samples['sli.observed'], { source: 'vigil/test', time: '2999-01-01T00:00:00Z' }),
    ] as VigilEvent[];
    for (const e of forged) await raw(e);
    // A sender's clock a minute ahead is skew, not forgery.
    const legit = await raw(
      createEvent(
        'sli.observed',
        { ...samples['sli.observed'], observedAt: soon },
        { source: 'vigil/test', time: soon },
      ),
    );
    const handled: string[] = [];
    await ensureConsumer(f.nc, { durable: 'all' }, f.ns);
    const c = await consume({
      js: f.js,
      ns: f.ns,
      spec: { durable: 'all' },
      handler: async (e) => void handled.push(e.id),
    });
    await waitFor(() => c.stats.deadLettered + c.stats.processed === 4, { message: 'all four settled' });
    await c.stop();
    expect(handled).toEqual([legit]);
    const dls = await deadLetters(f);
    expect(dls.map((d) => d.dl?.code)).toEqual(Array(3).fill('EVENT_TIME_OUT_OF_RANGE'));
    expect(dls.map((d) => d.dl?.reason)).toEqual([
      expect.stringMatching(
        /^completedAt "9999-12-31T23:59:59Z" is \d+ days after the stream stored the event \(.*\); at most 5 min of clock skew is accepted$/,
      ),
      expect.stringMatching(
        /^observedAt "0001-01-01T00:00:00Z" is \d+ days before the stream stored the event; at most 400 days are accepted$/,
      ),
      expect.stringMatching(/^time "2999-01-01T00:00:00Z" is \d+ days after/),
    ]);
    const replayed = await collect(
      replay(f.nc, { ns: f.ns, start: { from: 'beginning' }, onInvalid: () => undefined }),
    );
    expect(replayed.map((x) => x.event.id)).toEqual([legit]);
  });

  it('stop() lets in-flight work finish, and a message whose process died is dead-lettered on the extra delivery', async () => {
    await using f = await eventsFixture(natsUrl, { label: 'stop' });
    const pub = createPublisher({ js: f.js, ns: f.ns, source: 'vigil/test' });
    const spec = { durable: 's', maxDeliver: 1, ackWaitMs: 300 };
    await ensureConsumer(f.nc, spec, f.ns);
    await pub.publish('validation.requested', { suite: 'slow' });
    let finished = false;
    let started = false;
    let stopping = false;
    const c1 = await consume({
      js: f.js,
      ns: f.ns,
      spec,
      handler: async (_e, ctx) => {
        started = true;
        ctx.working();
        await waitFor(() => stopping, { message: 'stop called' });
        finished = true;
      },
    });
    await waitFor(() => started, { message: 'handler started' });
    const stopped = c1.stop(5000);
    stopping = true;
    await stopped;
    expect(finished).toBe(true);
    expect(c1.stats.processed).toBe(1);

    // A delivery that never gets an outcome (the handler hangs past the ack wait, as a dead process would).
    await pub.publish('validation.requested', { suite: 'hang' });
    let hangs = 0;
    const c2 = await consume({
      js: f.js,
      ns: f.ns,
      spec,
      concurrency: 2,
      handler: () => {
        hangs++;
        return new Promise<void>(() => undefined);
      },
    });
    await waitFor(() => c2.stats.deadLettered === 1, { message: 'extra delivery dead-lettered', timeoutMs: 10_000 });
    await c2.stop(100);
    expect(hangs).toBe(1);
    const [d] = await deadLetters(f);
    expect(d?.dl?.code).toBe('MAX_DELIVERIES_EXCEEDED');
    expect(d?.dl?.deliveries).toBe(2);
  });
});

describe('replay', () => {
  it('by sequence, by time, last N, filtered by type: exactly the expected events, in order, and it ends', async () => {
    await using f = await eventsFixture(natsUrl, { label: 'replay' });
    const pub = createPublisher({ js: f.js, ns: f.ns, source: 'vigil/test' });
    const types: EventType[] = ['validation.requested', 'sli.observed'];
    const seqs: { seq: number; type: EventType }[] = [];
    let since = new Date(0);
    for (let i = 0; i < 30; i++) {
      if (i === 20) {
        // A time strictly between event 20 and 21 (stream times are finer than a millisecond).
        const before = Date.now();
        await waitFor(() => Date.now() > before + 1, { message: 'the clock to move on' });
        since = new Date();
        await waitFor(() => Date.now() > since.getTime() + 1, { message: 'the clock to move on' });
      }
      const type = types[i % 2] as EventType;
      const r = await pub.publish(type, samples[type]);
      seqs.push({ seq: r.seq, type });
    }
    const jsm = await jetstreamManager(f.nc);
    const seqsOf = (r: ReplayedEvent[]) => r.map((x) => x.seq);

    expect(seqsOf(await collect(replay(f.nc, { ns: f.ns, start: { fromSeq: 11 } })))).toEqual(
      seqs.slice(10).map((s) => s.seq),
    );
    expect(seqsOf(await collect(replay(f.nc, { ns: f.ns, start: { since } })))).toEqual(
      seqs.filter((s) => s.seq >= seqs[20]!.seq).map((s) => s.seq),
    );
    expect(seqsOf(await collect(replay(f.nc, { ns: f.ns, start: { last: 5 } })))).toEqual(
      seqs.slice(-5).map((s) => s.seq),
    );
    const onlySli = await collect(replay(f.nc, { ns: f.ns, start: { last: 4 }, types: ['sli.observed'] }));
    expect(seqsOf(onlySli)).toEqual(
      seqs
        .filter((s) => s.type === 'sli.observed')
        .slice(-4)
        .map((s) => s.seq),
    );
    expect(onlySli.every((r) => r.event.type === 'sli.observed')).toBe(true);
    const both = await collect(replay(f.nc, { ns: f.ns, start: { from: 'beginning' }, types }));
    expect(seqsOf(both)).toEqual(seqs.map((s) => s.seq));
    expect(seqsOf(await collect(replay(f.nc, { ns: f.ns, start: { fromSeq: 5 }, until: { seq: 9 } })))).toEqual([
      5, 6, 7, 8, 9,
    ]);
    expect(await collect(replay(f.nc, { ns: f.ns, start: { fromSeq: 1000 } }))).toEqual([]);
    // Nothing is left behind on the server.
    expect((await jsm.streams.info(f.ns.stream)).state.consumer_count).toBe(0);
  });

  it('an empty stream replays nothing and ends; follow mode goes on with new events', async () => {
    await using f = await eventsFixture(natsUrl, { label: 'follow' });
    expect(await collect(replay(f.nc, { ns: f.ns, start: { from: 'beginning' } }))).toEqual([]);
    const pub = createPublisher({ js: f.js, ns: f.ns, source: 'vigil/test' });
    await pub.publish('sli.observed', samples['sli.observed']);
    const got: number[] = [];
    const follow = (async () => {
      for await (const r of replay(f.nc, { ns: f.ns, start: { from: 'beginning' }, follow: true })) {
        got.push(r.seq);
        if (got.length === 3) break;
      }
    })();
    await waitFor(() => got.length === 1, { message: 'history read' });
    await pub.publish('sli.observed', samples['sli.observed']);
    await pub.publish('sli.observed', samples['sli.observed']);
    await follow;
    expect(got).toEqual([1, 2, 3]);
  });
});

describe('topology', () => {
  it('is idempotent and reports a conflicting stream without changing it', async () => {
    await using f = await eventsFixture(natsUrl, { label: 'topo' });
    expect(await ensureStreams(f.nc, { ns: f.ns })).toEqual({ events: 'exists', deadLetter: 'exists' });
    const err = await ensureStreams(f.nc, { ns: f.ns, maxAgeMs: 60_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TopologyConflictError);
    expect((err as Error).message).toMatch(
      new RegExp(`stream '${f.ns.stream}'.*max_age: expected 60000000000, found 604800000000000`),
    );
    const jsm = await jetstreamManager(f.nc);
    expect((await jsm.streams.info(f.ns.stream)).config.max_age).toBe(604_800_000_000_000);
    expect(await ensureConsumer(f.nc, { durable: 'c', types: ['slo.burn'] }, f.ns)).toBe('created');
    expect(await ensureConsumer(f.nc, { durable: 'c', types: ['slo.burn'] }, f.ns)).toBe('exists');
  });

  it('a consumer whose spec changed is updated in place, keeping its position; one with a policy JetStream cannot change is made again from its ack floor', async () => {
    await using f = await eventsFixture(natsUrl, { label: 'topoupd' });
    const jsm = await jetstreamManager(f.nc);
    const pub = createPublisher({ js: f.js, ns: f.ns, source: 'vigil/test' });
    expect(await ensureConsumer(f.nc, { durable: 'c', types: ['slo.burn'] }, f.ns)).toBe('created');
    for (let i = 0; i < 3; i++) await pub.publish('slo.burn', samples['slo.burn']);
    const c = await f.js.consumers.get(f.ns.stream, 'c');
    const first = await c.next({ expires: 5000 });
    first?.ack();
    await first?.ackAck();

    // Other types and another ack wait: changed in place; what was acked stays acked.
    const spec = { durable: 'c', types: ['chaos.requested' as const], ackWaitMs: 45_000, maxDeliver: 9 };
    expect(await ensureConsumer(f.nc, spec, f.ns)).toBe('updated');
    let info = await jsm.consumers.info(f.ns.stream, 'c');
    expect(info.config.filter_subject).toBe(subjectOf(f.ns, 'chaos.requested'));
    expect(info.config.ack_wait).toBe(45_000_000_000);
    expect(info.config.max_deliver).toBe(10);
    expect(info.ack_floor.stream_seq).toBe(first?.seq);
    expect(await ensureConsumer(f.nc, spec, f.ns)).toBe('exists');

    // Back to slo.burn, then made by hand with another ack policy: made again from the ack floor.
    expect(await ensureConsumer(f.nc, { durable: 'c', types: ['slo.burn'] }, f.ns)).toBe('updated');
    await jsm.consumers.delete(f.ns.stream, 'c');
    await jsm.consumers.add(f.ns.stream, {
      durable_name: 'c',
      ack_policy: AckPolicy.All,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: 2,
      filter_subject: subjectOf(f.ns, 'slo.burn'),
    });
    expect(await ensureConsumer(f.nc, { durable: 'c', types: ['slo.burn'] }, f.ns)).toBe('recreated');
    info = await jsm.consumers.info(f.ns.stream, 'c');
    expect(info.config.ack_policy).toBe(AckPolicy.Explicit);
    expect(info.config.opt_start_seq).toBe(2);
    const again = await (await f.js.consumers.get(f.ns.stream, 'c')).next({ expires: 5000 });
    expect(again?.seq).toBe(2);
    // Made again, it is as the spec says: the next start finds it so.
    expect(await ensureConsumer(f.nc, { durable: 'c', types: ['slo.burn'] }, f.ns)).toBe('exists');
  });

  it('both streams have byte and message-size limits: a message over them is refused by the server; streams made without them get them', async () => {
    await using f = await eventsFixture(natsUrl, {
      label: 'limits',
      maxBytes: DEFAULT_EVENTS_MAX_BYTES,
      deadLetterMaxBytes: DEFAULT_DEAD_LETTER_MAX_BYTES,
    });
    const jsm = await jetstreamManager(f.nc);
    const events = (await jsm.streams.info(f.ns.stream)).config;
    const dlq = (await jsm.streams.info(f.ns.deadLetterStream)).config;
    expect([events.max_bytes, events.max_msg_size, events.discard]).toEqual([
      1024 ** 3,
      MAX_STREAM_MESSAGE_BYTES,
      'old',
    ]);
    expect([dlq.max_bytes, dlq.max_msg_size, dlq.discard]).toEqual([
      256 * 1024 ** 2,
      MAX_DEAD_LETTER_MESSAGE_BYTES,
      'old',
    ]);
    // 1 MB, as a hostile client published: the stream refuses it (it used to be stored).
    await expect(f.js.publish(subjectOf(f.ns, 'sli.observed'), new Uint8Array(1_000_000))).rejects.toThrow(
      /message size exceeds maximum allowed/,
    );
    // A stream made by an earlier version, without the limits, gets them in place.
    await jsm.streams.update(f.ns.stream, { max_bytes: -1, max_msg_size: -1 });
    expect(await ensureStreams(f.nc, { ns: f.ns, deadLetterMaxBytes: DEFAULT_DEAD_LETTER_MAX_BYTES })).toEqual({
      events: 'exists',
      deadLetter: 'exists',
    });
    expect((await jsm.streams.info(f.ns.stream)).config.max_msg_size).toBe(MAX_STREAM_MESSAGE_BYTES);
  });

  it('a dead letter of a body over the size limit keeps its first 4 KiB and says how large it was', async () => {
    await using f = await eventsFixture(natsUrl, { label: 'bigdl' });
    // Over the 256 KiB event limit, under the stream's message limit (headroom for headers).
    const body = new Uint8Array(MAX_EVENT_BYTES + 1000).fill(0x20);
    await f.js.publish(subjectOf(f.ns, 'sli.observed'), body);
    const spec = { durable: 'a' };
    await ensureConsumer(f.nc, spec, f.ns);
    const c = await consume({ js: f.js, ns: f.ns, spec, handler: async () => undefined });
    await waitFor(() => c.stats.deadLettered === 1, { message: 'the big body dead-lettered' });
    await c.stop();
    const [d] = await deadLetters(f);
    expect(d?.dl).toMatchObject({ code: 'EVENT_TOO_LARGE', truncatedFrom: MAX_EVENT_BYTES + 1000 });
    expect(d?.data.length).toBe(DEAD_LETTER_KEPT_BYTES);
  });
});
