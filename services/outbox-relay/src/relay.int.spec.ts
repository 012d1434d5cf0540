import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/nats-core';
import { sql } from 'kysely';
import { describe, expect, inject, it } from 'vitest';
import { createEvent, encodeStructured, type VigilEvent } from '@vigil/events';
import { NatsServerProcess, waitFor } from '@vigil/testkit';
import { relayFixture, serverPerMode } from './testing/fixture.js';

const natsUrl = inject('natsUrl');
const serverFor = serverPerMode(inject('databaseUrl'));

function counts(ids: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const id of ids) m.set(id, (m.get(id) ?? 0) + 1);
  return m;
}

const modes = ['logical', 'xmin'] as const;

describe.each(modes)('outbox relay (%s mode)', (mode) => {
  it('publishes committed rows once each, in commit order, and marks them published', async () => {
    await using f = await relayFixture(natsUrl, await serverFor(mode), 'order', { mode });
    const { metrics } = await f.startRelay();
    const ids: string[] = [];
    for (let t = 0; t < 20; t++) ids.push(...(await f.commit(1 + (t % 7), 10)));
    await waitFor(async () => (await f.pendingCount()) === 0, { message: 'all published' });
    expect(await f.streamIds()).toEqual(ids);
    const states = await f.db.selectFrom('outbox.delivery').select(['state', 'published_at']).execute();
    expect(states.every((s) => s.state === 'published' && s.published_at !== null)).toBe(true);
    expect(await metrics.registry.getSingleMetricAsString('vigil_outbox_published_total')).toMatch(
      new RegExp(`vigil_outbox_published_total ${ids.length}`),
    );
    expect(await metrics.registry.getSingleMetricAsString('vigil_outbox_relay_leader')).toMatch(
      /vigil_outbox_relay_leader 1/,
    );
    expect(await metrics.registry.getSingleMetricAsString('vigil_outbox_relay_mode')).toContain(
      `vigil_outbox_relay_mode{mode="${mode}"} 1`,
    );
  });

  it.each([
    {
      refused: 'an oversized row',
      label: 'big',
      headers: { 'content-type': 'application/cloudevents+json' },
      payload: Buffer.alloc(2 * 1024 * 1024, 0x20),
      error: /max_payload/,
    },
    {
      refused: 'a row whose stored header nats.js would refuse',
      label: 'badhdr',
      headers: { 'content-type': 'application/cloudevents+json', 'x-note': 'a\r\nInjected: b' },
      payload: Buffer.from('{}'),
      error: /^'header' stored header x-note holds a line break$/,
    },
  ])('$refused is marked failed with the error; the rows after it are published', async (c) => {
    await using f = await relayFixture(natsUrl, await serverFor(mode), c.label, { mode });
    const { metrics } = await f.startRelay();
    const before = await f.commit(3);
    await f.db
      .insertInto('outbox.events')
      .values({
        event_id: 'refused',
        subject: `${f.ns.subjectPrefix}.sli.observed`,
        headers: JSON.stringify(c.headers),
        payload: c.payload,
      })
      .execute();
    const after = await f.commit(3);
    await waitFor(async () => (await f.pendingCount()) === 0, { message: 'nothing pending' });
    const row = await f.db
      .selectFrom('outbox.events')
      .selectAll()
      .where('event_id', '=', 'refused')
      .executeTakeFirstOrThrow();
    expect(row.state).toBe('failed');
    expect(row.last_error).toMatch(c.error);
    expect(await f.streamIds()).toEqual([...before, ...after]);
    expect(await metrics.registry.getSingleMetricAsString('vigil_outbox_failed_rows')).toMatch(
      /vigil_outbox_failed_rows 1/,
    );
  });

  it('an event id used first by another publisher is reported as a dropped event; a copy of its own earlier publish is not', async () => {
    await using f = await relayFixture(natsUrl, await serverFor(mode), 'preempt', { mode });
    const js = f.events.js;
    const subject = `${f.ns.subjectPrefix}.sli.observed`;
    const real = createEvent('sli.observed', { sli: 'a', service: 's', good: 1, total: 1 }, { source: 'vigil/test' });
    const mine = createEvent('sli.observed', { sli: 'b', service: 's', good: 1, total: 1 }, { source: 'vigil/test' });
    await f.db.transaction().execute(async (tx) => {
      await f.outbox.add(tx, real);
      await f.outbox.add(tx, mine);
    });
    // Someone who guessed the real event's id publishes first, with other content.
    const forged = { ...real, data: { ...real.data, good: 0 } };
    await js.publish(subject, encodeStructured(forged).data, { msgID: real.id });
    // The relay's own earlier publish of `mine` (its mark lost in a crash): the same bytes.
    const row = await f.db
      .selectFrom('outbox.events')
      .select('payload')
      .where('event_id', '=', mine.id)
      .executeTakeFirstOrThrow();
    await js.publish(subject, row.payload, { msgID: mine.id });
    const { metrics } = await f.startRelay();
    await waitFor(async () => (await f.pendingCount()) === 0, { message: 'both rows settled' });
    expect(await metrics.registry.getSingleMetricAsString('vigil_outbox_duplicates_total')).toMatch(
      /vigil_outbox_duplicates_total 2/,
    );
    expect(await metrics.registry.getSingleMetricAsString('vigil_outbox_preempted_total')).toMatch(
      /vigil_outbox_preempted_total 1/,
    );
  });

  it('refuses to start when the stream’s duplicate window is shorter than its retry horizon, saying why', async () => {
    await using f = await relayFixture(natsUrl, await serverFor(mode), 'window', { duplicateWindowMs: 20_000, mode });
    await expect(f.startRelay({ retry: { attempts: 5, publishTimeoutMs: 5000 } })).rejects.toThrow(
      /duplicate window of 20\.0 s, shorter than the relay's retry horizon of 3\d\.\d s/,
    );
  });

  it('two relays: only one publishes; when it stops the standby takes over and nothing is published twice', async () => {
    await using f = await relayFixture(natsUrl, await serverFor(mode), 'standby', { mode });
    const a = await f.startRelay();
    const b = await f.startRelay();
    await waitFor(() => a.relay.isLeader() !== b.relay.isLeader(), { message: 'exactly one leader' });
    const [leader, standby] = a.relay.isLeader() ? [a, b] : [b, a];
    const first = await f.commit(200, 50);
    await waitFor(async () => (await f.pendingCount()) === 0, { message: 'first rows published' });
    expect(await standby.metrics.registry.getSingleMetricAsString('vigil_outbox_published_total')).toMatch(
      /vigil_outbox_published_total 0/,
    );
    await leader.relay.stop();
    const t0 = Date.now();
    await waitFor(() => standby.relay.isLeader(), { timeoutMs: 5000, message: 'standby takes over within 5 s' });
    const second = await f.commit(200, 50);
    await waitFor(async () => (await f.pendingCount()) === 0, { message: 'second rows published' });
    expect(Date.now() - t0).toBeLessThan(5000 + 10_000);
    const ids = await f.streamIds();
    expect(ids).toEqual([...first, ...second]);
  });

  it('the janitor deletes published rows older than the retention and keeps the rest', async () => {
    await using f = await relayFixture(natsUrl, await serverFor(mode), 'janitor', { mode });
    // Published in two rounds, so that logical mode records the first three in ranges of their own.
    const { relay } = await f.startRelay({ retentionMs: 60_000, janitorIntervalMs: 50 });
    const old = await f.commit(3);
    await waitFor(async () => (await f.pendingCount()) === 0, { message: 'the first rows published' });
    const recent = await f.commit(2);
    await waitFor(async () => (await f.pendingCount()) === 0, { message: 'published' });
    // Made two minutes old: the rows (their state says when in xmin mode) and, in logical mode,
    // the ranges that hold only them.
    await sql`update outbox.events set created_at = now() - interval '2 minutes', published_at = now() - interval '2 minutes' where event_id = any(${old})`.execute(
      f.db,
    );
    await sql`update outbox.published p set published_at = now() - interval '2 minutes'
              where not exists (select 1 from outbox.events e where e.seq between p.lo and p.hi and e.event_id <> all(${old}))`.execute(
      f.db,
    );
    await waitFor(async () => (await f.db.selectFrom('outbox.events').select('seq').execute()).length === 2, {
      message: 'old rows deleted',
    });
    const left = await f.db.selectFrom('outbox.delivery').select(['event_id', 'state']).orderBy('seq').execute();
    expect(left).toEqual(recent.map((event_id) => ({ event_id, state: 'published' })));
    // Logical mode's ranges went with their rows; the recent rows' range is kept. xmin mode has none.
    const seqs = (await f.db.selectFrom('outbox.events').select('seq').orderBy('seq').execute()).map((r) => r.seq);
    expect(await f.db.selectFrom('outbox.published').select(['lo', 'hi']).execute()).toEqual(
      mode === 'logical' ? [{ lo: seqs[0], hi: seqs[1] }] : [],
    );
    await relay.stop();
  });
});

