import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import {
  createEvent,
  createPublisher,
  encodeStructured,
  ensureConsumer,
  readDeadLetters,
  subjectOf,
  type VigilEvent,
} from '@vigil/events';
import { eventsFixture, samples } from '@vigil/events/testing';
import { waitFor } from '@vigil/testkit';
import { consumeIdempotent } from './inbox.js';
import { migrateOutbox, OUTBOX_CHANNEL } from './migrations.js';
import { createOutbox } from './outbox.js';
import { testDatabase } from './testing/database.js';

const databaseUrl = inject('databaseUrl');

const database = () => testDatabase<{ app: { counters: { name: string; n: number } } }>(databaseUrl);

describe('outbox schema', () => {
  it('migrates idempotently, also when several services start at once', async () => {
    await using d = await database();
    const results = await Promise.all(Array.from({ length: 5 }, () => migrateOutbox(d.db)));
    expect(results.flat()).toEqual(['0001_outbox_and_inbox', '0002_publication', '0003_published_ranges']);
    expect(await migrateOutbox(d.db)).toEqual([]);
    const cols = await sql<{ column_name: string; data_type: string }>`
      select column_name, data_type from information_schema.columns
      where table_schema = 'outbox' and table_name = 'events' order by ordinal_position`.execute(d.db);
    expect(cols.rows.map((c) => `${c.column_name}:${c.data_type}`)).toEqual([
      'seq:bigint',
      'event_id:text',
      'txid:xid8',
      'subject:text',
      'headers:jsonb',
      'payload:bytea',
      'created_at:timestamp with time zone',
      'published_at:timestamp with time zone',
      'attempts:integer',
      'first_attempt_at:timestamp with time zone',
      'last_attempt_at:timestamp with time zone',
      'last_error:text',
      'state:text',
    ]);
  });

  it('add() stores the exact event bytes with the writing transaction id, and NOTIFY fires only on commit', async () => {
    await using d = await database();
    await migrateOutbox(d.db);
    const listener = new pg.Client({ connectionString: d.url });
    await listener.connect();
    const notes: string[] = [];
    listener.on('notification', (n) => notes.push(n.channel));
    await listener.query(`listen ${OUTBOX_CHANNEL}`);
    try {
      const outbox = createOutbox();
      const event = createEvent('validation.completed', samples['validation.completed'], {
        source: 'vigil/test',
      }) as VigilEvent;
      await d.db
        .transaction()
        .execute(async (tx) => {
          await outbox.add(tx, event);
          throw new Error('rolled back');
        })
        .catch(() => undefined);
      let txid = '';
      await d.db.transaction().execute(async (tx) => {
        await outbox.add(tx, event);
        txid = (await sql<{ t: string }>`select pg_current_xact_id()::text as t`.execute(tx)).rows[0]!.t;
      });
      await waitFor(() => notes.length === 1, { message: 'one NOTIFY after the commit' });
      const rows = await d.db.selectFrom('outbox.events').selectAll().execute();
      expect(rows).toHaveLength(1);
      const row = rows[0]!;
      expect(row).toMatchObject({
        event_id: event.id,
        subject: 'events.validation.completed',
        state: 'pending',
        attempts: 0,
        txid,
      });
      expect(row.headers['content-type']).toBe('application/cloudevents+json');
      const stored = JSON.parse(row.payload.toString('utf8')) as Record<string, unknown>;
      expect(stored['id']).toBe(event.id);
      expect(stored['data']).toEqual(JSON.parse(JSON.stringify(event.data)));
      expect(notes).toEqual([OUTBOX_CHANNEL]);
    } finally {
      await listener.end();
    }
  });
});

