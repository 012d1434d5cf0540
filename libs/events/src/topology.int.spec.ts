import { AckPolicy, DeliverPolicy, jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it, inject } from 'vitest';
import { waitFor } from '@vigil/testkit';
import { consume } from './consume.js';
import { DEAD_LETTER_KEPT_BYTES } from './deadletter.js';
import { MAX_EVENT_BYTES, TopologyConflictError } from './errors.js';
import { createPublisher } from './publish.js';
import { subjectOf } from './registry.js';
import {
  DEFAULT_DEAD_LETTER_MAX_BYTES,
  DEFAULT_EVENTS_MAX_BYTES,
  ensureConsumer,
  ensureStreams,
  MAX_DEAD_LETTER_MESSAGE_BYTES,
  MAX_STREAM_MESSAGE_BYTES,
} from './topology.js';
import { deadLetters, eventsFixture, samples } from './testing/index.js';

const natsUrl = inject('natsUrl');

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
