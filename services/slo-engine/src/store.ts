import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import type { Migration } from 'kysely/migration';
import { migrateSchema, type OutboxDatabase } from '@vigil/outbox';
import type { Severity } from './config/slo.js';
import type { Counts, FiringAlert } from './core/burn.js';
import type { Bin, HistoryResolution } from './core/history.js';
import type { Observation } from './core/sli.js';

export interface BucketsTable {
  slo: string;
  minute: Date;
  good: string;
  total: string;
}
export interface AlertsTable {
  slo: string;
  severity: Severity;
  since: Date;
  last_notified_at: Date;
}
export interface EvaluationsTable {
  slo: string;
  evaluated_at: Date;
}

/** A scraped SLI's last readings (shared by every instance) and its last failure. */
export interface ScrapesTable {
  slo: string;
  scraped_at: Date | null;
  part: number | null;
  total: number | null;
  error: string | null;
  error_at: Date | null;
}

/** Alert episodes the engine resolved without holding them (see orphanReason): each once. */
export interface OrphansTable {
  slo: string;
  severity: Severity;
  since: Date;
  resolved_at: Date;
}

export interface SloDatabase extends OutboxDatabase {
  'slo.buckets': BucketsTable;
  'slo.orphans': OrphansTable;
  'slo.alerts': AlertsTable;
  'slo.evaluations': EvaluationsTable;
  'slo.scrapes': ScrapesTable;
}

/** The slo schema's migrations, in order (exported for the upgrade test). */
export const sloMigrations: Record<string, Migration> = {
  '0001_buckets_alerts': {
    async up(db: Kysely<unknown>) {
      // One row per SLO and minute: 43 200 rows hold a 30-day window.
      await sql`
        create table slo.buckets (
          slo text not null,
          minute timestamptz not null,
          good bigint not null check (good >= 0),
          total bigint not null check (total >= good),
          primary key (slo, minute)
        )`.execute(db);
      // A row exists while an alert fires.
      await sql`
        create table slo.alerts (
          slo text not null,
          severity text not null check (severity in ('page', 'ticket')),
          since timestamptz not null,
          last_notified_at timestamptz not null,
          primary key (slo, severity)
        )`.execute(db);
      // The last minute evaluated per SLO; its row lock makes instances take turns.
      await sql`
        create table slo.evaluations (
          slo text primary key,
          evaluated_at timestamptz not null
        )`.execute(db);
    },
  },
  '0002_scrapes': {
    async up(db: Kysely<unknown>) {
      // Per scraped SLI: the counters' readings at the last scrape, which the next one (by any
      // instance, or after a restart) subtracts; its row lock makes instances take turns.
      await sql`
        create table slo.scrapes (
          slo text primary key,
          scraped_at timestamptz,
          part float8,
          total float8,
          error text,
          error_at timestamptz
        )`.execute(db);
    },
  },
  '0003_buckets_by_slo': {
    async up(db: Kysely<unknown>) {
      await sql`alter table slo.buckets rename to buckets_0001`.execute(db);
      await sql`alter index slo.buckets_pkey rename to buckets_0001_pkey`.execute(db);
      await sql`
        create table slo.buckets (
          slo text not null,
          minute timestamptz not null,
          good bigint not null check (good >= 0),
          total bigint not null check (total >= good),
          primary key (slo, minute)
        ) partition by hash (slo)`.execute(db);
      for (let i = 0; i < BUCKET_PARTITIONS; i++) {
        await sql`create table ${sql.raw(`slo.buckets_p${i}`)} partition of slo.buckets
                  for values with (modulus ${sql.lit(BUCKET_PARTITIONS)}, remainder ${sql.lit(i)})`.execute(db);
      }
      // In minute order, as the ingest would have written them: each SLO's minutes in order.
      await sql`insert into slo.buckets select * from slo.buckets_0001 order by minute, slo`.execute(db);
      await sql`drop table slo.buckets_0001`.execute(db);
    },
  },
  '0004_orphans': {
    async up(db: Kysely<unknown>) {
      // Its key makes the resolution of an orphan one event, however many instances start at once
      // and however often one restarts before the relay published it.
      await sql`
        create table slo.orphans (
          slo text not null,
          severity text not null check (severity in ('page', 'ticket')),
          since timestamptz not null,
          resolved_at timestamptz not null,
          primary key (slo, severity, since)
        )`.execute(db);
    },
  },
};

