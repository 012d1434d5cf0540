import { context, trace } from '@opentelemetry/api';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  createEvent,
  createPublisher,
  encodeStructured,
  ensureConsumer,
  PermanentError,
  readDeadLetters,
  subjectOf,
} from '@vigil/events';
import { eventsFixture, installTestTracing, samples } from '@vigil/events/testing';
import { waitFor } from '@vigil/testkit';
import { consumeIdempotent } from './inbox.js';
import { migrateOutbox } from './migrations.js';
import { createOutbox } from './outbox.js';
import { testDatabase } from './testing/database.js';

let tracing: ReturnType<typeof installTestTracing>;
beforeAll(() => {
  tracing = installTestTracing();
});
afterAll(() => tracing.dispose());

interface App {
  'app.applied': { seq: number; event_id: string; tx: string };
}

/** A migrated database with `app.applied`, a namespace, a publisher and a consumer `durable` on validation.requested. */
async function groupFixture(label: string, durable: string) {
  const d = await testDatabase<App>(inject('databaseUrl'));
  const f = await eventsFixture(inject('natsUrl'), { label });
  await migrateOutbox(d.db);
  await sql`create schema app; create table app.applied (seq serial primary key, event_id text not null, tx text not null)`.execute(
    d.db,
  );
  const spec = { durable, types: ['validation.requested'] as const };
  await ensureConsumer(f.nc, spec, f.ns);
  return {
    db: d.db,
    f,
    spec,
    pub: createPublisher({ js: f.js, ns: f.ns, source: 'vigil/test' }),
    async [Symbol.asyncDispose]() {
      await f[Symbol.asyncDispose]();
      await d[Symbol.asyncDispose]();
    },
  };
}

