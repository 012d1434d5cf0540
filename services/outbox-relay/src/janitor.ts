import { sql } from 'kysely';
import { pruneInbox } from '@vigil/outbox';
import type { RelayContext } from './context.js';

export interface JanitorOptions {
  /** Published rows older than this are deleted. */
  readonly retentionMs: number;
  /** Inbox rows older than this are deleted (longer than the stream keeps events). */
  readonly inboxRetentionMs: number;
  readonly intervalMs: number;
}

/**
 * Deletes old published outbox rows (by their state, or with logical mode's ranges) and old inbox
 * rows every `intervalMs`, on the leader only.
 */
export function startJanitor(ctx: RelayContext, o: JanitorOptions): { stop(): void } {
  const { db, logger, clock } = ctx;
  async function clean(): Promise<void> {
    try {
      const before = new Date(clock().getTime() - o.retentionMs);
      let total = 0;
      for (;;) {
        // published_at < before implies created_at < before, which the BRIN index finds cheaply.
        const r = await sql`delete from outbox.events where seq in (
                 select seq from outbox.events
                 where created_at < ${before} and state = 'published' and published_at < ${before} limit 5000)`.execute(
          db,
        );
        const n = Number(r.numAffectedRows ?? 0);
        total += n;
        if (n < 5000) break;
      }
      // Logical mode's ranges go with their rows, in one statement: a row whose range is gone
      // would look pending to the catch-up of a new slot.
      for (;;) {
        const r = await sql<{ ranges: number; rows: number }>`
          with r as (
            delete from outbox.published where id in (
              select id from outbox.published where published_at < ${before} order by id limit 100)
            returning lo, hi
          ), gone as (
            delete from outbox.events e using r where e.seq between r.lo and r.hi returning 1
          )
          select (select count(*) from r)::int as ranges, (select count(*) from gone)::int as rows`.execute(db);
        const done = r.rows[0] ?? { ranges: 0, rows: 0 };
        total += done.rows;
        if (done.ranges < 100) break;
      }
      const inbox = await pruneInbox(db, new Date(clock().getTime() - o.inboxRetentionMs));
      if (total + inbox > 0) logger.info({ outboxRows: total, inboxRows: inbox }, 'janitor deleted old rows');
    } catch (e) {
      logger.warn({ err: e }, 'janitor failed; will try again');
    }
  }
  const timer = setInterval(() => void clean(), o.intervalMs);
  return { stop: () => clearInterval(timer) };
}