/**
 * Settings of the engine's connections. No parallel workers: a query reads one SLO's rows, a few
 * hundred pages of one partition, and starting a worker took longer than the scan (one SLO's
 * windows: 31 ms with one, 10 without; a history's sorted halves merged from two spilled to disk).
 */
export const sloConnectionSettings = { max_parallel_workers_per_gather: '0' } as const;

/**
 * Partitions of slo.buckets. The ingest writes minute by minute for every SLO, so in one table an
 * SLO's rows lie a few to a page among the others': a 30-day history of one SLO of 50 read 32,000
 * pages for 86,400 rows. Hashed on the SLO's name, each SLO's rows share a partition with few
 * others and its minutes lie together.
 */
export const BUCKET_PARTITIONS = 256;

export function migrateSlo<DB>(db: Kysely<DB>): Promise<string[]> {
  return migrateSchema(db, 'slo', sloMigrations);
}

/**
 * Adds observations to their minute buckets, in the caller's transaction (the one that records
 * the event in the inbox, so a redelivered event counts once). Rows are merged first and written
 * in key order, so concurrent transactions lock them in the same order.
 */
export async function addObservations(
  tx: Transaction<SloDatabase>,
  observations: readonly Observation[],
): Promise<void> {
  if (observations.length === 0) return;
  const merged = new Map<string, { slo: string; minute: number; good: number; total: number }>();
  for (const o of observations) {
    const key = `${o.slo}\u0000${o.minute}`;
    const cur = merged.get(key);
    if (cur) {
      cur.good += o.good;
      cur.total += o.total;
    } else merged.set(key, { ...o });
  }
  const rows = [...merged.values()].sort((a, b) => (a.slo < b.slo ? -1 : a.slo > b.slo ? 1 : a.minute - b.minute));
  await tx
    .insertInto('slo.buckets')
    .values(rows.map((r) => ({ slo: r.slo, minute: new Date(r.minute), good: String(r.good), total: String(r.total) })))
    .onConflict((oc) =>
      oc.columns(['slo', 'minute']).doUpdateSet({
        good: sql`slo.buckets.good + excluded.good`,
        total: sql`slo.buckets.total + excluded.total`,
      }),
    )
    .execute();
}

/**
 * Good and total of the rows from `since` on, as columns `g<i>` and `t<i>`: in `float8` (exact
 * below 2^53), since `sum` of a bigint is `numeric`, which took most of a query's time.
 */
function sumsSince(since: RawBuilder<unknown>, i: number): RawBuilder<unknown> {
  return sql`coalesce(sum(good::float8) filter (where minute >= ${since}), 0) as ${sql.ref(`g${i}`)},
    coalesce(sum(total::float8) filter (where minute >= ${since}), 0) as ${sql.ref(`t${i}`)}`;
}

/** Good/total of `slo` over each window ending at `end` (exclusive), in one pass over the longest. */
export async function windowCounts(
  db: Kysely<SloDatabase>,
  slo: string,
  windows: readonly number[],
  end: Date,
): Promise<Map<number, Counts>> {
  const longest = Math.max(...windows);
  const columns = windows.map((ms, i) => sumsSince(sql`${new Date(end.getTime() - ms)}`, i));
  const r = await sql<Record<string, number>>`
    select ${sql.join(columns)} from slo.buckets
    where slo = ${slo} and minute >= ${new Date(end.getTime() - longest)} and minute < ${end}`.execute(db);
  const row = r.rows[0] ?? {};
  return new Map(windows.map((ms, i) => [ms, { good: row[`g${i}`] ?? 0, total: row[`t${i}`] ?? 0 }]));
}

/**
 * Good and total of `slo` in bins of `res.binMs` aligned to `to`, over [from, to), with each bin's
 * tails (see HistoryResolution): the minute buckets summed by PostgreSQL in one pass, so a month
 * at hourly bins is 1,440 rows, not 43,200.
 */
export async function historyBins(
  db: Kysely<SloDatabase>,
  slo: string,
  from: Date,
  to: Date,
  res: HistoryResolution,
): Promise<Bin[]> {
  // Bins as timestamps: the epoch of every row, in numeric, cost as much as the sums did.
  const tails = res.tails.map((w, k) => sumsSince(sql`b + make_interval(secs => ${(res.binMs - w) / 1000})`, k));
  const r = await sql<Record<string, number>>`
    select (extract(epoch from b) * 1000)::float8 as start,
           sum(good::float8) as good, sum(total::float8) as total${tails.length > 0 ? sql`, ${sql.join(tails)}` : sql``}
    from (
      select date_bin(make_interval(secs => ${res.binMs / 1000}), minute, ${to}::timestamptz) as b, minute, good, total
      from slo.buckets
      where slo = ${slo} and minute >= ${from} and minute < ${to}
    ) m
    group by b order by b`.execute(db);
  return r.rows.map((row) => ({
    start: row['start'] ?? 0,
    good: row['good'] ?? 0,
    total: row['total'] ?? 0,
    tails: res.tails.map((_, k) => ({ good: row[`g${k}`] ?? 0, total: row[`t${k}`] ?? 0 })),
  }));
}

