import type { JetStreamClient } from '@nats-io/jetstream';
import { context as otelContext, type Context } from '@opentelemetry/api';
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
   * the inbox already holds the event. A transaction held open for seconds holds row locks that
   * long, and in the relay's xmin mode it would hold back every service's events.
   */
  readonly prepare?: (event: VigilEvent<T>, ctx: HandlerContext) => Promise<P>;
  /** Runs inside the transaction that records the event in the inbox; write state and outbox rows with `tx`. */
  readonly handler: IdempotentHandler<T, DB, P>;
  /**
   * Runs once per transaction, after its handlers and before the commit (not for a transaction in
   * which every event was a repeat): write what the handlers gathered in memory for `tx`, so that
   * a group of events updates a row once rather than once per event (see {@link perTransaction}).
   */
  readonly beforeCommit?: (tx: Transaction<DB>) => Promise<void>;
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
  /**
   * Group commit: events that arrive while a transaction is running wait for it, then share the
   * next one (at most `concurrency` of them), handled one after another in the order they arrived.
   * One BEGIN, one inbox insert and one COMMIT serve the whole group, so a busy consumer spends
   * far fewer round trips and WAL flushes per event; an idle one still commits each event at once.
   * If the shared transaction fails, each event of the group is handled again in a transaction of
   * its own, so a bad event fails alone. Handlers must keep no state outside `tx` that a rollback
   * would leave behind. @default false (each event in its own transaction, up to `concurrency` at once)
   */
  readonly groupCommit?: boolean | GroupCommitOptions;
}

export interface GroupCommitOptions {
  /**
   * How long an event that finds no transaction running waits for others to share one with it.
   * A consumer that keeps up with its stream would otherwise commit every event alone; where a
   * little delay does not matter, this trades it for far less work per event. The wait ends early
   * once `concurrency` events are waiting. @default 0
   */
  readonly lingerMs?: number;
}

/**
 * decode → begin → inbox check → handler(tx) → commit → ack. The event id is recorded in the inbox
 * in the same transaction as the handler's effects, so a redelivered event changes nothing and
 * emits nothing again: exactly-once effects on at-least-once delivery. While PostgreSQL is
 * unreachable the message is held and retried in place (see `isOutage`), not spent.
 */
// Over 60 lines: one closure over the linger batch and the per-event transaction; its steps are the inner functions.
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
  const isOutage = o.isOutage ?? isDatabaseUnavailable;
  const single = (item: Pending<T, P>) =>
    otelContext.with(item.otel, () =>
      inTransaction(async (tx) => {
        // Blocks while another instance holds the same event uncommitted, then sees its row.
        const inserted = await sql<{ one: number }>`
          insert into outbox.inbox (consumer, event_id) values (${consumer}, ${item.event.id})
          on conflict do nothing returning 1 as one`.execute(tx);
        if (inserted.rows.length === 0) return false;
        await o.handler(tx, item.event, item.ctx, item.prepared);
        await o.beforeCommit?.(tx);
        return true;
      }),
    );
  const grouped = async (items: readonly Pending<T, P>[]): Promise<boolean[]> =>
    o.db.transaction().execute(async (tx) => {
      // Sorted, so that two instances inserting overlapping groups take the row locks in one order.
      const ids = [...new Set(items.map((i) => i.event.id))].sort();
      const inserted = await sql<{ event_id: string }>`
          insert into outbox.inbox (consumer, event_id)
          select ${consumer}, id from unnest(${ids}::text[]) as id
          on conflict do nothing returning event_id`.execute(tx);
      const fresh = new Set(inserted.rows.map((r) => r.event_id));
      const firsts: boolean[] = [];
      for (const item of items) {
        // The same id twice in one group: only its first copy is new.
        const first = fresh.delete(item.event.id);
        if (first) await otelContext.with(item.otel, () => o.handler(tx, item.event, item.ctx, item.prepared));
        firsts.push(first);
      }
      if (firsts.includes(true)) await o.beforeCommit?.(tx);
      return firsts;
    });
  const group = o.groupCommit === true ? {} : o.groupCommit === false ? undefined : o.groupCommit;
  const commit =
    group === undefined
      ? single
      : groupCommitter<T, P>(single, grouped, isOutage, {
          lingerMs: group.lingerMs ?? 0,
          max: Math.max(1, o.concurrency ?? 1),
        });

  return consume<T>({
    isOutage,
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
      const first = await commit({ event, ctx, prepared, otel: otelContext.active() });
      if (!first) ctx.logger.info('already processed; redelivery ignored');
      else if (o.afterCommit) await o.afterCommit(event, ctx);
    },
  });
}

