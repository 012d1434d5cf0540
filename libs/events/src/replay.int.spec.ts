import { jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it, inject } from 'vitest';
import { waitFor } from '@vigil/testkit';
import { createPublisher } from './publish.js';
import { type EventType } from './registry.js';
import { replay, type ReplayedEvent } from './replay.js';
import { collect, eventsFixture, samples } from './testing/index.js';

const natsUrl = inject('natsUrl');

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
