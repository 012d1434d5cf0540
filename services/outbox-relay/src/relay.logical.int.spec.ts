import { sql } from 'kysely';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { createEvent, replay, type VigilEvent } from '@vigil/events';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { dropReplicationSlots, NatsServerProcess, PrivatePostgres, waitFor } from '@vigil/testkit';
import type { RelayMetrics } from './metrics.js';
import { relayFixture, type RelayFixture } from './testing/fixture.js';

const natsUrl = inject('natsUrl');
const databaseUrl = inject('databaseUrl');

/** A session on its own connection, for transactions held open beside the relay. */
async function session(url: string): Promise<pg.Client & AsyncDisposable> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  return Object.assign(c, { [Symbol.asyncDispose]: () => c.end() });
}

function otherDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

async function slotOf(f: RelayFixture): Promise<{ slot_name: string; active_pid: number | null } | undefined> {
  return (
    await sql<{ slot_name: string; active_pid: number | null }>`
      select slot_name, active_pid from pg_replication_slots where database = current_database()`.execute(f.db)
  ).rows[0];
}

/**
 * Event ids in the stream, read on `nc` (the fixture's own connection gives up during a long
 * outage; the relay's reconnects for ever), retried while a restarted server cannot answer yet.
 */
async function streamOf(nc: NatsConnection, f: RelayFixture): Promise<string[]> {
  return waitFor(
    async () => {
      const ids: string[] = [];
      for await (const r of replay(nc, { ns: f.ns, start: { from: 'beginning' } })) ids.push(r.event.id);
      return ids;
    },
    { timeoutMs: 30_000, message: 'the stream readable again' },
  );
}

/**
 * Starts a relay and waits until it streams from its slot. Making a slot waits for the
 * transactions open at that moment (the server needs a consistent start), once per slot.
 */
async function startStreaming(
  f: RelayFixture,
  ...args: Parameters<RelayFixture['startRelay']>
): ReturnType<RelayFixture['startRelay']> {
  const started = await f.startRelay(...args);
  await waitFor(async () => (await slotOf(f))?.active_pid != null, { message: 'the relay streaming from its slot' });
  return started;
}

