import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, headers as createHeaders, type NatsConnection } from '@nats-io/transport-node';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  createEvent,
  encodeStructured,
  eventTypes,
  readDeadLetters,
  replay,
  subjectOf,
  type EventType,
} from '@vigil/events';
import { hostileMessages, hostileValidEvents, type RawMessage } from '@vigil/events/testing';
import { waitFor } from '@vigil/testkit';
import { portOf, scrape, startPipeline, type Pipeline } from './support/pipeline.js';

/**
 * Every consumer of every service, fed hostile input among valid events (fast-check, fixed seed):
 * malformed envelopes, wrong types, oversized bodies, invalid UTF-8, missing and extra attributes,
 * and valid events with hostile strings in every field. Each bad message is dead-lettered with a
 * reason by every consumer it reaches, nothing crashes, and no valid event is lost.
 */
const SEED = 20261122;
const CONSUMERS: Record<string, { service: string; types?: readonly EventType[] }> = {
  validator: { service: 'validator', types: ['validation.requested'] },
  'slo-engine': { service: 'slo-engine' },
  anomaly: { service: 'anomaly' },
  chaos: { service: 'chaos', types: ['chaos.requested'] },
  'chaos-aborts': { service: 'chaos', types: ['chaos.abort.requested'] },
  'chaos-validations': { service: 'chaos', types: ['validation.completed'] },
};
const decodeCodes = [
  'NOT_A_CLOUDEVENT',
  'INVALID_ENVELOPE',
  'UNKNOWN_EVENT_TYPE',
  'INVALID_EVENT_DATA',
  'EVENT_TOO_LARGE',
];

let p: Pipeline;
let nc: NatsConnection;
let jsm: JetStreamManager;

beforeAll(async () => {
  p = await startPipeline({
    label: 'fuzz',
    natsUrls: [inject('natsUrl')],
    postgresUrl: inject('databaseUrl'),
    services: ['outbox-relay', 'validator', 'slo-engine', 'anomaly', 'chaos'],
  });
  nc = await connect({ servers: inject('natsUrl') });
  jsm = await jetstreamManager(nc);
}, 240_000);

afterAll(async () => {
  await nc?.close();
  await p?.dispose();
});

const reaches = (consumer: string, subject: string) => {
  const types = CONSUMERS[consumer]!.types;
  return types === undefined || types.some((t) => subjectOf(p.ns, t) === subject);
};

