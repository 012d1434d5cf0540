import type { JetStreamClient } from '@nats-io/jetstream';
import { sql, type Kysely, type Transaction } from 'kysely';
import {
  consume,
  type ConsumeOptions,
  type EventType,
  type HandlerContext,
  type RunningConsumer,
  type VigilEvent,
} from '@vigil/events';
import type { OutboxDatabase } from './schema.js';

export type IdempotentHandler<T extends EventType, DB> = (
  tx: Transaction<DB>,
  event: VigilEvent<T>,
  ctx: HandlerContext,
) => Promise<void>;

export interface ConsumeIdempotentOptions<T extends EventType, DB> extends Omit<ConsumeOptions<T>, 'handler' | 'js'> {
  readonly js: JetStreamClient;
  /** The service's database; it must have the outbox schema (for the inbox). */
  readonly db: Kysely<DB>;
  /** Runs inside the transaction that records the event in the inbox; write state and outbox rows with `tx`. */
  readonly handler: IdempotentHandler<T, DB>;
}

/**
 * decode → begin → inbox check → handler(tx) → commit → ack. The event id is recorded in the inbox
 * in the same transaction as the handler's effects, so a redelivered event changes nothing and
 * emits nothing again: exactly-once effects on at-least-once delivery.
 */
export async function consumeIdempotent<T extends EventType, DB>(
  o: ConsumeIdempotentOptions<T, DB>,
): Promise<RunningConsumer> {
  const consumer = o.spec.durable;
  return consume<T>({
    ...o,
    handler: async (event, ctx) => {
      await o.db.transaction().execute(async (tx) => {
        // Blocks while another instance holds the same event uncommitted, then sees its row.
        const first = await sql<{ one: number }>`
          insert into outbox.inbox (consumer, event_id) values (${consumer}, ${event.id})
          on conflict do nothing returning 1 as one`.execute(tx);
        if (first.rows.length === 0) {
          ctx.logger.info('already processed; redelivery ignored');
          return;
        }
        await o.handler(tx, event, ctx);
      });
    },
  });
}

/** Deletes inbox rows older than `olderThan`; an event older than the stream's max age cannot come back. */
export async function pruneInbox(db: Kysely<OutboxDatabase>, olderThan: Date): Promise<number> {
  const r = await db.deleteFrom('outbox.inbox').where('processed_at', '<', olderThan).executeTakeFirst();
  return Number(r.numDeletedRows);
}