describe('outbox relay in logical mode: commit order from the WAL', () => {
  it('a transaction that began first but commits last comes after the ones that committed before it, and holds nothing back', async () => {
    await using f = await relayFixture(natsUrl, databaseUrl, 'wal-order', { mode: 'logical' });
    const { relay, metrics } = await startStreaming(f);
    expect(relay.mode()).toBe('logical');
    expect(await metrics.registry.getSingleMetricAsString('vigil_outbox_relay_mode')).toMatch(
      /vigil_outbox_relay_mode\{mode="logical"\} 1/,
    );
    const early = await f.commit(3);
    const result = await f.db.connection().execute(async (a) => {
      // A writes its row first; B and C begin later and commit while A is still open.
      await sql`begin`.execute(a);
      const late = createEvent('validation.requested', { suite: 'late' }, { source: 'vigil/test' }) as VigilEvent;
      await f.outbox.add(a, late);
      const bc = await f.commit(4, 2);
      // B and C reach the stream while A is open: nothing waits for A.
      await waitFor(async () => (await f.streamIds()).length === early.length + bc.length, {
        message: 'B and C published while A is open',
      });
      const whileOpen = await f.streamIds();
      await sql`commit`.execute(a);
      return { late: late.id, bc, whileOpen };
    });
    expect(result.whileOpen).toEqual([...early, ...result.bc]);
    await waitFor(async () => (await f.pendingCount()) === 0, { message: 'A published after its commit' });
    expect(await f.streamIds()).toEqual([...early, ...result.bc, result.late]);
  });

  it('write transactions held open in another database and in this one (touching no outbox row) add nothing to delivery', async () => {
    await using f = await relayFixture(natsUrl, databaseUrl, 'wal-unrelated', { mode: 'logical' });
    await startStreaming(f);
    // Both hold a transaction id, which would hold the xmin mode's snapshot back.
    await using elsewhere = await session(otherDatabase(f.databaseUrl, 'postgres'));
    await elsewhere.query('begin');
    await elsewhere.query('create temporary table held_open (x int)');
    await elsewhere.query('insert into held_open values (1)');
    await using here = await session(f.databaseUrl);
    await here.query('begin');
    await here.query(`insert into outbox.inbox (consumer, event_id) values ('other', 'x')`);
    const ids = await f.commit(50, 10);
    await waitFor(async () => (await f.pendingCount()) === 0, { message: 'published while both stay open' });
    expect(await f.streamIds()).toEqual(ids);
    await here.query('rollback');
    await elsewhere.query('rollback');
  });

  it('restarted, it resumes from the confirmed position: events committed while it was down arrive once each', async () => {
    await using f = await relayFixture(natsUrl, databaseUrl, 'wal-resume', { mode: 'logical' });
    const first = await f.startRelay();
    const before = await f.commit(30, 10);
    await waitFor(async () => (await f.pendingCount()) === 0, { message: 'first rows published' });
    await first.relay.stop();
    // The slot stays (its walsender ends a moment after the relay's connection) and keeps the
    // WAL of what comes next.
    await waitFor(async () => (await slotOf(f))?.active_pid === null, { message: 'the slot released' });
    const during = await f.commit(40, 10);
    await f.startRelay();
    await waitFor(async () => (await f.pendingCount()) === 0, { message: 'rows committed while down published' });
    expect(await f.streamIds()).toEqual([...before, ...during]);
  });

  it('a slot dropped under it is noticed and made again with a catch-up from the table: no event lost or doubled', async () => {
    await using f = await relayFixture(natsUrl, databaseUrl, 'wal-dropped', { mode: 'logical' });
    const { metrics } = await f.startRelay();
    const before = await f.commit(20, 10);
    await waitFor(async () => (await f.pendingCount()) === 0, { message: 'first rows published' });
    const name = (await slotOf(f))?.slot_name;
    expect(name).toMatch(/^vigil_relay_relay_/);
    // An operator drops the slot (its walsender ended first), and events are committed right
    // after, before or after the relay made a new one.
    await using admin = await session(f.databaseUrl);
    await dropReplicationSlots(admin, { slot: name! });
    const during = await f.commit(20, 10);
    const after = await f.commit(20, 10);
    await waitFor(async () => (await f.pendingCount()) === 0, { timeoutMs: 20_000, message: 'all published' });
    expect(await f.streamIds()).toEqual([...before, ...during, ...after]);
    expect(await metrics.registry.getSingleMetricAsString('vigil_outbox_relay_slot_retained_wal_bytes')).toMatch(
      /vigil_outbox_relay_slot_retained_wal_bytes \d+/,
    );
  });
});