describe('consumeIdempotent', () => {
  it('the same event delivered three times changes state once and emits one event', async () => {
    await using d = await database();
    await using f = await eventsFixture(inject('natsUrl'), { label: 'inbox' });
    await migrateOutbox(d.db);
    await sql`create schema app; create table app.counters (name text primary key, n int not null)`.execute(d.db);
    const outbox = createOutbox({ ns: f.ns });
    const request = createEvent(
      'validation.requested',
      { suite: 'vigil-self' },
      { source: 'vigil/test' },
    ) as VigilEvent;
    // Three deliveries of one event: JetStream would dedupe a republish, so the same event goes out
    // under three stream messages, as redeliveries and replays look to a consumer.
    for (let i = 0; i < 3; i++) {
      const { data, headers } = encodeStructured(request);
      await f.js.publish(subjectOf(f.ns, 'validation.requested'), data, { headers, msgID: `copy-${i}` });
    }
    const spec = { durable: 'validator', types: ['validation.requested'] as const };
    await ensureConsumer(f.nc, spec, f.ns);
    let calls = 0;
    const c = await consumeIdempotent({
      js: f.js,
      ns: f.ns,
      db: d.db,
      spec,
      handler: async (tx, event) => {
        calls++;
        await sql`insert into app.counters values ('runs', 1) on conflict (name) do update set n = app.counters.n + 1`.execute(
          tx,
        );
        const completed = createEvent(
          'validation.completed',
          { ...samples['validation.completed'], requestId: event.id },
          { source: 'vigil/validator' },
        );
        await outbox.add(tx, completed);
      },
    });
    await waitFor(() => c.stats.processed === 3, { message: 'three deliveries handled' });
    await c.stop();
    expect(calls).toBe(1);
    const counters = await sql<{ n: number }>`select n from app.counters where name = 'runs'`.execute(d.db);
    expect(counters.rows[0]?.n).toBe(1);
    expect(await d.db.selectFrom('outbox.events').select('event_id').execute()).toHaveLength(1);
    const inbox = await d.db.selectFrom('outbox.inbox').selectAll().execute();
    expect(inbox.map((r) => [r.consumer, r.event_id])).toEqual([['validator', request.id]]);
  });

  it('a handler failure rolls back its effects and the inbox record, so the retry does the work', async () => {
    await using d = await database();
    await using f = await eventsFixture(inject('natsUrl'), { label: 'rollback' });
    await migrateOutbox(d.db);
    const outbox = createOutbox({ ns: f.ns });
    const pub = createPublisher({ js: f.js, ns: f.ns, source: 'vigil/test' });
    const spec = { durable: 'flaky' };
    await ensureConsumer(f.nc, spec, f.ns);
    await pub.publish('sli.observed', samples['sli.observed']);
    let calls = 0;
    const c = await consumeIdempotent({
      js: f.js,
      ns: f.ns,
      db: d.db,
      spec,
      retry: { initialMs: 10 },
      handler: async (tx, event) => {
        calls++;
        await outbox.add(
          tx,
          createEvent('anomaly.detected', samples['anomaly.detected'], {
            source: 's',
            id: `a-${event.id}`,
          }),
        );
        if (calls === 1) throw new Error('first attempt fails after writing');
      },
    });
    await waitFor(() => c.stats.processed === 1, { message: 'processed on retry' });
    await c.stop();
    expect(calls).toBe(2);
    expect(await d.db.selectFrom('outbox.events').select('event_id').execute()).toHaveLength(1);
  });

  it("values PostgreSQL refuses (a NUL byte, a key too large for its index) are dead-lettered on the first delivery, with the database's reason; skipped events leave no inbox row", async () => {
    await using d = await database();
    await using f = await eventsFixture(inject('natsUrl'), { label: 'refused' });
    await migrateOutbox(d.db);
    await sql`create schema app; create table app.names (name text primary key)`.execute(d.db);
    const pub = createPublisher({ js: f.js, ns: f.ns, source: 'vigil/test' });
    const spec = { durable: 'names', types: ['validation.requested'] as const };
    await ensureConsumer(f.nc, spec, f.ns);
    for (const suite of ['nul\u0000byte', 'x'.repeat(200), 'ok', 'skip-me']) {
      // Random, so PostgreSQL cannot compress it under the index's limit.
      const reason = suite.length === 200 ? randomBytes(4500).toString('hex') : undefined;
      await pub.publish('validation.requested', { suite, ...(reason === undefined ? {} : { reason }) });
    }
    let calls = 0;
    const c = await consumeIdempotent({
      js: f.js,
      ns: f.ns,
      db: d.db,
      spec,
      skip: (e) => e.data.suite === 'skip-me',
      handler: async (tx, event) => {
        calls++;
        // The reason makes the key too large for the btree (over 2704 bytes) for the long suite.
        await sql`insert into app.names values (${event.data.suite + (event.data.reason ?? '')})`.execute(tx);
      },
    });
    await waitFor(() => c.stats.deadLettered === 2 && c.stats.processed === 2, {
      message: 'two refused, two done',
      timeoutMs: 5000,
    }).catch((e: unknown) => {
      throw new Error(`${String(e)}: ${JSON.stringify(c.stats)}`);
    });
    await c.stop();
    expect(calls).toBe(3);
    const dls = [];
    for await (const l of readDeadLetters(f.nc, { ns: f.ns })) dls.push(l.why!);
    expect(dls.map((x) => [x.code, x.deliveries])).toEqual([
      ['PERMANENT', 1],
      ['PERMANENT', 1],
    ]);
    expect(dls.map((x) => x.reason).join('\n')).toMatch(/the database refused the event's data: .*0x00/);
    expect(dls.map((x) => x.reason).join('\n'), JSON.stringify(dls)).toMatch(/index row/);
    const names = await sql<{ name: string }>`select name from app.names`.execute(d.db);
    expect(names.rows.map((r) => r.name)).toEqual(['ok']);
    // The inbox holds only what was applied.
    expect(await d.db.selectFrom('outbox.inbox').select('event_id').execute()).toHaveLength(1);
  });
});
