import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import { migrateSchema } from './migrate.js';

/** Channel the relay LISTENs on; a trigger NOTIFYs it when a transaction that wrote rows commits. */
export const OUTBOX_CHANNEL = 'vigil_outbox';

const migrations: Record<string, Migration> = {
  '0001_outbox_and_inbox': {
    async up(db: Kysely<unknown>) {
      await sql`
        create table outbox.events (
          seq bigserial primary key,
          event_id text not null unique,
          txid xid8 not null default pg_current_xact_id(),
          subject text not null,
          headers jsonb not null default '{}'::jsonb,
          payload bytea not null,
          created_at timestamptz not null default now(),
          published_at timestamptz,
          attempts integer not null default 0,
          first_attempt_at timestamptz,
          last_attempt_at timestamptz,
          last_error text,
          state text not null default 'pending' check (state in ('pending', 'published', 'failed'))
        )`.execute(db);
      await sql`create index events_pending on outbox.events (txid, seq) where state = 'pending'`.execute(db);
      await sql`create index events_published_at on outbox.events (published_at) where state = 'published'`.execute(db);
      // NOTIFY is delivered at commit, and identical notifications of one transaction collapse to one.
      await sql`
        create function outbox.notify_relay() returns trigger language plpgsql as $$
        begin
          perform pg_notify(${sql.lit(OUTBOX_CHANNEL)}, '');
          return null;
        end $$`.execute(db);
      await sql`
        create trigger events_notify after insert on outbox.events
        for each statement execute function outbox.notify_relay()`.execute(db);
      await sql`
        create table outbox.inbox (
          consumer text not null,
          event_id text not null,
          processed_at timestamptz not null default now(),
          primary key (consumer, event_id)
        )`.execute(db);
      await sql`create index inbox_processed_at on outbox.inbox (processed_at)`.execute(db);
    },
  },
};

/** Creates or upgrades the `outbox` schema (idempotent; safe when several services start at once). */
export async function migrateOutbox<DB>(db: Kysely<DB>): Promise<string[]> {
  return migrateSchema(db, 'outbox', migrations);
}
