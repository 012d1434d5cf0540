import { endianness } from 'node:os';
import { sql, type ColumnType, type Kysely, type Transaction } from 'kysely';
import type { Migration } from 'kysely/migration';
import { migrateSchema, type OutboxDatabase } from '@vigil/outbox';
import { SLOTS, type SeriesState } from './core/detector.js';
import type { SavedForest } from './core/forest.js';

export interface SeriesTable {
  name: string;
  recent: number[];
  training: Buffer;
  seen: number;
  since_train: number;
  model_version: string | null;
  last_alert_at: Date | null;
  last_at: Date | null;
  /** The detector's other memory (`packAux`): long-run mean, recent raw scores, seasonal slots. */
  aux: ColumnType<Buffer, Buffer | undefined, Buffer>;
  /** A random number per write: a process that holds the state it wrote skips reading it back. */
  rev: ColumnType<string, string | undefined, string>;
  updated_at: ColumnType<Date, Date | undefined, Date>;
}
export interface ModelsTable {
  version: string;
  series: string;
  threshold: number;
  model: ColumnType<SavedForest, string, string>;
  created_at: ColumnType<Date, Date | undefined, never>;
}
export interface MinuteCountsTable {
  type: string;
  minute: Date;
  n: string;
}

export interface AnomalyDatabase extends OutboxDatabase {
  'anomaly.series': SeriesTable;
  'anomaly.models': ModelsTable;
  'anomaly.minute_counts': MinuteCountsTable;
}

const migrations: Record<string, Migration> = {
  '0001_series_models': {
    async up(db: Kysely<unknown>) {
      // One row per series instance: what the detector remembers between points.
      await sql`
        create table anomaly.series (
          name text primary key,
          recent float8[] not null,
          training bytea not null,
          seen integer not null,
          since_train integer not null,
          model_version text,
          last_alert_at timestamptz,
          last_at timestamptz,
          updated_at timestamptz not null default now()
        )`.execute(db);
      await sql`
        create table anomaly.models (
          version text primary key,
          series text not null,
          threshold float8 not null,
          model jsonb not null,
          created_at timestamptz not null default now()
        )`.execute(db);
      await sql`create index models_series on anomaly.models (series)`.execute(db);
      await sql`
        create table anomaly.minute_counts (
          type text not null,
          minute timestamptz not null,
          n bigint not null,
          primary key (type, minute)
        )`.execute(db);
    },
  },
  '0002_models_as_json': {
    async up(db: Kysely<unknown>) {
      // A model (about 200 KB of JSON) is written at every retraining and only ever read whole:
      // jsonb's decomposition on the way in cost PostgreSQL CPU for nothing. json keeps the text.
      await sql`alter table anomaly.models alter column model type json using model::json`.execute(db);
    },
  },
  '0003_detector_v2': {
    async up(db: Kysely<unknown>) {
      // The detector's features changed (4 → 9 per row, float64 → float32): stored training rows
      // and models are of the old kind. Each series keeps its recent values and retrains from its next points.
      await sql`alter table anomaly.series add column aux bytea not null default ''`.execute(db);
      await sql`update anomaly.series set training = '', since_train = 0, model_version = null`.execute(db);
      await sql`delete from anomaly.models`.execute(db);
      await sql`alter table anomaly.series add column rev bigint not null default 0`.execute(db);
    },
  },
};

type Aux = Pick<SeriesState, 'long' | 'raw' | 'slots' | 'budget'>;
const HEADER = 56;

/**
 * The detector's memory besides recent values and training rows, in one little-endian buffer:
 * long-run mean, variance and count, points scored and alerts raised, the raw-score count k, the
 * newest seasonal slot (NaN for none) (float64 ×7), k raw scores
 * (float32), then, when the series has seasonal slots, their SLOTS values (float32).
 */
export function packAux(s: Aux): Buffer {
  const k = s.raw?.length ?? 0;
  const size = HEADER + 4 * k + (s.slots === undefined ? 0 : 4 * SLOTS);
  const b = Buffer.alloc(size);
  b.writeDoubleLE(s.long?.mean ?? Number.NaN, 0);
  b.writeDoubleLE(s.long?.variance ?? 0, 8);
  b.writeDoubleLE(s.long?.n ?? 0, 16);
  b.writeDoubleLE(s.budget?.scored ?? 0, 24);
  b.writeDoubleLE(s.budget?.alerts ?? 0, 32);
  b.writeDoubleLE(k, 40);
  b.writeDoubleLE(s.slots?.newest ?? Number.NaN, 48);
  // The arrays as their bytes (typed arrays are little-endian on every platform Node runs on
  // here; see LITTLE_ENDIAN): a copy, not a call per value.
  let at = HEADER;
  if (s.raw !== undefined) at += copyIn(b, at, s.raw);
  if (s.slots !== undefined) copyIn(b, at, s.slots.value);
  return b;
}

const LITTLE_ENDIAN = endianness() === 'LE';

