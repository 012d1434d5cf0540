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

/** Deletes old published outbox rows and old inbox rows every `intervalMs`, on the leader only. */
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
      const inbox = await pruneInbox(db, new Date(clock().getTime() - o.inboxRetentionMs));
      if (total + inbox > 0) logger.info({ outboxRows: total, inboxRows: inbox }, 'janitor deleted old rows');
    } catch (e) {
      logger.warn({ err: e }, 'janitor failed; will try again');
    }
  }
  const timer = setInterval(() => void clean(), o.intervalMs);
  return { stop: () => clearInterval(timer) };
}
