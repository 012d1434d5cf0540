import { sql } from 'kysely';
import pg from 'pg';
import { LogicalReplicationService, PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';
import { OUTBOX_PUBLICATION } from '@vigil/outbox';
import type { RelayContext, Row } from './context.js';
import { acknowledgeArgument, laterLsn } from './core.js';
import type { Marks } from './marks.js';
import type { Publisher } from './publisher.js';

export interface LogicalReaderOptions {
  /** The replication slot (one per database). */
  readonly slot: string;
  /** Rows received and not yet confirmed before the stream is paused (TCP holds the rest). */
  readonly maxBufferedRows: number;
  /** A status update with the confirmed position at least this often, also while paused. */
  readonly statusIntervalMs: number;
}

/** What the logical reader holds right now, for `/metrics` (undefined while it does not run). */
export interface LogicalProgress {
  /** Rows received from the WAL and not yet confirmed. */
  readonly bufferedRows: number;
  /** Commit time of the oldest transaction received and not yet confirmed. */
  readonly oldestUnconfirmedAt: Date | null;
  /** The position confirmed to the server: every event committed before it is in JetStream. */
  readonly confirmed: string;
}

interface Transaction {
  readonly rows: Row[];
  /** End of the commit record: confirmed once every row of this and earlier transactions is acknowledged. */
  readonly end: string;
  readonly committedAt: Date;
}

/** Errors after which the slot is recreated with a catch-up from the table (it is gone or unusable). */
function slotIsGone(e: unknown): boolean {
  const err = e as { code?: string; message?: string };
  // 42704: the slot does not exist. 55000: it was invalidated (max_slot_wal_keep_size) or its WAL removed.
  return err.code === '42704' || (err.code === '55000' && /invalidated|no longer|removed/i.test(err.message ?? ''));
}

/**
 * The logical reader: decodes inserts into `outbox.events` from the WAL through a replication
 * slot with the built-in `pgoutput` plugin, whole transactions in commit order, and publishes
 * them. The slot's position moves only past transactions JetStream acknowledged entirely, so a
 * restart resumes there and `Nats-Msg-Id` absorbs the replayed tail. Nothing but the relay's own
 * progress holds events back: an open transaction elsewhere is not in the stream at all.
 * Runs while the caller holds the leader lock; returns when `signal` aborts, throws on a failure
 * (the caller starts it again).
 */
export async function runLogicalReader(
  ctx: RelayContext,
  parts: { publisher: Publisher; marks: Marks },
  o: LogicalReaderOptions,
  signal: AbortSignal,
  report: (p: LogicalProgress | undefined) => void,
): Promise<void> {
  const start = await ensureSlot(ctx, parts, o.slot, signal);
  if (signal.aborted) return;
  try {
    for (let tries = 0; ; tries++) {
      try {
        await stream(ctx, parts, o, start, signal, report);
        return;
      } catch (e) {
        // 55006: the slot is still active for a walsender of the leader before us (a standby
        // took over); it goes as soon as the server notices that leader's connection closed.
        if ((e as { code?: string }).code !== '55006' || tries >= 100 || signal.aborted) throw e;
        await ctx.wake.wait(100, signal);
      }
    }
  } catch (e) {
    if (!slotIsGone(e)) throw e;
    ctx.logger.error({ err: e, slot: o.slot }, 'replication slot lost: recreating it with a catch-up from the table');
    ctx.metrics.slotRecreated.inc();
    await dropSlot(ctx, o.slot);
    throw e;
  } finally {
    report(undefined);
  }
}

/**
 * The slot to stream from, made when missing. A new slot's exported snapshot shows exactly the
 * rows committed before the slot's first position: those still pending are published first (the
 * catch-up), everything after comes from the slot. `outbox.relay_slot` records that the catch-up
 * finished; a slot without that record (the relay died during its catch-up) is made again.
 */
async function ensureSlot(
  ctx: RelayContext,
  parts: { publisher: Publisher; marks: Marks },
  slot: string,
  signal: AbortSignal,
): Promise<string> {
  const { db, logger } = ctx;
  const existing = (
    await sql<{ wal_status: string | null; confirmed: string | null; caught_up: boolean | null }>`
      select s.wal_status, s.confirmed_flush_lsn::text as confirmed,
             (select r.caught_up_at is not null from outbox.relay_slot r where r.name = s.slot_name) as caught_up
      from pg_replication_slots s where s.slot_name = ${slot}`.execute(db)
  ).rows[0];
  if (existing !== undefined) {
    if (existing.wal_status !== 'lost' && existing.caught_up === true) return existing.confirmed ?? '0/0';
    logger.warn(
      { slot, walStatus: existing.wal_status },
      existing.wal_status === 'lost'
        ? 'replication slot invalidated (its WAL was removed, see max_slot_wal_keep_size): recreating it with a catch-up from the table'
        : 'replication slot without a finished catch-up: recreating it',
    );
    ctx.metrics.slotRecreated.inc();
    await dropSlot(ctx, slot);
  }
  await sql`delete from outbox.relay_slot where name = ${slot}`.execute(db);
  return createSlot(ctx, parts, slot, signal);
}

/**
 * Creates the slot, publishes the rows committed before its first position from its exported
 * snapshot, and records the finished catch-up; the slot's first position.
 */
async function createSlot(
  ctx: RelayContext,
  parts: { publisher: Publisher; marks: Marks },
  slot: string,
  signal: AbortSignal,
): Promise<string> {
  const { db, logger } = ctx;
  const replication = new pg.Client({
    connectionString: ctx.databaseUrl,
    replication: 'database',
    application_name: 'vigil-outbox-relay-slot',
  } as pg.ClientConfig);
  await replication.connect();
  let snapshotHeld = false;
  try {
    const made = await replication.query<{ consistent_point: string; snapshot_name: string }>(
      `CREATE_REPLICATION_SLOT ${pg.escapeIdentifier(slot)} LOGICAL pgoutput (SNAPSHOT 'export')`,
    );
    const { consistent_point: consistentPoint, snapshot_name: snapshot } = made.rows[0] ?? {};
    if (consistentPoint === undefined || snapshot === undefined)
      throw new Error('CREATE_REPLICATION_SLOT answered no row');
    logger.info({ slot, consistentPoint }, 'replication slot created; publishing the rows committed before it');
    const caughtUp = await db.connection().execute(async (c) => {
      await sql`begin isolation level repeatable read`.execute(c);
      try {
        await sql.raw(`set transaction snapshot ${pg.escapeLiteral(snapshot)}`).execute(c);
        // The snapshot is ours now; the replication connection may go.
        snapshotHeld = true;
        await replication.end();
        return await catchUp(ctx, parts, c, signal);
      } finally {
        await sql`commit`.execute(c).catch(() => undefined);
      }
    });
    if (caughtUp === undefined) return consistentPoint;
    await parts.marks.settle();
    await sql`insert into outbox.relay_slot (name, consistent_point, caught_up_at) values (${slot}, ${consistentPoint}::pg_lsn, now())
              on conflict (name) do update set consistent_point = excluded.consistent_point, caught_up_at = excluded.caught_up_at`.execute(
      db,
    );
    logger.info({ slot, rows: caughtUp }, 'catch-up done');
    return consistentPoint;
  } finally {
    if (!snapshotHeld) await replication.end().catch(() => undefined);
  }
}

/**
 * Publishes every row the connection's snapshot shows as pending (by its state, and in no
 * published range), in commit order, a batch at a time; the number published, or undefined
 * when stopped.
 */
async function catchUp(
  ctx: RelayContext,
  parts: { publisher: Publisher; marks: Marks },
  c: RelayContext['db'],
  signal: AbortSignal,
): Promise<number | undefined> {
  let after = { txid: '0', seq: '0' };
  let total = 0;
  for (;;) {
    if (signal.aborted) return undefined;
    const rows = (
      await sql<Row>`
        select e.seq, e.event_id, e.txid::text as txid, e.subject, e.headers, e.payload, e.first_attempt_at, e.last_attempt_at
        from outbox.events e
        where (e.txid, e.seq) > (${after.txid}::xid8, ${after.seq}::bigint) and e.state = 'pending'
          and not exists (select 1 from outbox.published p where int8range(p.lo, p.hi, '[]') @> e.seq)
        order by e.txid, e.seq limit ${ctx.batchSize}`.execute(c)
    ).rows;
    const last = rows[rows.length - 1];
    if (last === undefined) return total;
    for (;;) {
      const done: Row[] = [];
      try {
        await parts.publisher.publishRows(rows, done, signal);
        void parts.marks.later(done);
        break;
      } catch (e) {
        void parts.marks.later(done);
        if (signal.aborted) return undefined;
        await parts.publisher.pauseAfter(e, signal);
      }
    }
    total += rows.length;
    after = { txid: last.txid, seq: last.seq };
  }
}

export async function dropSlot(ctx: RelayContext, slot: string): Promise<void> {
  await sql`select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = ${slot}`.execute(
    ctx.db,
  );
  await sql`delete from outbox.relay_slot where name = ${slot}`.execute(ctx.db);
}

/**
 * pgoutput in binary mode (PostgreSQL 14+): values come as their binary send format, so the
 * payload arrives as its bytes instead of hex text to decode (most of the per-row parsing and
 * garbage). pg-logical-replication's plugin has no option for it; this adds `binary 'true'`.
 */
class BinaryPgoutputPlugin extends PgoutputPlugin {
  override start(client: pg.Client, slotName: string, lastLsn: string): Promise<unknown> {
    const options = [
      `proto_version '${this.options.protoVersion}'`,
      `publication_names '${this.options.publicationNames.join(',')}'`,
      `binary 'true'`,
    ];
    return client.query(
      `START_REPLICATION SLOT ${pg.escapeIdentifier(slotName)} LOGICAL ${lastLsn} (${options.join(', ')})`,
    );
  }
}

/** A column as its binary send format (a Buffer), or as text already parsed by pg-types. */
const int8 = (v: unknown) => (Buffer.isBuffer(v) ? v.readBigUInt64BE(0).toString() : String(v));
const text = (v: unknown) => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v));
// jsonb's binary format is a version byte (1) and the JSON text.
const jsonb = (v: unknown) => (Buffer.isBuffer(v) ? (JSON.parse(v.toString('utf8', 1)) as unknown) : v);