/** A typed array's bytes as they lie in memory (no copy). */
function bytesOf(a: Float32Array): Buffer {
  if (!LITTLE_ENDIAN) throw new Error('the anomaly store needs a little-endian machine');
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

function copyIn(b: Buffer, at: number, a: Float32Array): number {
  b.set(bytesOf(a), at);
  return a.byteLength;
}

/** A copy of `n` 4-byte values at `at` (a fresh, aligned buffer, whatever the Buffer's offset). */
function bytesAt(b: Buffer, at: number, n: number): ArrayBuffer {
  if (!LITTLE_ENDIAN) throw new Error('the anomaly store needs a little-endian machine');
  const out = new ArrayBuffer(4 * n);
  new Uint8Array(out).set(b.subarray(at, at + 4 * n));
  return out;
}

export function unpackAux(b: Buffer): Aux {
  if (b.length < HEADER) return {};
  const n = b.readDoubleLE(16);
  const scored = b.readDoubleLE(24);
  const k = b.readDoubleLE(40);
  let at = HEADER;
  const raw = new Float32Array(bytesAt(b, at, k));
  at += 4 * k;
  const out: { -readonly [K in keyof Aux]: Aux[K] } = {
    ...(n > 0 ? { long: { mean: b.readDoubleLE(0), variance: b.readDoubleLE(8), n } } : {}),
    ...(k > 0 ? { raw } : {}),
    ...(scored > 0 ? { budget: { scored, alerts: b.readDoubleLE(32) } } : {}),
  };
  const newest = b.readDoubleLE(48);
  if (!Number.isNaN(newest) && b.length >= at + 4 * SLOTS) {
    out.slots = { newest, value: new Float32Array(bytesAt(b, at, SLOTS)) };
  }
  return out;
}

export function migrateAnomaly<DB>(db: Kysely<DB>): Promise<string[]> {
  return migrateSchema(db, 'anomaly', migrations);
}

export interface StoredSeries {
  readonly state: Omit<SeriesState, 'model'>;
  readonly modelVersion: string | null;
  readonly lastAt: number | null;
}

/**
 * Whether the series instance `name` exists or may be made: `source` (its config series) has
 * fewer than `max` instances. Concurrent first points may pass the cap by a few; it is a bound on
 * growth, not a quota.
 */
export async function hasRoomFor(
  tx: Transaction<AnomalyDatabase>,
  name: string,
  source: string,
  max: number,
): Promise<boolean> {
  const r = await sql<{ exists: boolean; n: number }>`
    select exists (select 1 from anomaly.series where name = ${name}) as exists,
      (select count(*)::int from anomaly.series where left(name, ${source.length + 1}) = ${`${source}/`}) as n`.execute(
    tx,
  );
  const row = r.rows[0];
  return row !== undefined && (row.exists || row.n < max);
}

/** What a process last wrote of a series, with the row's revision then. */
export interface CachedSeries {
  readonly rev: string;
  readonly stored: StoredSeries;
}

/**
 * Locks a series' row for this transaction (creating it empty), so its points go one at a time.
 * When the row still holds the revision `cached` was written with, nobody else wrote it since:
 * its state is taken from `cached` instead of reading the row's ~100 KB back.
 */
export async function lockSeries(
  tx: Transaction<AnomalyDatabase>,
  name: string,
  cached?: CachedSeries,
): Promise<StoredSeries> {
  await tx
    .insertInto('anomaly.series')
    .values({ name, recent: [], training: Buffer.alloc(0), seen: 0, since_train: 0 })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
  if (cached !== undefined) {
    const head = await tx
      .selectFrom('anomaly.series')
      .select('rev')
      .where('name', '=', name)
      .forUpdate()
      .executeTakeFirstOrThrow();
    if (String(head.rev) === cached.rev) return cached.stored;
  }
  const r = await tx
    .selectFrom('anomaly.series')
    .selectAll()
    .where('name', '=', name)
    .forUpdate()
    .executeTakeFirstOrThrow();
  return {
    state: {
      recent: r.recent.map(Number),
      training: new Float32Array(bytesAt(r.training, 0, r.training.length / 4)),
      seen: r.seen,
      sinceTrain: r.since_train,
      ...unpackAux(r.aux),
      ...(r.last_alert_at === null ? {} : { lastAlertAt: r.last_alert_at.getTime() }),
    },
    modelVersion: r.model_version,
    lastAt: r.last_at?.getTime() ?? null,
  };
}

/** Writes a series' state; returns the revision it wrote (never 0, the column's default). */
export async function saveSeries(
  tx: Transaction<AnomalyDatabase>,
  name: string,
  state: SeriesState,
  at: number,
): Promise<string> {
  const rev = String(1 + Math.floor(Math.random() * (Number.MAX_SAFE_INTEGER - 1)));
  await tx
    .updateTable('anomaly.series')
    .set({
      recent: [...state.recent],
      training: bytesOf(state.training),
      seen: state.seen,
      since_train: state.sinceTrain,
      model_version: state.model?.version ?? null,
      last_alert_at: state.lastAlertAt === undefined ? null : new Date(state.lastAlertAt),
      last_at: new Date(at),
      aux: packAux(state),
      rev,
      updated_at: new Date(),
    })
    .where('name', '=', name)
    .execute();
  return rev;
}