describe('outbox relay in logical mode: publication recorded as ranges of seq', () => {
  /** Publishes JetStream reported as already stored, read from the relay's own counter. */
  const duplicates = async (m: RelayMetrics) => (await m.duplicates.get()).values[0]?.value;

  it("rows keep their own state; ranges hold exactly their seqs; a new slot's catch-up sends none of them again", async () => {
    await using f = await relayFixture(natsUrl, databaseUrl, 'wal-ranges', { mode: 'logical' });
    const first = await startStreaming(f);
    const before = await f.commit(30, 10);
    await waitFor(async () => (await f.pendingCount()) === 0, { message: 'first rows published' });
    // No update per row: each row's own state is untouched, and the ranges cover its seqs, no other.
    const rows = await f.db
      .selectFrom('outbox.events')
      .select(['seq', 'state', 'published_at'])
      .orderBy('seq')
      .execute();
    expect(rows.map((r) => [r.state, r.published_at])).toEqual(rows.map(() => ['pending', null]));
    const covered = await sql<{ seq: string }>`
      select g.seq::text as seq from outbox.published p, generate_series(p.lo, p.hi) g(seq) group by g.seq order by g.seq`.execute(
      f.db,
    );
    expect(covered.rows.map((r) => r.seq)).toEqual(rows.map((r) => r.seq));
    expect(await f.db.selectFrom('outbox.delivery').select('state').distinct().execute()).toEqual([
      { state: 'published' },
    ]);
    // A clean stop confirms everything; the slot then goes (an operator, an invalidation) and the
    // next relay makes a new one, whose catch-up reads the table: the ranges keep it from
    // sending the published rows again, which a stream past its duplicate window would store twice.
    await first.relay.stop();
    await using admin = await session(f.databaseUrl);
    await dropReplicationSlots(admin, { slot: (await slotOf(f))!.slot_name });
    const during = await f.commit(20, 10);
    const { metrics } = await startStreaming(f);
    const after = await f.commit(10, 10);
    await waitFor(async () => (await f.pendingCount()) === 0, { message: 'all published' });
    expect(await f.streamIds()).toEqual([...before, ...during, ...after]);
    expect(await duplicates(metrics)).toBe(0);
    expect(await metrics.registry.getSingleMetricAsString('vigil_outbox_published_total')).toMatch(
      /vigil_outbox_published_total 30\b/,
    );
  });

  it('switched to xmin mode and back: the rows logical mode published are sent by neither mode again', async () => {
    await using f = await relayFixture(natsUrl, databaseUrl, 'wal-switch');
    const logical = await startStreaming(f, { mode: 'logical' });
    const first = await f.commit(20, 10);
    await waitFor(async () => (await f.pendingCount()) === 0, { message: 'published in logical mode' });
    await logical.relay.stop();
    // xmin mode reads row states: it turns the ranges into them before it reads.
    const xmin = await f.startRelay({ mode: 'xmin' });
    const second = await f.commit(10, 10);
    await waitFor(async () => (await f.pendingCount()) === 0, { timeoutMs: 30_000, message: 'published in xmin mode' });
    expect(await f.db.selectFrom('outbox.published').select('id').execute()).toEqual([]);
    const states = await f.db.selectFrom('outbox.events').select('state').distinct().execute();
    expect(states).toEqual([{ state: 'published' }]);
    expect(await duplicates(xmin.metrics)).toBe(0);
    expect(await xmin.metrics.registry.getSingleMetricAsString('vigil_outbox_published_total')).toMatch(
      /vigil_outbox_published_total 10\b/,
    );
    await xmin.relay.stop();
    // Back in logical mode, a new slot (xmin mode dropped the old one) catches up from row states.
    const again = await startStreaming(f, { mode: 'logical' });
    const third = await f.commit(10, 10);
    await waitFor(async () => (await f.pendingCount()) === 0, { message: 'published in logical mode again' });
    expect(await f.streamIds()).toEqual([...first, ...second, ...third]);
    expect(await duplicates(again.metrics)).toBe(0);
  });
});

/**
 * A nats-server of the test's own (to stop and start), a fixture on it, and the relay's connection,
 * which reconnects for ever (the fixture's own gives up during a long outage).
 */
async function outageBed(label: string) {
  const server = await NatsServerProcess.start();
  const f = await relayFixture(server.url, databaseUrl, label, { mode: 'logical' });
  const nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  return {
    server,
    f,
    nc,
    async [Symbol.asyncDispose]() {
      await f[Symbol.asyncDispose]();
      await nc.close();
      await server.stop();
    },
  };
}

