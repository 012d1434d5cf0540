import { Counter, Gauge, Registry } from 'prom-client';
import { sql, type Kysely } from 'kysely';
import type { OutboxDatabase } from '@vigil/outbox';
import type { RelayMode } from './core.js';
import type { LogicalProgress } from './logical-reader.js';

export interface RelayMetrics {
  readonly registry: Registry;
  readonly published: Counter;
  readonly retries: Counter;
  readonly duplicates: Counter;
  /** Rows dropped because the stream already held a different message under their event id. */
  readonly preempted: Counter;
  readonly failed: Counter;
  readonly leader: Gauge;
  /** Replication slots dropped and made again (invalidated, dropped by someone, or a catch-up cut short). */
  readonly slotRecreated: Counter;
  /** The mode chosen at start, and the slot of the logical mode. */
  setMode(mode: RelayMode, slot: string | undefined): void;
  /** What the logical reader holds, while it runs (undefined otherwise). */
  setLogicalProgress(p: LogicalProgress | undefined): void;
  /** Publishes per second over the last 10 s, for a reader without a Prometheus server. */
  recordPublished(n: number, now: number): void;
}

/** One query serves every gauge of a scrape that needs it: its answer is reused for a second. */
function perScrape<T>(read: () => Promise<T>, clock: () => Date): () => Promise<T> {
  let last: { at: number; value: Promise<T> } | undefined;
  return () => {
    const now = clock().getTime();
    if (last === undefined || now - last.at > 1000) last = { at: now, value: read() };
    return last.value;
  };
}

/** The relay's Prometheus metrics; pending rows and their age are read from Postgres at scrape time. */
// Over 60 lines: declarations, one block per metric with its help text.
export function createRelayMetrics(db: Kysely<OutboxDatabase>, clock: () => Date = () => new Date()): RelayMetrics {
  const registry = new Registry();
  const window: { at: number; n: number }[] = [];
  const rate = () => {
    const now = clock().getTime();
    while (window.length > 0 && (window[0]?.at ?? 0) < now - 10_000) window.shift();
    return window.reduce((s, w) => s + w.n, 0) / 10;
  };
  const published = new Counter({
    name: 'vigil_outbox_published_total',
    help: 'Outbox rows published to JetStream',
    registers: [registry],
  });
  const retries = new Counter({
    name: 'vigil_outbox_publish_retries_total',
    help: 'Batch publish retries after transient failures',
    registers: [registry],
  });
  const duplicates = new Counter({
    name: 'vigil_outbox_duplicates_total',
    help: 'Publishes JetStream reported as duplicates (already stored under the same Nats-Msg-Id)',
    registers: [registry],
  });
  const preempted = new Counter({
    name: 'vigil_outbox_preempted_total',
    help: 'Rows JetStream dropped as duplicates of a different message with the same Nats-Msg-Id (an id used first by another publisher): the event never reached the stream',
    registers: [registry],
  });
  const failed = new Counter({
    name: 'vigil_outbox_failed_total',
    help: 'Rows marked failed (rejected by JetStream for good)',
    registers: [registry],
  });
  let mode: RelayMode | undefined;
  let slot: string | undefined;
  let progress: LogicalProgress | undefined;
  new Gauge({
    name: 'vigil_outbox_relay_mode',
    help: 'The relay mode: 1 for the mode in use (logical: decoding the WAL; xmin: reading the table below the oldest open transaction, held back by any open transaction on the server)',
    labelNames: ['mode'],
    registers: [registry],
    collect() {
      for (const m of ['logical', 'xmin'] as const) this.set({ mode: m }, mode === m ? 1 : 0);
    },
  });
  const slotRecreated = new Counter({
    name: 'vigil_outbox_relay_slot_recreated_total',
    help: 'Replication slots dropped and made again with a catch-up from the table (invalidated, dropped by someone, or a catch-up cut short)',
    registers: [registry],
  });
  // The slot as the server sees it: what it keeps of the WAL, and how far the confirmed position lags.
  const slotState = perScrape(
    async () =>
      slot === undefined
        ? undefined
        : (
            await sql<{ retained: string | null; lag: string | null }>`
            select pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::text as retained,
                   pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::text as lag
            from pg_replication_slots where slot_name = ${slot}`.execute(db)
          ).rows[0],
    clock,
  );
  new Gauge({
    name: 'vigil_outbox_relay_slot_retained_wal_bytes',
    help: 'WAL bytes the replication slot keeps on the server (logical mode; bounded by max_slot_wal_keep_size)',
    registers: [registry],
    async collect() {
      this.set(Number((await slotState())?.retained ?? 0));
    },
  });
  new Gauge({
    name: 'vigil_outbox_relay_slot_lag_bytes',
    help: 'WAL bytes between the server position and the slot position the relay confirmed (logical mode)',
    registers: [registry],
    async collect() {
      this.set(Number((await slotState())?.lag ?? 0));
    },
  });
  const leader = new Gauge({
    name: 'vigil_outbox_relay_leader',
    help: '1 while this relay holds the leader lock',
    registers: [registry],
  });
  new Gauge({
    name: 'vigil_outbox_publish_rate',
    help: 'Rows published per second over the last 10 seconds',
    registers: [registry],
    collect() {
      this.set(rate());
    },
  });
  // xmin mode: pending rows all lie after the relay's low-water mark, so the count reads only
  // that range. Logical mode: what the reader received and has not confirmed.
  const counts = perScrape(async (): Promise<{ pending: number; oldest: Date | null }> => {
    if (mode === 'logical')
      return { pending: progress?.bufferedRows ?? 0, oldest: progress?.oldestUnconfirmedAt ?? null };
    const r = (
      await sql<{ pending: string; oldest: Date | null }>`
        with c as (
          select coalesce((select txid from outbox.relay_cursor where id = 1), '0'::xid8) as txid,
                 coalesce((select seq from outbox.relay_cursor where id = 1), 0::bigint) as seq
        )
        select count(*) as pending, min(e.created_at) as oldest
        from outbox.events e, c
        where (e.txid, e.seq) > (c.txid, c.seq) and e.state = 'pending'`.execute(db)
    ).rows[0];
    return { pending: Number(r?.pending ?? 0), oldest: r?.oldest ?? null };
  }, clock);
  new Gauge({
    name: 'vigil_outbox_pending_rows',
    help: 'Rows committed and not yet published (logical mode: received from the WAL and not yet confirmed)',
    registers: [registry],
    async collect() {
      this.set((await counts()).pending);
    },
  });
  new Gauge({
    name: 'vigil_outbox_failed_rows',
    help: 'Rows marked failed and kept for inspection',
    registers: [registry],
    async collect() {
      this.set(
        Number((await sql<{ n: string }>`select count(*) as n from outbox.failures`.execute(db)).rows[0]?.n ?? 0),
      );
    },
  });
  new Gauge({
    name: 'vigil_outbox_oldest_pending_age_seconds',
    help: 'Age of the oldest event committed and not yet published (logical mode: its commit time), 0 when none',
    registers: [registry],
    async collect() {
      const { oldest } = await counts();
      this.set(oldest ? Math.max(0, (clock().getTime() - oldest.getTime()) / 1000) : 0);
    },
  });
  return {
    registry,
    published,
    retries,
    duplicates,
    preempted,
    failed,
    leader,
    slotRecreated,
    setMode(m, s) {
      mode = m;
      slot = s;
    },
    setLogicalProgress(p) {
      progress = p;
    },
    recordPublished(n, now) {
      published.inc(n);
      window.push({ at: now, n });
    },
  };
}
