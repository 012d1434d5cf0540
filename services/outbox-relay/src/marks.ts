import { sql } from 'kysely';
import type { RelayContext, Row } from './context.js';
import { seqRanges } from './core.js';

/** Where the xmin reader goes on: no row at or before it is pending. */
export interface Cursor {
  txid: string;
  seq: string;
}

export interface Marks {
  /**
   * Marks rows published behind the publishing, in order. With `advance`, also moves the xmin
   * reader's low-water mark from `from` to `to`, compare-and-set. Resolves (never rejects) true
   * once these rows are marked.
   */
  later(rows: Row[], advance?: { from: Cursor; to: Cursor }): Promise<boolean>;
  /** Whether a mark failed or the low-water mark did not move since the last `settle`. */
  readonly behind: boolean;
  /** Waits for every mark queued so far and clears `behind`. */
  settle(): Promise<void>;
}

/**
 * How a mode records publication: `rows` sets each row's state (xmin mode, whose reader and
 * low-water mark read it); `ranges` inserts the batch's seqs as ranges into `outbox.published`
 * (logical mode: one insert per batch instead of an update per row, which under
 * wal_level = logical the walsender would decode whole).
 */
export type MarkKind = 'rows' | 'ranges';

/**
 * Rows are marked published behind the publishing: the next batch is read and sent while the
 * previous one's mark runs. A crash before the mark only means a republish, which JetStream
 * drops as a duplicate within its window. The marks feed the janitor, `outbox.delivery` and the
 * catch-up after a lost replication slot.
 */
export function createMarks(ctx: RelayContext, kind: MarkKind): Marks {
  const { db, logger } = ctx;
  let chain: Promise<void> = Promise.resolve();
  let behind = false;
  // Without a low-water mark to fall back to (logical mode), rows whose mark failed are marked
  // with the next ones instead; a bounded list, since a mark is a convenience, not the delivery.
  let unmarked: Row[] = [];

  /** Marks rows published and, with `advance`, moves the low-water mark; true when it moved. */
  async function mark(rows: Row[], advance?: { from: Cursor; to: Cursor }): Promise<boolean> {
    const seqs = rows.map((r) => r.seq);
    if (kind === 'ranges') {
      if (advance !== undefined) throw new Error('a low-water mark is kept by row marks only');
      const { lo, hi } = seqRanges(seqs);
      if (lo.length > 0)
        await sql`insert into outbox.published (lo, hi) select * from unnest(${lo}::bigint[], ${hi}::bigint[])`.execute(
          db,
        );
      return false;
    }
    if (advance === undefined) {
      await sql`update outbox.events set state = 'published', published_at = now() where seq = any(${seqs}::bigint[])`.execute(
        db,
      );
      return false;
    }
    const r = await sql<{ moved: number }>`
      with marked as (
        update outbox.events set state = 'published', published_at = now() where seq = any(${seqs}::bigint[]) returning 1
      ), cursor as (
        insert into outbox.relay_cursor as c (id, txid, seq) values (1, ${advance.to.txid}::xid8, ${advance.to.seq}::bigint)
        on conflict (id) do update set txid = excluded.txid, seq = excluded.seq, updated_at = now()
          where c.txid = ${advance.from.txid}::xid8 and c.seq = ${advance.from.seq}::bigint
        returning 1
      )
      select (select count(*) from cursor)::int as moved, (select count(*) from marked)::int as n`.execute(db);
    // The first advance has no row to compare with; an insert from (0, 0) counts as moved.
    return (r.rows[0]?.moved ?? 0) > 0;
  }

  return {
    later(rows, advance) {
      if (rows.length === 0 && advance === undefined && unmarked.length === 0) return Promise.resolve(true);
      let marked = false;
      chain = chain.then(async () => {
        const all = advance === undefined && unmarked.length > 0 ? [...unmarked, ...rows] : rows;
        try {
          const moved = await mark(all, advance);
          marked = true;
          if (advance === undefined) unmarked = [];
          if (advance !== undefined && !moved) behind = true;
        } catch (e) {
          behind = true;
          if (advance === undefined) unmarked = all.slice(-100_000);
          logger.warn({ err: e, rows: rows.length }, 'marking rows published failed; trying again with the next ones');
        }
      });
      return chain.then(() => marked);
    },
    get behind() {
      return behind;
    },
    async settle() {
      await chain;
      behind = false;
    },
  };
}

/**
 * Turns the ranges logical mode recorded into row states and deletes them, in one statement:
 * xmin mode reads states (its reader, its pending count), so it runs this before it reads after
 * a switch from logical mode. The number of rows marked.
 */
export async function foldRanges(ctx: RelayContext): Promise<number> {
  const r = await sql`
    with gone as (delete from outbox.published returning lo, hi, published_at)
    update outbox.events e set state = 'published', published_at = g.published_at
    from gone g where e.seq between g.lo and g.hi and e.state = 'pending'`.execute(ctx.db);
  const n = Number(r.numAffectedRows ?? 0);
  if (n > 0) ctx.logger.info({ rows: n }, 'xmin mode: rows logical mode published are marked published by row');
  return n;
}