describe.each(modes)('outbox relay and a NATS outage (%s mode)', (mode) => {
  it('nats-server stopped while rows accumulate: the relay recovers by itself and publishes each once', async () => {
    await using server = await NatsServerProcess.start();
    await using f = await relayFixture(server.url, await serverFor(mode), 'outage', { mode });
    // The relay's own connection, reconnecting forever like main.ts does.
    const nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    const { metrics } = await f.startRelay(
      { retry: { initialDelayMs: 20, maxDelayMs: 100, publishTimeoutMs: 1000 } },
      nc,
    );
    try {
      const before = await f.commit(100, 20);
      await waitFor(async () => (await f.pendingCount()) === 0, { message: 'published before the outage' });
      await server.kill('SIGTERM');
      const during = await f.commit(500, 50);
      await waitFor(
        async () =>
          Number(
            (await metrics.registry.getSingleMetricAsString('vigil_outbox_publish_retries_total')).match(
              /_total (\d+)/,
            )?.[1],
          ) > 0,
        { message: 'the relay noticed the outage' },
      );
      expect(await f.pendingCount()).toBe(500);
      await server.restart();
      await waitFor(async () => (await f.pendingCount()) === 0, {
        timeoutMs: 30_000,
        message: 'published after the outage',
      });
      // The fixture's own connection reconnects on its own schedule (every 2 s).
      const ids = await waitFor(() => f.streamIds(), { timeoutMs: 30_000, message: 'the stream readable again' });
      const c = counts(ids);
      for (const id of [...before, ...during]) expect(c.get(id)).toBe(1);
      expect(ids).toHaveLength(600);
    } finally {
      await f[Symbol.asyncDispose]();
      await nc.close();
    }
  });
});

