import type { JetStreamClient } from '@nats-io/jetstream';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Kysely } from 'kysely';
import {
  consume,
  replay,
  TransientError,
  consumers,
  type Logger,
  type Namespace,
  type RunningConsumer,
} from '@vigil/events';
import {
  applyEvent,
  createModel,
  dayOf,
  pruneDays,
  statusTypes,
  type Change,
  type ModelLimits,
  type ReadModel,
  type StoredEvent,
} from './core/model.js';
import { overview, type Overview } from './core/overview.js';
import { changeKey, loadArchive, pruneArchive, saveChanges, type StatusDatabase } from './store.js';

/** The status service's durable: it follows the result streams after the replay at start. */
export const STATUS_CONSUMER = consumers.status;

export interface StatusDeps {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly db: Kysely<StatusDatabase>;
  readonly ns: Namespace;
  readonly logger: Logger;
  readonly clock: () => Date;
}

export interface Rebuild {
  /** Rows read from the archive. */
  readonly archived: number;
  /** Events replayed from the stream. */
  readonly replayed: number;
  readonly ms: number;
}

export interface StatusService {
  readonly model: ReadModel;
  readonly rebuild: Rebuild;
  readonly consumer: RunningConsumer;
  overview(): Overview;
  /** Called after every event that changed the model (live ones, after the replay). */
  onChange(listener: (event: StoredEvent, changes: readonly Change[]) => void): () => void;
  /** Changes not yet in the archive (kept and written with the next event when a write failed). */
  unsaved(): number;
  stop(): Promise<void>;
}

/**
 * Rebuilds the read model (the archive, then the stream's history by replay), then follows the
 * stream with the durable consumer. An event is acked once its changes are in the archive; the
 * page is served from memory, so a PostgreSQL outage delays the archive, never the page.
 */
// Over 60 lines: one closure over the read model, the archive writer and the listeners.
export async function startStatus(deps: StatusDeps, o: { limits?: Partial<ModelLimits> } = {}): Promise<StatusService> {
  const { db, ns, logger, clock } = deps;
  const model = createModel(o.limits);
  const started = performance.now();
  const firstDay = dayOf(new Date(clock().getTime() - (model.limits.days - 1) * 86_400_000));
  await pruneArchive(db, firstDay);
  const archived = await loadArchive(db, model, firstDay);

  // History up to the last message present now; the durable takes over from there (the two may
  // overlap: a fold applied twice changes nothing).
  const jsm = await jetstreamManager(deps.nc);
  const upTo = (await jsm.streams.info(ns.stream)).state.last_seq;
  // Changes not yet in the archive, by what they change: a later one replaces an earlier, so
  // this holds at most one per component, day, incident and experiment.
  const pending = new Map<string, Change>();
  const hold = (changes: readonly Change[]) => {
    for (const c of changes) pending.set(changeKey(c), c);
  };
  const flush = async () => {
    const batch = [...pending.values()];
    await saveChanges(db, batch);
    // Only what was written: changes held meanwhile stay.
    for (const c of batch) if (pending.get(changeKey(c)) === c) pending.delete(changeKey(c));
  };
  let replayed = 0;
  if (upTo > 0) {
    // One replay per type, side by side: the server filters each (nats-server 2.9 cannot filter
    // several subjects in one consumer, and the namespace's other events are most of it), and
    // the folds do not depend on order.
    await Promise.all(
      statusTypes.map(async (type) => {
        for await (const r of replay(deps.nc, {
          start: { from: 'beginning' },
          types: [type],
          until: { seq: upTo },
          ns,
          logger,
          onInvalid: (e, at) =>
            logger.warn({ err: e, seq: at.seq, subject: at.subject }, 'replay: not a valid event, skipped'),
        })) {
          replayed++;
          hold(applyEvent(model, { event: r.event, seq: r.seq, storedAt: r.storedAt }));
        }
      }),
    );
  }
  await flush();
  pruneDays(model, clock());
  const rebuild: Rebuild = { archived, replayed, ms: performance.now() - started };
  logger.info(rebuild, 'read model rebuilt');

  const listeners = new Set<(event: StoredEvent, changes: readonly Change[]) => void>();
  const consumer: RunningConsumer = await consume({
    js: deps.js,
    ns,
    spec: STATUS_CONSUMER,
    logger,
    handler: async (event, ctx) => {
      const stored: StoredEvent = { event, seq: ctx.streamSequence, storedAt: ctx.storedAt };
      const changes = applyEvent(model, stored);
      if (changes.length > 0) {
        hold(changes);
        for (const l of listeners) l(stored, changes);
      }
      if (pending.size === 0) return;
      try {
        await flush();
      } catch (e) {
        // The model has the event already; its changes stay pending and go with the next write.
        throw new TransientError(`archive write failed: ${(e as Error).message}`, { cause: e });
      }
    },
  });
  let lastPrune = dayOf(clock());
  return {
    model,
    rebuild,
    consumer,
    overview() {
      const now = clock();
      if (dayOf(now) !== lastPrune) {
        lastPrune = dayOf(now);
        pruneDays(model, now);
      }
      return overview(model, now);
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    unsaved: () => pending.size,
    async stop() {
      await consumer.stop();
    },
  };
}