describe('fuzzing every consumer', () => {
  it('hostile messages are dead-lettered with a reason by each consumer they reach; valid events among them all processed; nothing crashes', async () => {
    const js = jetstream(nc);
    const hostile = fc.sample(hostileMessages(p.ns), { numRuns: 120, seed: SEED });
    const odd = fc.sample(hostileValidEvents(), { numRuns: 40, seed: SEED });
    const bad = new Map<number, RawMessage>();
    const good: string[] = [];
    const oddSeqs = new Map<number, { type: EventType; id: string }>();
    const smuggled = new Map<number, { type: EventType; subject: string }>();
    // Interleaved: a valid request after every third hostile message.
    for (const [i, m] of hostile.entries()) {
      const h = createHeaders();
      for (const [k, v] of Object.entries(m.headers)) h.set(k, v);
      bad.set((await js.publish(m.subject, m.data, { headers: h })).seq, m);
      if (i % 3 === 0) {
        const e = createEvent(
          'validation.requested',
          { suite: 'pipeline', requestedBy: 'fuzz' },
          { source: 'vigil/fuzz' },
        );
        const { data, headers } = encodeStructured(e);
        await js.publish(subjectOf(p.ns, 'validation.requested'), data, { headers });
        good.push(e.id);
      }
      const o = odd[i % odd.length];
      if (i < odd.length && o !== undefined) {
        const e = createEvent(o.type, o.data as never, { source: 'vigil/fuzz' });
        const { data, headers } = encodeStructured(e);
        oddSeqs.set((await js.publish(subjectOf(p.ns, o.type), data, { headers })).seq, { type: o.type, id: e.id });
        // The same kind of event smuggled onto another type's subject (a fresh id, so the stream's
        // duplicate window does not drop it).
        const other = eventTypes.filter((t) => t !== o.type)[i % (eventTypes.length - 1)]!;
        const s2 = encodeStructured(createEvent(o.type, o.data as never, { source: 'vigil/fuzz' }));
        const subject = subjectOf(p.ns, other);
        smuggled.set((await js.publish(subject, s2.data, { headers: s2.headers })).seq, { type: o.type, subject });
      }
    }

    // The valid requests among them are all answered (then the completions, too, are in the stream
    // for the consumers that take them).
    const unanswered = async () => {
      const answered = new Set<string>();
      for await (const r of replay(nc, { ns: p.ns, start: { from: 'beginning' }, types: ['validation.completed'] })) {
        if (r.event.data.suite === 'pipeline') answered.add(r.event.data.requestId);
      }
      return good.filter((id) => !answered.has(id));
    };
    await waitFor(async () => (await unanswered()).length === 0, {
      timeoutMs: 120_000,
      intervalMs: 500,
      message: 'every valid request answered',
    }).catch(async (e: unknown) => {
      expect(await unanswered(), String(e)).toEqual([]);
    });

    // Every consumer has taken every message and settled it.
    for (const consumer of Object.keys(CONSUMERS)) {
      await waitFor(
        async () => {
          const i = await jsm.consumers.info(p.ns.stream, consumer);
          if (i.num_pending === 0 && i.num_ack_pending === 0) return true;
          // The failure message says where it stood.
          throw new Error(
            `${i.num_pending} pending, ${i.num_ack_pending} unacked, ${i.num_redelivered} redelivered; ${
              (p.procs.get(CONSUMERS[consumer]!.service as never) ?? [])
                .flatMap((x) => x.logs.filter((l) => l.level >= 40).slice(-3))
                .map((l) => JSON.stringify(l).slice(0, 600))
                .join('\n') || 'no warnings logged'
            }`,
          );
        },
        { timeoutMs: 120_000, intervalMs: 500, message: `${consumer} to settle every message` },
      );
    }

    // Dead letters: by consumer and original sequence.
    const letters = new Map<string, { code: string; reason: string }>();
    for await (const { why } of readDeadLetters(nc, { ns: p.ns })) {
      if (why) letters.set(`${why.consumer}/${why.originalSequence}`, { code: why.code, reason: why.reason });
    }
    for (const [seq, m] of bad) {
      for (const consumer of Object.keys(CONSUMERS)) {
        if (!reaches(consumer, m.subject)) continue;
        const d = letters.get(`${consumer}/${seq}`);
        expect(d, `${consumer} did not dead-letter #${seq} (${m.why})`).toBeDefined();
        expect(decodeCodes, `${consumer} #${seq} (${m.why})`).toContain(d!.code);
        expect(d!.reason.length).toBeGreaterThan(10);
      }
    }

    // Valid events on another type's subject: every consumer they reach refuses them.
    for (const [seq, m] of smuggled) {
      for (const consumer of Object.keys(CONSUMERS)) {
        if (!reaches(consumer, m.subject)) continue;
        expect(letters.get(`${consumer}/${seq}`)?.code, `${consumer}: ${m.type} on ${m.subject} (#${seq})`).toBe(
          'TYPE_SUBJECT_MISMATCH',
        );
      }
    }

    // Valid events with hostile strings: handled, or dead-lettered with a reason; never lost silently.
    const inbox = async (consumer: string, id: string) =>
      (
        await p.query<{ n: string }>(`select count(*) as n from outbox.inbox where consumer = $1 and event_id = $2`, [
          consumer,
          id,
        ])
      )[0]!.n === '1';
    for (const [seq, o] of oddSeqs) {
      for (const consumer of ['validator', 'anomaly', 'chaos-aborts', 'chaos-validations']) {
        if (!reaches(consumer, subjectOf(p.ns, o.type))) continue;
        const settled = letters.has(`${consumer}/${seq}`) || (await inbox(consumer, o.id));
        expect(settled, `${consumer}: #${seq} ${o.type} neither handled nor dead-lettered`).toBe(true);
      }
    }

    // Nothing crashed: every process is alive and ready, and says how it went.
    const summary: string[] = [];
    for (const [service, list] of p.procs) {
      for (const proc of list) {
        expect(proc.child.exitCode, `${service} exited: ${proc.stderrText}`).toBeNull();
        expect((await fetch(`http://127.0.0.1:${portOf(proc)}/readyz`)).status, service).toBe(200);
        if (service === 'outbox-relay') continue;
        const m = await scrape(proc);
        for (const [consumer, c] of Object.entries(CONSUMERS)) {
          if (c.service !== service) continue;
          const n = (o: string) => m.get(`vigil_consumer_messages_total{consumer="${consumer}",outcome="${o}"}`) ?? 0;
          summary.push(
            `${consumer.padEnd(18)}${String(n('processed')).padStart(10)}${String(n('dead_lettered')).padStart(15)}${String(n('skipped')).padStart(9)}\n`,
          );
        }
      }
    }
    process.stdout.write(
      `\nfuzz: ${hostile.length} hostile messages, ${oddSeqs.size} valid events with hostile strings, ${smuggled.size} on another type's subject, ${good.length} valid requests (seed ${SEED})\n` +
        `${'consumer'.padEnd(18)}${'processed'.padStart(10)}${'dead-lettered'.padStart(15)}${'skipped'.padStart(9)}\n${summary.join('')}`,
    );
  }, 300_000);
});