describe.each(modes)('rows whose earlier attempt may have outlived the duplicate window (%s mode)', (mode) => {
  it('are looked up in the stream first: a copy stored by an attempt whose ack was lost is not published again', async () => {
    // The stream starts with a 200 ms window so that it forgets the copy's id, as a real window
    // forgets ids after an outage longer than itself; then the window becomes 30 s, which covers
    // this relay's horizon (3 × 2 s + delays + 10 s margin).
    await using f = await relayFixture(natsUrl, await serverFor(mode), 'stale', { duplicateWindowMs: 200, mode });
    const [landed, lost] = await f.commit(2, 2);
    // An earlier attempt of `landed` reached the stream but its ack never came back (an outage),
    // and the breaker held the row longer than the duplicate window remembers.
    const row = await f.db
      .selectFrom('outbox.events')
      .selectAll()
      .where('event_id', '=', landed!)
      .executeTakeFirstOrThrow();
    const h = natsHeaders();
    for (const [k, v] of Object.entries(row.headers)) h.set(k, v);
    await f.events.js.publish(row.subject, row.payload, { msgID: landed!, headers: h });
    const storedAt = Date.now();
    await waitFor(() => Date.now() > storedAt + 1000, { message: 'the short window to pass' });
    const jsm = await jetstreamManager(f.events.nc);
    const cfg = (await jsm.streams.info(f.ns.stream)).config;
    await jsm.streams.update(f.ns.stream, { ...cfg, duplicate_window: 30_000_000_000 });
    await sql`update outbox.events set attempts = 1, first_attempt_at = now() - interval '60 seconds',
              last_attempt_at = now(), last_error = 'timeout' where event_id in (${landed!}, ${lost!})`.execute(f.db);
    const { metrics } = await f.startRelay({ retry: { attempts: 3, publishTimeoutMs: 2000 } });
    await waitFor(async () => (await f.pendingCount()) === 0, { message: 'both rows settled' });
    // `landed` is in the stream once (found, not re-sent); `lost` never landed and is published now.
    expect(await f.streamIds()).toEqual([landed, lost]);
    expect(await metrics.registry.getSingleMetricAsString('vigil_outbox_duplicates_total')).toMatch(
      /vigil_outbox_duplicates_total 1/,
    );
  });
});

