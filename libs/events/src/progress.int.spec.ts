import { jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it, inject } from 'vitest';
import { consume } from './consume.js';
import { ConsumeTimeoutError } from './errors.js';
import { createPublisher } from './publish.js';
import { ensureConsumer } from './topology.js';
import { eventsFixture, samples } from './testing/index.js';

const natsUrl = inject('natsUrl');

/** A gate a handler waits at until the test opens it. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

describe('waiting on a consumer’s progress, as the server sees it', () => {
  it('whenProcessed(seq) resolves once that message and those before it are acknowledged, not before', async () => {
    await using f = await eventsFixture(natsUrl, { label: 'progress' });
    const pub = createPublisher({ js: f.js, ns: f.ns, source: 'vigil/test' });
    await ensureConsumer(f.nc, { durable: 'p' }, f.ns);
    const seqs: number[] = [];
    for (let i = 0; i < 5; i++) seqs.push((await pub.publish('sli.observed', samples['sli.observed'])).seq);
    const third = gate();
    const handled: number[] = [];
    const c = await consume({
      js: f.js,
      ns: f.ns,
      spec: { durable: 'p' },
      handler: async (_, ctx) => {
        if (ctx.streamSequence === seqs[2]) await third.opened;
        handled.push(ctx.streamSequence);
      },
    });
    try {
      await c.whenProcessed(seqs[1]!);
      expect(handled).toEqual(seqs.slice(0, 2));
      // The third is held: waiting for it times out, naming the floor the server reports.
      await expect(c.whenProcessed(seqs[2]!, 300)).rejects.toThrow(ConsumeTimeoutError);
      await expect(c.whenProcessed(seqs[2]!, 300)).rejects.toThrow(
        `p: not past stream sequence ${seqs[2]} within 300 ms (ack floor at ${seqs[1]})`,
      );
      third.open();
      await c.whenProcessed(seqs[4]!);
      expect(handled).toEqual(seqs);
      const info = await (await jetstreamManager(f.nc)).consumers.info(f.ns.stream, 'p');
      expect(info.ack_floor.stream_seq).toBeGreaterThanOrEqual(seqs[4]!);
    } finally {
      third.open();
      await c.stop();
    }
  });

  it('whenIdle() waits for work in flight and messages not yet delivered; it times out naming them', async () => {
    await using f = await eventsFixture(natsUrl, { label: 'idle' });
    const pub = createPublisher({ js: f.js, ns: f.ns, source: 'vigil/test' });
    await ensureConsumer(f.nc, { durable: 'i' }, f.ns);
    const held = gate();
    let handled = 0;
    const c = await consume({
      js: f.js,
      ns: f.ns,
      spec: { durable: 'i' },
      handler: async () => {
        await held.opened;
        handled++;
      },
    });
    try {
      await c.whenIdle(); // nothing published yet
      for (let i = 0; i < 20; i++) await pub.publish('sli.observed', samples['sli.observed']);
      await expect(c.whenIdle(300)).rejects.toThrow(/i: not idle within 300 ms \((1 in flight here|\d+ undelivered)/);
      held.open();
      await c.whenIdle();
      expect(handled).toBe(20);
      expect(c.stats.processed).toBe(20);
      const info = await (await jetstreamManager(f.nc)).consumers.info(f.ns.stream, 'i');
      expect([info.num_pending, info.num_ack_pending]).toEqual([0, 0]);
    } finally {
      held.open();
      await c.stop();
    }
  });
});