interface Pending<T extends EventType, P> {
  readonly event: VigilEvent<T>;
  readonly ctx: HandlerContext;
  readonly prepared: P;
  /** The event's own trace context: its handler runs in it even inside a shared transaction. */
  readonly otel: Context;
}

/**
 * One transaction at a time; whatever arrives meanwhile goes into the next, in arrival order. A
 * group of one takes the single path; a failed group is retried event by event so that each
 * event's own error (a bad value, a handler bug) reaches only that event, except an outage, which
 * every event of the group shares and holds through.
 */
function groupCommitter<T extends EventType, P>(
  single: (item: Pending<T, P>) => Promise<boolean>,
  grouped: (items: readonly Pending<T, P>[]) => Promise<boolean[]>,
  isOutage: (e: unknown) => boolean,
  o: { lingerMs: number; max: number },
): (item: Pending<T, P>) => Promise<boolean> {
  type Waiting = Pending<T, P> & { resolve(first: boolean): void; reject(e: unknown): void };
  let queue: Waiting[] = [];
  let running = false;
  let lingering: NodeJS.Timeout | undefined;
  const settle = async (w: Waiting) => {
    try {
      w.resolve(await single(w));
    } catch (e) {
      w.reject(e);
    }
  };
  const run = async () => {
    clearTimeout(lingering);
    lingering = undefined;
    running = true;
    try {
      while (queue.length > 0) {
        const group = queue;
        queue = [];
        if (group.length === 1) {
          await settle(group[0]!);
          continue;
        }
        try {
          const firsts = await grouped(group);
          group.forEach((w, i) => w.resolve(firsts[i]!));
        } catch (e) {
          if (outage(e)) group.forEach((w) => w.reject(e));
          else for (const w of group) await settle(w);
        }
      }
    } finally {
      // Whatever happened, the next event must start a transaction rather than wait for this one.
      running = false;
    }
  };
  // A throwing classifier must not leave a group's events waiting for ever.
  const outage = (e: unknown) => {
    try {
      return isOutage(e);
    } catch {
      return false;
    }
  };
  return (item) =>
    new Promise<boolean>((resolve, reject) => {
      queue.push({ ...item, resolve, reject });
      if (running) return;
      if (o.lingerMs <= 0 || queue.length >= o.max) void run();
      else lingering ??= setTimeout(() => void run(), o.lingerMs);
    });
}

/**
 * What handlers gather in memory for one transaction, for `beforeCommit` to write: `of(tx)` makes
 * it on a handler's first use, `take(tx)` hands it over and forgets it. The state of a transaction
 * that rolled back is never taken; it is held weakly and goes with the transaction.
 */
export function perTransaction<DB, S>(
  open: (tx: Transaction<DB>) => S,
): { of(tx: Transaction<DB>): S; take(tx: Transaction<DB>): S | undefined } {
  const states = new WeakMap<Transaction<DB>, S>();
  return {
    of(tx) {
      let s = states.get(tx);
      if (s === undefined) {
        s = open(tx);
        states.set(tx, s);
      }
      return s;
    },
    take(tx) {
      const s = states.get(tx);
      states.delete(tx);
      return s;
    },
  };
}

/** Deletes inbox rows older than `olderThan`; an event older than the stream's max age cannot come back. */
export async function pruneInbox(db: Kysely<OutboxDatabase>, olderThan: Date): Promise<number> {
  const r = await db.deleteFrom('outbox.inbox').where('processed_at', '<', olderThan).executeTakeFirst();
  return Number(r.numDeletedRows);
}