describe.each(modes)('order of transactions (%s mode)', (mode) => {
  // In logical mode these rows, committed before the relay made its slot, go out in its catch-up.
  it('follows xid8 order, not text order, across a digit boundary (9 before 10) and seq within a transaction', async () => {
    await using f = await relayFixture(natsUrl, await serverFor(mode), 'xid', { mode });
    const { createEvent, encodeStructured, subjectOf } = await import('@vigil/events');
    const subject = subjectOf(f.ns, 'sli.observed');
    const row = (txid: string) => {
      const e = createEvent('sli.observed', { sli: txid, service: 's', good: 1, total: 1 }, { source: 'vigil/test' });
      return {
        event_id: e.id,
        txid,
        subject,
        headers: JSON.stringify({ 'content-type': 'application/cloudevents+json' }),
        payload: Buffer.from(encodeStructured(e as never).data),
      };
    };
    // Transaction ids set by hand (all long finished): inserted in the order 10, 9, 100, 9.
    const rows = [row('10'), row('9'), row('100'), row('9')];
    for (const r of rows) await f.db.insertInto('outbox.events').values(r).execute();
    await f.startRelay();
    await waitFor(async () => (await f.pendingCount()) === 0, { message: 'published' });
    expect(await f.streamIds()).toEqual([rows[1]!.event_id, rows[3]!.event_id, rows[0]!.event_id, rows[2]!.event_id]);
  });
});

describe('outbox relay in xmin mode: (txid, seq) order below the oldest open transaction', () => {
  it('a transaction that began first but commits last is published, never skipped, and not overtaken', async () => {
    await using f = await relayFixture(natsUrl, await serverFor('xmin'), 'late', { mode: 'xmin' });
    await f.startRelay();
    const early = await f.commit(3);
    await waitFor(async () => (await f.pendingCount()) === 0, { message: 'early rows published' });

    // A begins and writes first; B and C begin later and commit while A is still open.
    const conn = await f.db.connection().execute(async (a) => {
      await sql`begin`.execute(a);
      const lateEvent = createEvent('validation.requested', { suite: 'late' }, { source: 'vigil/test' }) as VigilEvent;
      await f.outbox.add(a, lateEvent);
      const bc = await f.commit(4, 2);
      // B and C committed; their rows are newer than A's open transaction, so they wait for it.
      const pendingWhileOpen = await f.pendingCount();
      await sql`commit`.execute(a);
      return { late: lateEvent.id, bc, pendingWhileOpen };
    });
    await waitFor(async () => (await f.pendingCount()) === 0, { message: 'everything published after A commits' });
    expect(conn.pendingWhileOpen).toBeGreaterThanOrEqual(4);
    // The stream holds A before B and C: B and C were held back until A committed.
    expect(await f.streamIds()).toEqual([...early, conn.late, ...conn.bc]);
  });

  it('rows held behind a transaction that writes no outbox row go out when it ends, with no NOTIFY to wake the relay', async () => {
    await using f = await relayFixture(natsUrl, await serverFor('xmin'), 'blocked', { mode: 'xmin' });
    // No fallback poll within the test's deadline: only the poll for blocked rows can find them.
    await f.startRelay({ pollIntervalMs: 600_000 });
    const released = await f.db.connection().execute(async (a) => {
      // A consumer's transaction (an inbox row, no outbox row) holds the snapshot's xmin back.
      await sql`begin`.execute(a);
      await sql`insert into outbox.inbox (consumer, event_id) values ('other', 'x')`.execute(a);
      const held = await f.commit(5, 5);
      const pendingWhileOpen = await f.pendingCount();
      // Stay open until the relay, woken by their NOTIFY, has looked and found them held.
      const since = (await sql<{ now: Date }>`select clock_timestamp() as now`.execute(f.db)).rows[0]!.now;
      await waitFor(
        async () =>
          (
            await sql<{ n: number }>`
              select count(*)::int as n from pg_stat_activity
              where datname = current_database() and pid <> pg_backend_pid() and state = 'idle'
                and query like '%pg_snapshot_xmin%' and state_change > ${since}`.execute(f.db)
          ).rows[0]!.n > 0,
        { message: 'the relay to read the outbox while the transaction is open' },
      );
      await sql`commit`.execute(a);
      return { held, pendingWhileOpen };
    });
    expect(released.pendingWhileOpen).toBe(5);
    await waitFor(async () => (await f.pendingCount()) === 0, {
      message: 'the held rows published after the blocking transaction ended',
      // Other tests' transactions (any database of the server) can hold the rows back as well.
      timeoutMs: 30_000,
    });
    expect(await f.streamIds()).toEqual(released.held);
  });
});