function rowOf(t: Record<string, unknown>): Row {
  return {
    seq: int8(t['seq']),
    txid: int8(t['txid']),
    event_id: text(t['event_id']),
    subject: text(t['subject']),
    headers: (jsonb(t['headers']) ?? {}) as Record<string, string>,
    // bytea's binary format is the bytes themselves, handed over as a view into the connection's
    // read buffer, which pg reuses for later messages: copied, or a later row's bytes replace them.
    payload: Buffer.from(t['payload'] as Buffer),
    first_attempt_at: null,
    last_attempt_at: null,
  };
}

// Over 60 lines: the replication loop: one closure over the slot's connection, the batch and the confirmed position.
async function stream(
  ctx: RelayContext,
  parts: { publisher: Publisher; marks: Marks },
  o: LogicalReaderOptions,
  startAt: string,
  signal: AbortSignal,
  report: (p: LogicalProgress | undefined) => void,
): Promise<void> {
  const { logger, wake, batchSize } = ctx;
  const { publisher, marks } = parts;
  const service = new LogicalReplicationService(
    { connectionString: ctx.databaseUrl, application_name: 'vigil-outbox-relay-wal' },
    // Positions are confirmed by hand, only past what JetStream acknowledged.
    { acknowledge: { auto: false, timeoutSeconds: 0 } },
  );
  const plugin = new BinaryPgoutputPlugin({ protoVersion: 1, publicationNames: [OUTBOX_PUBLICATION] });
  const queue: Transaction[] = [];
  let open: Row[] | undefined;
  let buffered = 0;
  let publishing = false;
  let marking = 0;
  let confirmed = startAt;
  let failure: Error | undefined;
  // pg-logical-replication pauses its socket the same way for its own flow control.
  const socket = () =>
    (service as unknown as { _connection?: { stream?: { pause(): void; resume(): void; isPaused(): boolean } } })
      ._connection?.stream;
  const progress = (): LogicalProgress => ({
    bufferedRows: buffered + (open?.length ?? 0),
    oldestUnconfirmedAt: queue[0]?.committedAt ?? null,
    confirmed,
  });
  const confirm = () => void service.acknowledge(acknowledgeArgument(confirmed)).catch(() => undefined);

  service.on('data', (_lsn: string, msg: Pgoutput.Message) => {
    switch (msg.tag) {
      case 'begin':
        open = [];
        break;
      case 'insert':
        if (msg.relation.schema === 'outbox' && msg.relation.name === 'events') open?.push(rowOf(msg.new));
        break;
      case 'commit': {
        const rows = open ?? [];
        open = undefined;
        if (msg.commitEndLsn === null) break;
        queue.push({
          rows,
          end: msg.commitEndLsn,
          committedAt: new Date(Number(BigInt(msg.commitTime as bigint) / 1000n)),
        });
        buffered += rows.length;
        if (buffered >= o.maxBufferedRows) socket()?.pause();
        wake.wake();
        break;
      }
      default:
        break;
    }
  });
  service.on('heartbeat', (lsn: string, _at: number, shouldRespond: boolean) => {
    // With nothing received and unconfirmed, everything up to the server's sent position is
    // delivered: confirming it lets the server recycle WAL that other databases' writes filled.
    if (open === undefined && queue.length === 0 && !publishing && marking === 0) confirmed = laterLsn(confirmed, lsn);
    if (shouldRespond) confirm();
  });
  service.on('start', () => logger.info({ slot: o.slot, from: startAt }, 'streaming from the slot'));
  service.on('error', (e: Error) => {
    failure ??= e;
    wake.wake();
  });
  const status = setInterval(confirm, o.statusIntervalMs);
  const stop = () => wake.wake();
  signal.addEventListener('abort', stop, { once: true });
  void service
    .subscribe(plugin, o.slot, startAt)
    .then(() => {
      failure ??= new Error('the replication stream ended');
    })
    .catch((e: unknown) => {
      failure ??= e instanceof Error ? e : new Error(String(e));
    })
    .finally(() => wake.wake());
  try {
    while (!signal.aborted) {
      report(progress());
      if (failure !== undefined) throw failure;
      const first = queue[0];
      if (first === undefined) {
        await wake.wait(1000, signal);
        continue;
      }
      // Whole transactions, up to batchSize rows (at least one transaction, however large).
      const rows = [...first.rows];
      let k = 1;
      for (; k < queue.length; k++) {
        const t = queue[k] as Transaction;
        if (rows.length + t.rows.length > batchSize) break;
        rows.push(...t.rows);
      }
      const done: Row[] = [];
      publishing = true;
      try {
        await publisher.publishRows(rows, done, signal);
        const end = (queue[k - 1] as Transaction).end;
        queue.splice(0, k);
        buffered -= rows.length;
        // Confirmed once marked too: a row confirmed but left pending in the table would be
        // published again by the catch-up of a future slot, after the duplicate window.
        marking++;
        void marks.later(done).then((marked) => {
          marking--;
          if (!marked) return;
          confirmed = laterLsn(confirmed, end);
          confirm();
        });
        if (buffered < o.maxBufferedRows / 2 && socket()?.isPaused() === true) socket()?.resume();
      } catch (e) {
        // The transactions stay at the queue's head and go out again whole; JetStream drops the
        // rows it already holds as duplicates.
        void marks.later(done);
        await publisher.pauseAfter(e, signal);
      } finally {
        publishing = false;
      }
    }
  } finally {
    clearInterval(status);
    signal.removeEventListener('abort', stop);
    // The last marks, then their position, then the stream: a clean stop replays nothing.
    await marks.settle();
    if (failure === undefined) await service.acknowledge(acknowledgeArgument(confirmed)).catch(() => undefined);
    await service.destroy().catch(() => undefined);
    logger.debug({ slot: o.slot, confirmed }, 'replication stream closed');
  }
}
