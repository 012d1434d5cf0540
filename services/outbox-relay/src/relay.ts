import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { sql, type Kysely } from 'kysely';
import type { Logger, Namespace } from '@vigil/events';
import type { OutboxDatabase } from '@vigil/outbox';
import { waiter, type RelayContext } from './context.js';
import {
  checkDuplicateWindow,
  chooseMode,
  defaultRetrySchedule,
  slotNameFor,
  type RelayMode,
  type RetrySchedule,
} from './core.js';
import { startJanitor } from './janitor.js';
import { leadWhileLocked } from './leader.js';
import { dropSlot, runLogicalReader } from './logical-reader.js';
import { createMarks, foldRanges } from './marks.js';
import type { RelayMetrics } from './metrics.js';
import { createPublisher } from './publisher.js';
import { runXminReader } from './xmin-reader.js';

export interface RelayOptions {
  /**
   * `logical`: decode the WAL through a replication slot (needs `wal_level = logical` and a role
   * with REPLICATION); `xmin`: read the table below the oldest open transaction; `auto`: logical
   * wherever the server allows it, else xmin with a warning. @default auto
   */
  readonly mode?: RelayMode | 'auto';
  /** The replication slot of the logical mode. @default vigil_relay_<database> */
  readonly slot?: string;
  /** Logical mode: rows received and not yet confirmed before the stream pauses. @default 20 000 */
  readonly maxBufferedRows?: number;
  /** Logical mode: a status update to the server at least this often. @default 10 000 ms */
  readonly statusIntervalMs?: number;
  /** Rows read and published per round. @default 1000 */
  readonly batchSize?: number;
  /** xmin mode: fallback poll when no NOTIFY arrives (a missed notification). @default 1000 ms */
  readonly pollIntervalMs?: number;
  /**
   * xmin mode: poll while committed rows wait behind a transaction that began before theirs and is still
   * open (any service's), which ends without a NOTIFY when it wrote no outbox row. Waiting for
   * the next NOTIFY instead delayed events by the gap between two of them. Doubles while the
   * wait lasts, up to 100 ms (or `pollIntervalMs` if shorter): transaction ids are shared by
   * every database of the server, so another database's long transaction holds rows back too.
   * @default 5 ms
   */
  readonly blockedPollMs?: number;
  /** Retry schedule of a batch before the circuit breaker opens. */
  readonly retry?: Partial<RetrySchedule>;
  /** While the breaker is open, one probe batch every this long. @default 2000 ms */
  readonly breakerProbeMs?: number;
  /** Published rows older than this are deleted. @default 24 h */
  readonly retentionMs?: number;
  /** Inbox rows older than this are deleted (longer than the stream keeps events). @default 8 days */
  readonly inboxRetentionMs?: number;
  /** @default 60 000 ms */
  readonly janitorIntervalMs?: number;
  /** How often a standby tries to take the leader lock. @default 1000 ms */
  readonly standbyRetryMs?: number;
  /** Advisory lock key of the leader. @default 0x76696769 ('vigi') */
  readonly lockKey?: number;
}

export interface RelayDeps {
  /** The inbox prefix of that connection (`_INBOX_<user>` with NATS auth). @default _INBOX */
  readonly inboxPrefix?: string | undefined;
  /** The connection the relay publishes on (its acks come back on an inbox of it). */
  readonly nc: NatsConnection;
  /**
   * Its connections should carry {@link relayConnectionSettings}: without them a table whose
   * statistics are fresh or stale gets a scan and sort of every row instead of reading the
   * (txid, seq) index in order (measured: 30-40 ms instead of 0.5 ms per batch of 1000).
   */
  readonly db: Kysely<OutboxDatabase>;
  /** For the two dedicated connections: the leader lock and LISTEN. */
  readonly databaseUrl: string;
  readonly jsm: JetStreamManager;
  readonly ns: Namespace;
  readonly logger: Logger;
  readonly metrics: RelayMetrics;
  /** @default () => new Date() */
  readonly clock?: () => Date;
}

/**
 * Postgres settings for the relay's pool (see {@link RelayDeps.db}). `synchronous_commit=off`:
 * the relay's own writes (marks, the low-water mark) need not wait for the WAL flush, since a
 * mark lost in a crash only means a republish that JetStream drops as a duplicate. It halves
 * the cost of a mark on a machine where NATS and Postgres share the disk.
 */
export const relayConnectionSettings = {
  enable_bitmapscan: 'off',
  enable_sort: 'off',
  synchronous_commit: 'off',
} as const;

export interface Relay {
  /** Checks the duplicate window (throws, saying why, when it is too short), then runs. */
  start(): Promise<void>;
  stop(): Promise<void>;
  isLeader(): boolean;
  /** The mode chosen at start (undefined before). */
  mode(): RelayMode | undefined;
  /** Readiness: Postgres answers; NATS connected. */
  ready(): Promise<Record<string, boolean | string>>;
}

