import type { JetStreamClient } from '@nats-io/jetstream';
import { sql, type Kysely, type Transaction } from 'kysely';
import {
  consume,
  PermanentError,
  type ConsumeOptions,
  type EventType,
  type HandlerContext,
  type RunningConsumer,
  type VigilEvent,
} from '@vigil/events';
import type { OutboxDatabase } from './schema.js';
import { isDatabaseUnavailable } from './unavailable.js';

export type IdempotentHandler<T extends EventType, DB, P = undefined> = (
  tx: Transaction<DB>,
  event: VigilEvent<T>,
  ctx: HandlerContext,
  prepared: P,
) => Promise<void>;

export interface ConsumeIdempotentOptions<T extends EventType, DB, P = undefined> extends Omit<
  ConsumeOptions<T>,
  'handler' | 'js'
> {
  readonly js: JetStreamClient;
  /** The service's database; it must have the outbox schema (for the inbox). */
  readonly db: Kysely<DB>;
  /**
   * Slow work done before the transaction (a validation run, a chaos experiment), skipped when
   * the inbox already holds the event. A transaction held open for seconds would hold back the
   * snapshot xmin that the relay waits on, for every service.
   */
  readonly prepare?: (event: VigilEvent<T>, ctx: HandlerContext) => Promise<P>;
  /** Runs inside the transaction that records the event in the inbox; write state and outbox rows with `tx`. */
  readonly handler: IdempotentHandler<T, DB, P>;
  /**
   * Runs after that transaction committed, before the ack, for events not seen before: start
   * in-process work on what the handler stored (it is visible to other connections by now).
   */
  readonly afterCommit?: (event: VigilEvent<T>, ctx: HandlerContext) => Promise<void>;
  /**
   * True for events the handler would do nothing with: they are acked without a transaction or an
   * inbox row, since nothing can apply twice. @default no event is skipped
   */
  readonly skip?: (event: VigilEvent<T>) => boolean;
}

/**
 * decode → begin → inbox check → handler(tx) → commit → ack. The event id is recorded in the inbox
 * in the same transaction as the handler's effects, so a redelivered event changes nothing and
 * emits nothing again: exactly-once effects on at-least-once delivery. While PostgreSQL is
 * unreachable the message is held and retried in place (see `isOutage`), not spent.
 */
export async function consumeIdempotent<T extends EventType, DB, P = undefined>(
  o: ConsumeIdempotentOptions<T, DB, P>,
): Promise<RunningConsumer> {
  const consumer = o.spec.durable;
  const preparedBy = new WeakMap<HandlerContext, { value: P }>();
  // PostgreSQL refusing the event's own values (class 22: a NUL byte in a string, a number out
  // of range; class 54: a value too large for an index) fails the same way on every delivery:
  // dead-letter it with the reason at once.
  const inTransaction = async <R>(fn: (tx: Transaction<DB>) => Promise<R>): Promise<R> => {
    try {
      return await o.db.transaction().execute(fn);
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if (typeof code === 'string' && (code.startsWith('22') || code.startsWith('54'))) {
        throw new PermanentError(`the database refused the event's data: ${(e as Error).message}`, { cause: e });
      }
      throw e;
    }
  };
  return consume<T>({
    isOutage: isDatabaseUnavailable,
    ...o,
    handler: async (event, ctx) => {
      if (o.skip?.(event) === true) return;
      let prepared = undefined as P;
      if (o.prepare) {
        // A first delivery is rarely a repeat (only the same id published again after the
        // duplicate window): the transaction's inbox row still stops it applying twice, so the
        // slow work is checked for only on redeliveries.
        const seen =
          ctx.deliveryCount > 1
            ? await sql`select 1 from outbox.inbox where consumer = ${consumer} and event_id = ${event.id}`.execute(
                o.db,
              )
            : { rows: [] };
        if (seen.rows.length > 0) {
          ctx.logger.info('already processed; redelivery ignored');
          return;
        }
        // Held through a database outage, the handler runs again with the same ctx: the slow
        // work already done is not done twice.
        const held = preparedBy.get(ctx);
        if (held !== undefined) prepared = held.value;
        else {
          prepared = await o.prepare(event, ctx);
          preparedBy.set(ctx, { value: prepared });
        }
      }
      const first = await inTransaction(async (tx) => {
        // Blocks while another instance holds the same event uncommitted, then sees its row.
        const inserted = await sql<{ one: number }>`
          insert into outbox.inbox (consumer, event_id) values (${consumer}, ${event.id})
          on conflict do nothing returning 1 as one`.execute(tx);
        if (inserted.rows.length === 0) {
          ctx.logger.info('already processed; redelivery ignored');
          return false;
        }
        await o.handler(tx, event, ctx, prepared);
        return true;
      });
      if (first && o.afterCommit) await o.afterCommit(event, ctx);
    },
  });
}

/** Deletes inbox rows older than `olderThan`; an event older than the stream's max age cannot come back. */
export async function pruneInbox(db: Kysely<OutboxDatabase>, olderThan: Date): Promise<number> {
  const r = await db.deleteFrom('outbox.inbox').where('processed_at', '<', olderThan).executeTakeFirst();
  return Number(r.numDeletedRows);
}
