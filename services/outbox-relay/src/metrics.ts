import { Counter, Gauge, Registry } from 'prom-client';
import { sql, type Kysely } from 'kysely';
import type { OutboxDatabase } from '@vigil/outbox';

export interface RelayMetrics {
  readonly registry: Registry;
  readonly published: Counter;
  readonly retries: Counter;
  readonly duplicates: Counter;
  /** Rows dropped because the stream already held a different message under their event id. */
  readonly preempted: Counter;
  readonly failed: Counter;
  readonly leader: Gauge;
  /** Publishes per second over the last 10 s, for a reader without a Prometheus server. */
  recordPublished(n: number, now: number): void;
}

/** The relay's Prometheus metrics; pending rows and their age are read from Postgres at scrape time. */
export function createRelayMetrics(db: Kysely<OutboxDatabase>): RelayMetrics {
  const registry = new Registry();
  const window: { at: number; n: number }[] = [];
  const rate = () => {
    const now = Date.now();
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
  // Pending rows all lie after the relay's low-water mark, so the count reads only that range.
  const counts = async () =>
    (
      await sql<{ pending: string; failed: string; oldest: Date | null }>`
        with c as (
          select coalesce((select txid from outbox.relay_cursor where id = 1), '0'::xid8) as txid,
                 coalesce((select seq from outbox.relay_cursor where id = 1), 0::bigint) as seq
        )
        select count(*) as pending, min(e.created_at) as oldest, (select count(*) from outbox.failures) as failed
        from outbox.events e, c
        where (e.txid, e.seq) > (c.txid, c.seq) and e.state = 'pending'`.execute(db)
    ).rows[0];
  new Gauge({
    name: 'vigil_outbox_pending_rows',
    help: 'Rows committed and not yet published',
    registers: [registry],
    async collect() {
      this.set(Number((await counts())?.pending ?? 0));
    },
  });
  new Gauge({
    name: 'vigil_outbox_failed_rows',
    help: 'Rows marked failed and kept for inspection',
    registers: [registry],
    async collect() {
      this.set(Number((await counts())?.failed ?? 0));
    },
  });
  new Gauge({
    name: 'vigil_outbox_oldest_pending_age_seconds',
    help: 'Age of the oldest pending row (0 when none)',
    registers: [registry],
    async collect() {
      const oldest = (await counts())?.oldest;
      this.set(oldest ? Math.max(0, (Date.now() - oldest.getTime()) / 1000) : 0);
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
    recordPublished(n, now) {
      published.inc(n);
      window.push({ at: now, n });
    },
  };
}