// Over 60 lines: one closure over the relay's leader lock, mode and reader; its steps are the inner functions.
export function createRelay(deps: RelayDeps, options: RelayOptions = {}): Relay {
  const { db, jsm, ns, metrics, logger } = deps;
  const ctx: RelayContext = {
    db,
    databaseUrl: deps.databaseUrl,
    nc: deps.nc,
    jsm,
    ns,
    logger,
    metrics,
    clock: deps.clock ?? (() => new Date()),
    schedule: { ...defaultRetrySchedule, ...options.retry } satisfies RetrySchedule,
    batchSize: options.batchSize ?? 1000,
    wake: waiter(),
  };
  const publisher = createPublisher(ctx, {
    inboxPrefix: deps.inboxPrefix,
    breakerProbeMs: options.breakerProbeMs ?? 2000,
  });
  const stopping = new AbortController();
  let leader = false;
  let mode: RelayMode | undefined;
  let slot = options.slot;
  let running: Promise<void> | undefined;

  /** The leader's work in the chosen mode, with the janitor beside it. */
  async function work(signal: AbortSignal): Promise<void> {
    const janitor = startJanitor(ctx, {
      retentionMs: options.retentionMs ?? 24 * 3_600_000,
      inboxRetentionMs: options.inboxRetentionMs ?? 8 * 24 * 3_600_000,
      intervalMs: options.janitorIntervalMs ?? 60_000,
    });
    try {
      if (mode === 'logical') {
        const marks = createMarks(ctx, 'ranges');
        await runLogicalReader(
          ctx,
          { publisher, marks },
          {
            slot: slot as string,
            maxBufferedRows: options.maxBufferedRows ?? 20_000,
            statusIntervalMs: options.statusIntervalMs ?? 10_000,
          },
          signal,
          (p) => metrics.setLogicalProgress(p),
        );
      } else {
        await dropLeftoverSlot();
        // Rows logical mode published are pending by their state; the xmin reader reads states.
        await foldRanges(ctx);
        const marks = createMarks(ctx, 'rows');
        await runXminReader(
          ctx,
          { publisher, marks },
          { pollIntervalMs: options.pollIntervalMs ?? 1000, blockedPollMs: options.blockedPollMs ?? 5 },
          signal,
        );
      }
    } finally {
      janitor.stop();
    }
  }

  /**
   * A slot left from an earlier logical run would keep its WAL for ever and, were logical mode
   * taken again, replay from where it stopped: everything since would be published twice.
   */
  async function dropLeftoverSlot(): Promise<void> {
    if (slot === undefined) return;
    const r = await sql<{ active: boolean }>`select active from pg_replication_slots where slot_name = ${slot}`.execute(
      db,
    );
    const found = r.rows[0];
    if (found === undefined || found.active) return;
    logger.warn(
      { slot },
      'xmin mode: dropping the replication slot of an earlier logical run (it would hold WAL back)',
    );
    await dropSlot(ctx, slot);
  }

  return {
    async start() {
      const info = await jsm.streams.info(ns.stream);
      const duplicateWindowMs = info.config.duplicate_window / 1_000_000;
      const why = checkDuplicateWindow(duplicateWindowMs, ctx.schedule, ns.stream);
      if (why !== null) throw new Error(why);
      publisher.setDuplicateWindow(duplicateWindowMs);
      const server = (
        await sql<{ wal_level: string; can_replicate: boolean; database: string }>`
          select current_setting('wal_level') as wal_level, current_database() as database,
                 (select rolreplication or rolsuper from pg_roles where rolname = current_user) as can_replicate`.execute(
          db,
        )
      ).rows[0];
      if (server === undefined) throw new Error('PostgreSQL answered no row to the mode query');
      slot ??= slotNameFor(server.database);
      const chosen = chooseMode(options.mode ?? 'auto', {
        walLevel: server.wal_level,
        canReplicate: server.can_replicate,
      });
      if (chosen.error !== undefined) throw new Error(chosen.error);
      if (chosen.warning !== undefined) logger.warn(chosen.warning);
      mode = chosen.mode;
      metrics.setMode(mode, mode === 'logical' ? slot : undefined);
      logger.info({ mode, ...(mode === 'logical' ? { slot } : {}) }, `relay mode: ${mode}`);
      metrics.leader.set(0);
      running = leadWhileLocked(
        ctx,
        { lockKey: options.lockKey ?? 0x76696769, standbyRetryMs: options.standbyRetryMs ?? 1000 },
        stopping.signal,
        work,
        (now) => {
          leader = now;
          metrics.leader.set(now ? 1 : 0);
        },
      );
    },
    async stop() {
      stopping.abort();
      ctx.wake.wake();
      await running;
      publisher.close();
    },
    isLeader: () => leader,
    mode: () => mode,
    async ready() {
      const checks: Record<string, boolean | string> = {};
      try {
        await sql`select 1`.execute(db);
        checks['postgres'] = true;
      } catch (e) {
        checks['postgres'] = (e as Error).message;
      }
      try {
        await jsm.streams.info(ns.stream);
        checks['jetstream'] = true;
      } catch (e) {
        checks['jetstream'] = (e as Error).message;
      }
      return checks;
    },
  };
}