/** The alerts of `slo` that fire, locked for this evaluation. */
export async function firingAlerts(tx: Transaction<SloDatabase>, slo: string): Promise<Map<Severity, FiringAlert>> {
  const rows = await tx.selectFrom('slo.alerts').selectAll().where('slo', '=', slo).forUpdate().execute();
  return new Map(
    rows.map((r) => [
      r.severity,
      { severity: r.severity, since: r.since.getTime(), lastNotifiedAt: r.last_notified_at.getTime() },
    ]),
  );
}

/**
 * What the engine holds of `slo` at `severity`, in the caller's transaction, with the SLO's
 * evaluation row locked (when it has one) so that no evaluation changes it meanwhile.
 */
export async function heldAlert(
  tx: Transaction<SloDatabase>,
  slo: string,
  severity: Severity,
): Promise<{ heldSince: number | undefined; evaluatedAt: number | undefined }> {
  const evaluation = await tx
    .selectFrom('slo.evaluations')
    .select('evaluated_at')
    .where('slo', '=', slo)
    .forUpdate()
    .executeTakeFirst();
  const alert = await tx
    .selectFrom('slo.alerts')
    .select('since')
    .where('slo', '=', slo)
    .where('severity', '=', severity)
    .executeTakeFirst();
  return { heldSince: alert?.since.getTime(), evaluatedAt: evaluation?.evaluated_at.getTime() };
}

/** Records the resolution of an orphaned episode; false when it was recorded before. */
export async function claimOrphan(
  tx: Transaction<SloDatabase>,
  episode: { slo: string; severity: Severity; since: number },
  at: Date,
): Promise<boolean> {
  const r = await tx
    .insertInto('slo.orphans')
    .values({ slo: episode.slo, severity: episode.severity, since: new Date(episode.since), resolved_at: at })
    .onConflict((oc) => oc.columns(['slo', 'severity', 'since']).doNothing())
    .returning('slo')
    .executeTakeFirst();
  return r !== undefined;
}

/** Replaces the firing alerts of `slo` with `firing`. */
export async function saveFiring(
  tx: Transaction<SloDatabase>,
  slo: string,
  firing: ReadonlyMap<Severity, FiringAlert>,
): Promise<void> {
  await tx.deleteFrom('slo.alerts').where('slo', '=', slo).execute();
  if (firing.size === 0) return;
  await tx
    .insertInto('slo.alerts')
    .values(
      [...firing.values()].map((a) => ({
        slo,
        severity: a.severity,
        since: new Date(a.since),
        last_notified_at: new Date(a.lastNotifiedAt),
      })),
    )
    .execute();
}

/**
 * Claims the evaluation of `slo` at `at`: locks its row and answers false when this or a later
 * minute was already evaluated (by another instance, or before a restart).
 */
export async function claimEvaluation(tx: Transaction<SloDatabase>, slo: string, at: Date): Promise<boolean> {
  await tx
    .insertInto('slo.evaluations')
    .values({ slo, evaluated_at: new Date(0) })
    .onConflict((oc) => oc.column('slo').doNothing())
    .execute();
  const row = await tx
    .selectFrom('slo.evaluations')
    .select('evaluated_at')
    .where('slo', '=', slo)
    .forUpdate()
    .executeTakeFirstOrThrow();
  if (row.evaluated_at.getTime() >= at.getTime()) return false;
  await tx.updateTable('slo.evaluations').set({ evaluated_at: at }).where('slo', '=', slo).execute();
  return true;
}

/** Active alerts of every SLO, for the HTTP API. */
export async function allFiring(db: Kysely<SloDatabase>): Promise<AlertsTable[]> {
  return db.selectFrom('slo.alerts').selectAll().orderBy('slo').orderBy('severity').execute();
}

/** Deletes buckets older than `before`: they are outside every window. */
export async function pruneBuckets(db: Kysely<SloDatabase>, before: Date): Promise<number> {
  const r = await db.deleteFrom('slo.buckets').where('minute', '<', before).executeTakeFirst();
  return Number(r.numDeletedRows);
}
