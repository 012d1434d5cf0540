import { sql } from 'kysely';
import pg from 'pg';
import { OUTBOX_CHANNEL } from '@vigil/outbox';
import type { RelayContext, Row } from './context.js';
import type { Cursor, Marks } from './marks.js';
import type { Publisher } from './publisher.js';

export interface XminReaderOptions {
  /** Fallback poll when no NOTIFY arrives (a missed notification). */
  readonly pollIntervalMs: number;
  /** First poll interval while committed rows wait behind an older open transaction. */
  readonly blockedPollMs: number;
}

/**
 * The xmin reader, for servers without logical decoding: it reads the table in (txid, seq) order
 * below the snapshot's xmin, so no row can later appear before one already read. Its price: a
 * transaction left open anywhere on the server (transaction ids are server-wide) holds every
 * newer row back until it ends. Runs while the caller holds the leader lock.
 */
// Over 60 lines: the polling loop: one closure over the watermark, the notification listener and the backoff.
export async function runXminReader(
  ctx: RelayContext,
  parts: { publisher: Publisher; marks: Marks },
  o: XminReaderOptions,
  signal: AbortSignal,
): Promise<void> {
  const { db, logger, batchSize, wake } = ctx;
  const { publisher, marks } = parts;

  /**
   * The next committed rows after `after` in (txid, seq) order. Every transaction below the
   * snapshot's xmin has ended, so no row can later appear before one already read: reading goes
   * on from the last row read (a keyset on the (txid, seq) index), never from the table's start.
   */
  async function fetchBatch(after: Cursor): Promise<Row[]> {
    const r = await sql<Row>`
      select e.seq, e.event_id, e.txid::text as txid, e.subject, e.headers, e.payload, e.first_attempt_at, e.last_attempt_at
      from outbox.events e
      where (e.txid, e.seq) > (${after.txid}::xid8, ${after.seq}::bigint)
        and e.txid < pg_snapshot_xmin(pg_current_snapshot())
        and e.state = 'pending'
      order by e.txid, e.seq -- the columns, not the text alias: xid8 order, read from the index
      limit ${batchSize}`.execute(db);
    return r.rows;
  }

  /**
   * Whether pending rows after `after` exist, after `fetchBatch` returned none: they are held
   * behind an older open transaction, or that transaction ended in between (a race the xmin test
   * alone would lose: it would then wait a whole poll interval for rows already readable).
   */
  async function blockedAfter(after: Cursor): Promise<boolean> {
    const r = await sql<{ blocked: boolean }>`
      select exists (
        select 1 from outbox.events e
        where (e.txid, e.seq) > (${after.txid}::xid8, ${after.seq}::bigint)
          and e.state = 'pending'
      ) as blocked`.execute(db);
    return r.rows[0]?.blocked === true;
  }

  /** The persisted low-water mark: no row at or before it is pending. */
  async function readCursor(): Promise<Cursor> {
    const r =
      await sql<Cursor>`select txid::text as txid, seq::text as seq from outbox.relay_cursor where id = 1`.execute(db);
    return r.rows[0] ?? { txid: '0', seq: '0' };
  }

  const listener = listen(ctx, o.pollIntervalMs, signal);
  // Where reading goes on: the persisted low-water mark, then the last row read.
  let cursor = await readCursor();
  let prefetched: Promise<Row[]> | undefined;
  let blockedPolls = 0;
  try {
    while (!signal.aborted) {
      if (marks.behind) {
        // A mark failed or the low-water mark did not move: start again from it.
        await prefetched?.catch(() => undefined);
        prefetched = undefined;
        await marks.settle();
        cursor = await readCursor();
      }
      let rows: Row[];
      try {
        rows = await (prefetched ?? fetchBatch(cursor));
      } catch (e) {
        prefetched = undefined;
        logger.error({ err: e }, 'reading the outbox failed; retrying');
        await wake.wait(o.pollIntervalMs, signal);
        continue;
      }
      prefetched = undefined;
      if (rows.length === 0) {
        const blocked = await blockedAfter(cursor).catch(() => false);
        blockedPolls = blocked ? blockedPolls + 1 : 0;
        // Poll while rows wait behind an open transaction that may end without a NOTIFY (it
        // wrote no outbox row), doubling up to 100 ms; otherwise NOTIFY wakes the reader.
        await wake.wait(
          blocked ? Math.min(o.pollIntervalMs, 100, o.blockedPollMs * 2 ** (blockedPolls - 1)) : o.pollIntervalMs,
          signal,
        );
        continue;
      }
      blockedPolls = 0;
      const last = rows[rows.length - 1] as Row;
      const next: Cursor = { txid: last.txid, seq: last.seq };
      // Read the next batch while this one is being published.
      prefetched = fetchBatch(next);
      prefetched.catch(() => undefined);
      const done: Row[] = [];
      try {
        await publisher.publishRows(rows, done, signal);
        void marks.later(done, { from: cursor, to: next });
        cursor = next;
      } catch (e) {
        // Rows of this batch may still be pending: mark what went out, drop the read-ahead,
        // and read again from the low-water mark.
        void marks.later(done);
        await prefetched.catch(() => undefined);
        prefetched = undefined;
        await marks.settle();
        cursor = await readCursor().catch(() => cursor);
        await publisher.pauseAfter(e, signal);
      }
    }
  } finally {
    await prefetched?.catch(() => undefined);
    await marks.settle();
    await listener.end();
  }
}

/** LISTEN on a dedicated connection that reconnects itself; polling covers the gaps. */
function listen(ctx: RelayContext, retryMs: number, signal: AbortSignal): { end(): Promise<void> } {
  let current: pg.Client | undefined;
  let timer: NodeJS.Timeout | undefined;
  const connect = async (): Promise<void> => {
    if (signal.aborted) return;
    const client = new pg.Client({
      connectionString: ctx.databaseUrl,
      application_name: 'vigil-outbox-relay-listen',
    });
    current = client;
    let retried = false;
    const again = (e: unknown) => {
      if (retried || signal.aborted) return;
      retried = true;
      ctx.logger.warn({ err: e }, 'LISTEN connection lost; polling until it is back');
      void client.end().catch(() => undefined);
      timer = setTimeout(() => void connect(), retryMs);
    };
    client.on('notification', () => ctx.wake.wake());
    client.on('error', again);
    try {
      await client.connect();
      await client.query(`listen ${OUTBOX_CHANNEL}`);
      ctx.wake.wake(); // rows may have committed before we listened
    } catch (e) {
      again(e);
    }
  };
  void connect();
  return {
    async end() {
      clearTimeout(timer);
      await current?.end().catch(() => undefined);
    },
  };
}