describe('outbox relay in logical mode and a NATS outage', () => {
  it('nats-server stopped for 30 s under steady load, the stream paused at 100 unconfirmed rows: every event once, in commit order', async () => {
    await using bed = await outageBed('wal-outage');
    const { server, f, nc } = bed;
    const { metrics } = await startStreaming(f, { maxBufferedRows: 100, retry: { publishTimeoutMs: 1000 } }, nc);
    const ids: string[] = [];
    // Steady writers, 10 events a second in transactions of 2, for the outage and a little around it.
    const load = async (ms: number) => {
      const until = Date.now() + ms;
      while (Date.now() < until) {
        ids.push(...(await f.commit(2, 2)));
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    await load(1000);
    await server.kill('SIGTERM');
    await load(30_000);
    expect(await f.pendingCount()).toBeGreaterThan(250);
    // The relay stopped reading at 100 received and unconfirmed (the rest waits in the WAL).
    const held = Number(
      /vigil_outbox_pending_rows (\d+)/.exec(
        await metrics.registry.getSingleMetricAsString('vigil_outbox_pending_rows'),
      )?.[1],
    );
    expect(held).toBeGreaterThanOrEqual(100);
    expect(held).toBeLessThan(150);
    await server.restart();
    await load(1000);
    await waitFor(async () => (await f.pendingCount()) === 0, {
      timeoutMs: 30_000,
      message: 'published after the outage',
    });
    expect(await streamOf(nc, f)).toEqual(ids);
  }, 120_000);
});

describe('outbox relay in logical mode: rows held while the WAL keeps arriving', () => {
  it('NATS down while 5,000 rows stream in: each row held in memory keeps its own bytes', async () => {
    await using bed = await outageBed('wal-held');
    const { server, f, nc } = bed;
    const { metrics } = await startStreaming(f, { retry: { publishTimeoutMs: 1000 } }, nc);
    await server.kill('SIGTERM');
    // The relay receives and holds them all (under its 20,000 bound) while the stream goes on
    // filling the connection's read buffer behind them.
    const ids = await f.commit(5000, 50);
    await waitFor(
      async () =>
        /vigil_outbox_pending_rows 5000/.test(
          await metrics.registry.getSingleMetricAsString('vigil_outbox_pending_rows'),
        ),
      { timeoutMs: 30_000, message: 'all 5,000 rows received and held' },
    );
    await server.restart();
    await waitFor(async () => (await f.pendingCount()) === 0, { timeoutMs: 30_000, message: 'published' });
    // Each message decodes to the event committed under its id: a payload overwritten by a
    // later row's bytes would decode to another id, or not at all.
    expect(await streamOf(nc, f)).toEqual(ids);
  }, 120_000);
});

describe('outbox relay and its server', () => {
  it('a slot invalidated by max_slot_wal_keep_size is noticed at start and made again; the events behind it come from the table', async () => {
    await using server = await PrivatePostgres.start({
      settings: { max_slot_wal_keep_size: '1MB', max_wal_size: '32MB', min_wal_size: '32MB' },
    });
    await using f = await relayFixture(natsUrl, server.url, 'wal-lost', { mode: 'logical' });
    const first = await f.startRelay();
    const before = await f.commit(10, 10);
    await waitFor(async () => (await f.pendingCount()) === 0, { message: 'first rows published' });
    await first.relay.stop();
    const during = await f.commit(10, 10);
    // Fill WAL past the slot's allowance and checkpoint until the server gives up the slot.
    await sql`create table filler (x text)`.execute(f.db);
    await waitFor(
      async () => {
        await sql`insert into filler select repeat('x', 1000) from generate_series(1, 20000)`.execute(f.db);
        await sql`checkpoint`.execute(f.db);
        const r = await sql<{ wal_status: string }>`select wal_status from pg_replication_slots`.execute(f.db);
        return r.rows[0]?.wal_status === 'lost';
      },
      { timeoutMs: 60_000, message: 'the slot invalidated' },
    );
    const { metrics } = await f.startRelay();
    await waitFor(async () => (await f.pendingCount()) === 0, { message: 'caught up' });
    expect(await f.streamIds()).toEqual([...before, ...during]);
    expect(await metrics.registry.getSingleMetricAsString('vigil_outbox_relay_slot_recreated_total')).toMatch(
      /vigil_outbox_relay_slot_recreated_total 1/,
    );
    const after = await f.commit(10, 10);
    await waitFor(async () => (await f.pendingCount()) === 0, { message: 'streaming again' });
    expect(await f.streamIds()).toEqual([...before, ...during, ...after]);
  });

  it('auto mode on a server with wal_level = replica falls back to xmin mode and says so; logical mode refuses to start, naming the remedy', async () => {
    await using server = await PrivatePostgres.start({ settings: { wal_level: 'replica', max_wal_senders: '10' } });
    await using f = await relayFixture(natsUrl, server.url, 'wal-replica');
    await expect(f.startRelay({ mode: 'logical' })).rejects.toThrow(
      /RELAY_MODE=logical, but wal_level is replica: ALTER SYSTEM SET wal_level = logical and restart PostgreSQL/,
    );
    const { relay, metrics } = await f.startRelay();
    expect(relay.mode()).toBe('xmin');
    expect(await metrics.registry.getSingleMetricAsString('vigil_outbox_relay_mode')).toMatch(
      /vigil_outbox_relay_mode\{mode="xmin"\} 1/,
    );
    const ids = await f.commit(10, 5);
    await waitFor(async () => (await f.pendingCount()) === 0, { message: 'published in xmin mode' });
    expect(await f.streamIds()).toEqual(ids);
  });
});