describe('consumeIdempotent with groupCommit', () => {
  it('shares transactions among waiting events, applies each once in stream order with its own trace, and lets a bad event fail alone', async () => {
    await using g = await groupFixture('group', 'grouped');
    const { db, f, spec, pub } = g;
    // Everything is in the stream before the consumer starts, so events wait behind the first
    // transaction and groups form. Among them: one event three times (JetStream would dedupe a
    // republish, so under three message ids), one the handler refuses, one PostgreSQL refuses.
    const tracer = trace.getTracer('test');
    const traceOf = new Map<string, string>();
    const valid: string[] = [];
    const twice = createEvent('validation.requested', { suite: 'repeated' }, { source: 'vigil/test' });
    for (let i = 0; i < 120; i++) {
      if (i === 10 || i === 50 || i === 51) {
        const { data, headers } = encodeStructured(twice);
        await f.js.publish(subjectOf(f.ns, 'validation.requested'), data, { headers, msgID: `copy-${i}` });
        if (i === 10) valid.push(twice.id);
        continue;
      }
      const suite = i === 40 ? 'poison' : i === 70 ? 'nul\u0000byte' : `s${i}`;
      const root = tracer.startSpan(`request ${i}`);
      const p = await context.with(trace.setSpan(context.active(), root), () =>
        pub.publish('validation.requested', { suite }),
      );
      root.end();
      if (suite.startsWith('s')) {
        valid.push(p.id);
        traceOf.set(p.id, p.traceId!);
      }
    }

    const outbox = createOutbox({ ns: f.ns });
    const c = await consumeIdempotent({
      js: f.js,
      ns: f.ns,
      db,
      spec,
      concurrency: 32,
      groupCommit: true,
      handler: async (tx, event) => {
        if (event.data.suite === 'poison') throw new PermanentError('this suite is refused');
        await sql`insert into app.applied (event_id, tx) values (${event.id}, txid_current()::text)`.execute(tx);
        if (event.data.suite.includes('\u0000')) await sql`select ${event.data.suite}::text`.execute(tx);
        await outbox.add(
          tx,
          createEvent(
            'validation.completed',
            { ...samples['validation.completed'], requestId: event.id },
            { source: 'vigil/test', id: `done-${event.id}` },
          ),
        );
      },
    });
    await waitFor(() => c.stats.processed + c.stats.deadLettered === 120, {
      message: 'all 120 messages settled',
      timeoutMs: 20_000,
    }).catch((e: unknown) => {
      throw new Error(`${String(e)}: ${JSON.stringify(c.stats)}`);
    });
    await c.stop();

    expect(c.stats.deadLettered).toBe(2);
    const dls = [];
    for await (const l of readDeadLetters(f.nc, { ns: f.ns })) dls.push(l.why!);
    expect(dls.map((d) => [d.code, d.deliveries])).toEqual([
      ['PERMANENT', 1],
      ['PERMANENT', 1],
    ]);
    expect(dls[0]?.reason).toBe('this suite is refused');
    expect(dls[1]?.reason).toMatch(/the database refused the event's data/);

    const applied = await db.selectFrom('app.applied').select(['event_id', 'tx']).orderBy('seq').execute();
    // Once each, in the order the stream holds them.
    expect(applied.map((r) => r.event_id)).toEqual(valid);
    const groupSizes = new Map<string, number>();
    for (const r of applied) groupSizes.set(r.tx, (groupSizes.get(r.tx) ?? 0) + 1);
    expect(Math.max(...groupSizes.values())).toBeGreaterThan(1);
    expect(groupSizes.size).toBeLessThan(applied.length);

    // The inbox and the outbox hold exactly the applied events.
    const inbox = await db.selectFrom('outbox.inbox').select('event_id').execute();
    expect(inbox.map((r) => r.event_id).sort()).toEqual([...valid].sort());
    const rows = await db.selectFrom('outbox.events').select(['event_id', 'payload']).execute();
    expect(rows.map((r) => r.event_id).sort()).toEqual(valid.map((id) => `done-${id}`).sort());
    // Each emitted event continues the trace of the event that caused it, not its group's first.
    for (const r of rows) {
      const requestId = r.event_id.slice('done-'.length);
      const expected = traceOf.get(requestId);
      if (expected === undefined) continue; // the repeated event was published without a trace
      const body = JSON.parse(Buffer.from(r.payload).toString('utf8')) as { traceparent?: string };
      expect(body.traceparent?.split('-')[1], requestId).toBe(expected);
    }
  });
  it('lingerMs holds a lone event for others to join it, and a full group goes at once', async () => {
    await using g = await groupFixture('linger', 'lingering');
    const { db, f, spec, pub } = g;
    let commits = 0;
    const c = await consumeIdempotent({
      js: f.js,
      ns: f.ns,
      db,
      spec,
      concurrency: 8,
      groupCommit: { lingerMs: 1500 },
      handler: async (tx, event) => {
        await sql`insert into app.applied (event_id, tx) values (${event.id}, txid_current()::text)`.execute(tx);
      },
      beforeCommit: async () => {
        commits++;
      },
    });
    const groups = async () =>
      (
        await sql<{ n: number }>`select count(*)::int as n from app.applied group by tx order by min(seq)`.execute(db)
      ).rows.map((r) => r.n);
    // Three events published one after another, each while the consumer is idle: without the
    // linger the first would commit alone.
    for (let i = 0; i < 3; i++) await pub.publish('validation.requested', { suite: `a${i}` });
    await waitFor(() => c.stats.processed === 3, { message: 'the first three', timeoutMs: 10_000 });
    // Eight (the concurrency): the group is full before the linger ends.
    const started = Date.now();
    await Promise.all(Array.from({ length: 8 }, (_, i) => pub.publish('validation.requested', { suite: `b${i}` })));
    await waitFor(() => c.stats.processed === 11, { message: 'the next eight', timeoutMs: 10_000 });
    const fullGroupMs = Date.now() - started;
    await c.stop();
    expect(await groups()).toEqual([3, 8]);
    expect(commits).toBe(2);
    expect(fullGroupMs, 'a full group does not wait for the linger').toBeLessThan(1500);
  });
});
