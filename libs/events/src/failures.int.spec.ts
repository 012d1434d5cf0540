import fc from 'fast-check';
import { headers as createHeaders } from '@nats-io/nats-core';
import { describe, expect, it, inject } from 'vitest';
import { waitFor } from '@vigil/testkit';
import { encodeStructured } from './binding.js';
import { consume, type RunningConsumer } from './consume.js';
import { createEvent, type VigilEvent } from './envelope.js';
import { PermanentError } from './errors.js';
import { createPublisher } from './publish.js';
import { subjectOf } from './registry.js';
import { replay } from './replay.js';
import { ensureConsumer } from './topology.js';
import { collect, deadLetters, eventsFixture, samples } from './testing/index.js';

const natsUrl = inject('natsUrl');

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
    await c.whenIdle(5000);
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
