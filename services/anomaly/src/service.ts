import type { JetStreamClient } from '@nats-io/jetstream';
import { sql, type Kysely, type Transaction } from 'kysely';
import { createEvent, consumers, type Logger, type Namespace, type RunningConsumer } from '@vigil/events';
import { consumeIdempotent, createOutbox, perTransaction, type Outbox } from '@vigil/outbox';
import { everyMinute } from '@vigil/service-kit';
import { detectorOptions, type AnomalyConfig } from './config/anomaly.js';
import {
  SLOT_MS,
  SLOTS,
  step,
  topFeatures,
  type DetectorOptions,
  type Model,
  type SeriesState,
} from './core/detector.js';
import { loadForest, saveForest } from './core/forest.js';
import { pointsOf, type Point } from './core/points.js';
import { hasRoomFor, lockSeries, saveSeries, unpackAux, type AnomalyDatabase, type CachedSeries } from './store.js';

/**
 * The anomaly service's durable consumer: every type, because events per minute are counted for
 * every type; events no series uses only pass through the inbox.
 */
export const ANOMALY_CONSUMER = consumers.anomaly;

const SOURCE = 'vigil/anomaly';
const MINUTE = 60_000;

export interface AnomalyDeps {
  readonly db: Kysely<AnomalyDatabase>;
  readonly js: JetStreamClient;
  readonly ns: Namespace;
  readonly config: AnomalyConfig;
  readonly logger: Logger;
  /** @default () => new Date() */
  readonly clock?: () => Date;
  /** Called after each point (metrics). */
  /** After each point; `trainedBefore`: its model was trained before the transaction (prepare). */
  readonly onPoint?: (
    p: Point,
    r: { score?: number; alert: boolean; trained: boolean; trainedBefore: boolean },
  ) => void;
  /** Called for a point dropped because its series has `maxInstancesPerSeries` instances (metrics). */
  readonly onRefused?: (source: string) => void;
}

/** Models by version; a model never changes once written, so it is cached without expiry checks. */
class ModelCache {
  private readonly models = new Map<string, Model>();
  async get(tx: Transaction<AnomalyDatabase>, version: string): Promise<Model> {
    const hit = this.models.get(version);
    if (hit) return hit;
    const row = await tx
      .selectFrom('anomaly.models')
      .select(['threshold', 'model'])
      .where('version', '=', version)
      .executeTakeFirstOrThrow();
    const model = { forest: loadForest(row.model), version, threshold: row.threshold };
    this.put(model);
    return model;
  }
  /** The model if this process holds it (no database read). */
  peek(version: string): Model | undefined {
    return this.models.get(version);
  }
  put(m: Model): void {
    this.models.set(m.version, m);
    if (this.models.size > 2000) this.models.delete(this.models.keys().next().value!);
  }
}

export interface PointProcessor {
  /**
   * A unit of work inside `tx`: each series it touches is locked and read once, carried in memory
   * from point to point, and written once by `save()`, which must run before the commit.
   */
  begin(tx: Transaction<AnomalyDatabase>): PointBatch;
  /**
   * Before the transaction: the models these points will train, trained now from the series'
   * states as this process last wrote them, so that training holds no transaction (or row lock)
   * open. A point whose series changed since (another instance, or an earlier point of the same
   * group) trains in the transaction as before; the model is the same either way.
   */
  prepare(points: readonly Point[]): Map<string, Model>;
}

export interface PointBatch {
  /**
   * Runs one point through its series' detector; `onlyAfter` skips points at or before the
   * series' last; `pretrained` is the model `prepare` trained for it, if any.
   */
  process(point: Point, o?: { onlyAfter?: boolean; pretrained?: Model | undefined }): Promise<void>;
  /** Counts one event of `type` in its minute (for the events-per-minute series). */
  count(type: string, at: number): void;
  /** Writes the touched series and the counts. */
  save(): Promise<void>;
}

interface Working {
  state: SeriesState;
  lastAt: number | null;
  dirty: boolean;
}

/** Series states a process keeps of what it wrote: about 100 KB each. */
const WRITTEN_MAX = 500;

// Over 60 lines: one closure over the model cache and the written-series memory that every unit of work shares.
export function pointProcessor(deps: AnomalyDeps): PointProcessor {
  const cache = new ModelCache();
  // What this process last wrote of each series (the most recently written WRITTEN_MAX): read back
  // only when another process wrote the row since.
  const written = new Map<string, CachedSeries>();
  const outbox: Outbox = createOutbox({ ns: deps.ns });
  const options: DetectorOptions = detectorOptions(deps.config);
  // Instances known to exist: checked against the cap once per process, not per point.
  const known = new Set<string>();
  const warnedAt = new Map<string, number>();
  return {
    prepare(points) {
      const models = new Map<string, Model>();
      for (const p of points) {
        const cached = written.get(p.series)?.stored;
        if (cached === undefined || models.has(p.series)) continue;
        const { state, modelVersion: version } = cached;
        // Cheap first: only a point at a retraining needs the dry run below.
        const due =
          state.seen + 1 >= options.warmup && (version === null || state.sinceTrain + 1 >= options.retrainEvery);
        if (!due) continue;
        const model = version === null ? undefined : cache.peek(version);
        if (version !== null && model === undefined) continue;
        const r = step({ ...state, model }, p.at, p.value, options, p.series);
        if (r.trained !== undefined) models.set(p.series, r.trained);
      }
      return models;
    },
    // Over 60 lines: one closure per transaction over the series it touched and its counts; `process` and `save` share them.
    begin(tx) {
      const series = new Map<string, Working>();
      const counts = new Map<string, { type: string; minute: number; n: number }>();
      const load = async (name: string): Promise<Working> => {
        let w = series.get(name);
        if (w === undefined) {
          const stored = await lockSeries(tx, name, written.get(name));
          const model = stored.modelVersion === null ? undefined : await cache.get(tx, stored.modelVersion);
          w = { state: { ...stored.state, model }, lastAt: stored.lastAt, dirty: false };
          series.set(name, w);
        }
        return w;
      };
      return {
        // Over 60 lines: the one path of a point, unknown series → gap → detector step → alert, read top to bottom.
        async process(point, o = {}) {
          if (!known.has(point.series) && !series.has(point.series)) {
            const source = point.series.split('/')[0] ?? point.series;
            const max = deps.config.maxInstancesPerSeries;
            if (!(await hasRoomFor(tx, point.series, source, max))) {
              deps.onRefused?.(source);
              const t = now(deps);
              if ((warnedAt.get(source) ?? -Infinity) < t - MINUTE) {
                warnedAt.set(source, t);
                deps.logger.warn(
                  { series: point.series, source, max },
                  `series ${source} has ${max} instances (maxInstancesPerSeries): points of new ones, like ${point.series}, are dropped`,
                );
              }
              return;
            }
            known.add(point.series);
          }
          const w = await load(point.series);
          if (o.onlyAfter && w.lastAt !== null && point.at <= w.lastAt) return;
          const model = w.state.model;
          const r = step(w.state, point.at, point.value, options, point.series, o.pretrained);
          w.state = r.state;
          w.lastAt = point.at;
          w.dirty = true;
          if (r.trained) {
            await tx
              .insertInto('anomaly.models')
              .values({
                version: r.trained.version,
                series: point.series,
                threshold: r.trained.threshold,
                model: JSON.stringify(saveForest(r.trained.forest)),
              })
              .onConflict((oc) => oc.column('version').doNothing())
              .execute();
            // Only the current model is needed: a restart continues with it.
            await tx
              .deleteFrom('anomaly.models')
              .where('series', '=', point.series)
              .where('version', '!=', r.trained.version)
              .execute();
            cache.put(r.trained);
          }
          if (r.alert && model !== undefined && r.score !== undefined && r.features !== undefined) {
            const features = topFeatures(model, r.features);
            const likelihood = Math.round((r.likelihood ?? 0) * 1e6) / 1e6;
            const threshold = Math.round((r.threshold ?? 0) * 1e6) / 1e6;
            await outbox.add(
              tx,
              createEvent(
                'anomaly.detected',
                {
                  series: point.series,
                  timestamp: new Date(point.at).toISOString(),
                  value: point.value,
                  score: Math.round(r.score * 1e6) / 1e6,
                  likelihood,
                  threshold,
                  features,
                  modelVersion: model.version,
                },
                { source: SOURCE, subject: point.series },
              ),
            );
            deps.logger.info(
              { series: point.series, value: point.value, score: r.score, likelihood, threshold, features },
              'anomaly detected',
            );
          }
          deps.onPoint?.(point, {
            ...(r.score === undefined ? {} : { score: r.score }),
            alert: r.alert,
            trained: r.trained !== undefined,
            trainedBefore: r.trained !== undefined && r.trained === o.pretrained,
          });
        },
        count(type, at) {
          const minute = Math.floor(at / MINUTE) * MINUTE;
          const key = `${type}\u0000${minute}`;
          const c = counts.get(key);
          if (c) c.n++;
          else counts.set(key, { type, minute, n: 1 });
        },
        async save() {
          for (const [name, w] of series) {
            if (!w.dirty) continue;
            const rev = await saveSeries(tx, name, w.state, w.lastAt!);
            // Kept before the commit is known: a rolled-back write's revision never matches the row.
            const { model, ...state } = w.state;
            written.delete(name);
            written.set(name, { rev, stored: { state, modelVersion: model?.version ?? null, lastAt: w.lastAt } });
            if (written.size > WRITTEN_MAX) written.delete(written.keys().next().value!);
          }
          series.clear();
          if (counts.size === 0) return;
          // Sorted, so that concurrent transactions lock the count rows in one order.
          const rows = [...counts.values()].sort((a, b) =>
            a.type < b.type ? -1 : a.type > b.type ? 1 : a.minute - b.minute,
          );
          counts.clear();
          await tx
            .insertInto('anomaly.minute_counts')
            .values(rows.map((r) => ({ type: r.type, minute: new Date(r.minute), n: String(r.n) })))
            .onConflict((oc) =>
              oc.columns(['type', 'minute']).doUpdateSet({ n: sql`anomaly.minute_counts.n + excluded.n` }),
            )
            .execute();
        },
      };
    },
  };
}

const now = (deps: AnomalyDeps) => (deps.clock ?? (() => new Date()))().getTime();
const rateSeries = (c: AnomalyConfig) => c.series.find((s) => 'rate' in s)?.name;

/** Turns events into points (and per-type minute counts), once per event, in stream order by default. */
export function startIngest(deps: AnomalyDeps, o: { concurrency?: number } = {}): Promise<RunningConsumer> {
  const processor = pointProcessor(deps);
  const counting = rateSeries(deps.config) !== undefined;
  const batches = perTransaction((tx: Transaction<AnomalyDatabase>) => processor.begin(tx));
  return consumeIdempotent({
    js: deps.js,
    db: deps.db,
    ns: deps.ns,
    spec: ANOMALY_CONSUMER,
    logger: deps.logger,
    concurrency: o.concurrency ?? 256,
    // One transaction at a time, its events handled in delivery order: a series' points stay in
    // order however many events are in flight. Nothing waits on a detection within 200 ms, and
    // events gathered for that long share one transaction and one write of each series row (its
    // training window is 32 KB by default).
    groupCommit: { lingerMs: 200 },
    // Outside the transaction: the event's points, and the models they will train.
    prepare: async (event) => {
      const t = now(deps);
      // Sorted by series so that concurrent transactions lock series rows in one order.
      const points = pointsOf(deps.config, event, t).sort((a, b) =>
        a.series < b.series ? -1 : a.series > b.series ? 1 : 0,
      );
      return { t, points, models: processor.prepare(points) };
    },
    handler: async (tx, event, _ctx, prepared) => {
      const { t, points, models } = prepared;
      const batch = batches.of(tx);
      for (const p of points) await batch.process(p, { pretrained: models.get(p.series) });
      if (counting) batch.count(event.type, Math.min(event.time === undefined ? t : Date.parse(event.time), t));
    },
    // A group of events writes each series it touched, and each minute's count, once.
    beforeCommit: async (tx) => {
      await batches.take(tx)?.save();
    },
  });
}

/**
 * The events-per-minute points of the minute that ended at `end`: one per type seen in the hour
 * before (a quiet minute is a 0). Each point is processed once, even with several instances.
 */
export async function ratePoints(deps: AnomalyDeps, end: Date, processor = pointProcessor(deps)): Promise<Point[]> {
  const name = rateSeries(deps.config);
  if (name === undefined) return [];
  const minute = new Date(end.getTime() - MINUTE);
  const rows = await sql<{ type: string; n: number }>`
    select type, coalesce(sum(n) filter (where minute = ${minute}), 0)::float8 as n
    from anomaly.minute_counts where minute >= ${new Date(end.getTime() - 60 * MINUTE)} and minute < ${end}
    group by type order by type`.execute(deps.db);
  const points = rows.rows.map((r) => ({ series: `${name}/${r.type}`, at: minute.getTime(), value: r.n }));
  const models = processor.prepare(points);
  await deps.db.transaction().execute(async (tx) => {
    const batch = processor.begin(tx);
    for (const p of points) await batch.process(p, { onlyAfter: true, pretrained: models.get(p.series) });
    await batch.save();
  });
  return points;
}

/** Produces the rate points every minute, `graceMs` after it ends; prunes old counts hourly. Returns stop(). */
export function scheduleRates(deps: AnomalyDeps, o: { graceMs?: number } = {}): () => Promise<void> {
  if (rateSeries(deps.config) === undefined) return async () => undefined;
  const processor = pointProcessor(deps);
  return everyMinute(
    async (end) => {
      await ratePoints(deps, end, processor);
      if (end.getTime() % 3_600_000 === 0) {
        await deps.db
          .deleteFrom('anomaly.minute_counts')
          .where('minute', '<', new Date(end.getTime() - 2 * 3_600_000))
          .execute();
      }
    },
    {
      graceMs: o.graceMs ?? 2_000,
      clock: deps.clock ?? (() => new Date()),
      logger: deps.logger,
      what: 'events-per-minute points',
    },
  );
}

/** Series as `GET /series` shows them. */
export async function listSeries(
  db: Kysely<AnomalyDatabase>,
  o: {
    /** @default 100 */
    limit?: number;
    /** Only names after this one: the page after one ending there. */
    after?: string | undefined;
  } = {},
) {
  const limit = o.limit ?? 100;
  let q = db
    .selectFrom('anomaly.series as s')
    .leftJoin('anomaly.models as m', 'm.version', 's.model_version')
    .select(['s.name', 's.seen', 's.model_version', 'm.threshold', 's.last_alert_at', 's.last_at'])
    .orderBy('s.name')
    .limit(limit + 1);
  if (o.after !== undefined) q = q.where('s.name', '>', o.after);
  const rows = await q.execute();
  const page = rows.slice(0, limit);
  return {
    series: page.map((r) => ({
      series: r.name,
      points: r.seen,
      modelVersion: r.model_version,
      threshold: r.threshold,
      lastPointAt: r.last_at?.toISOString() ?? null,
      lastAlertAt: r.last_alert_at?.toISOString() ?? null,
    })),
    // Where the next page starts (`?after=`), when there is one.
    ...(rows.length > limit ? { next: page.at(-1)?.name } : {}),
  };
}

/** A series' points at 5-minute resolution, as `GET /series/points` answers them. */
export interface SeriesPoints {
  readonly series: string;
  /** The width of a point's slot: each point is the last value seen in its slot. */
  readonly resolutionMs: number;
  /** The slots' starts (ms since the epoch), oldest first; slots without a value are left out. */
  readonly times: number[];
  readonly values: number[];
  readonly lastPointAt: string | null;
}

/**
 * The series instance `name` over the last 8 days, read from the detector's own seasonal memory
 * (the last value of every 5 minutes): what a chart draws an alert's point against. It costs the
 * ingest nothing, since the detector keeps these slots anyway. Undefined for an unknown series.
 */
export async function seriesPoints(db: Kysely<AnomalyDatabase>, name: string): Promise<SeriesPoints | undefined> {
  const row = await db
    .selectFrom('anomaly.series')
    .select(['aux', 'last_at'])
    .where('name', '=', name)
    .executeTakeFirst();
  if (row === undefined) return undefined;
  const slots = unpackAux(row.aux).slots;
  const times: number[] = [];
  const values: number[] = [];
  if (slots !== undefined) {
    for (let s = slots.newest - SLOTS + 1; s <= slots.newest; s++) {
      const v = slots.value[((s % SLOTS) + SLOTS) % SLOTS]!;
      if (Number.isNaN(v)) continue;
      times.push(s * SLOT_MS);
      values.push(v);
    }
  }
  return { series: name, resolutionMs: SLOT_MS, times, values, lastPointAt: row.last_at?.toISOString() ?? null };
}

/**
 * Whether every series past warm-up has a model stored and trained within its last `retrainEvery`
 * points: what "models stored and fresh" means (GET /models). A series still warming up has no
 * model yet and is not stale; one whose model row is gone, or that was not retrained in time, is.
 */
export async function modelHealth(db: Kysely<AnomalyDatabase>, o: Pick<DetectorOptions, 'warmup' | 'retrainEvery'>) {
  const rows = await db
    .selectFrom('anomaly.series as s')
    .leftJoin('anomaly.models as m', 'm.version', 's.model_version')
    .select(['s.name', 's.seen', 's.since_train', 's.model_version', 'm.version as stored', 'm.created_at'])
    .orderBy('s.name')
    .execute();
  const stale: { series: string; why: string }[] = [];
  let modelled = 0;
  let warmingUp = 0;
  let newest: Date | undefined;
  for (const r of rows) {
    if (r.seen < o.warmup && r.model_version === null) {
      warmingUp++;
      continue;
    }
    if (r.stored === null)
      stale.push({ series: r.name, why: r.model_version === null ? 'no model' : 'model not stored' });
    else if (r.since_train >= o.retrainEvery)
      stale.push({ series: r.name, why: `not retrained for ${r.since_train} points` });
    else modelled++;
    if (r.created_at !== null && (newest === undefined || r.created_at > newest)) newest = r.created_at;
  }
  return {
    series: rows.length,
    modelled,
    warmingUp,
    stale: stale.length,
    staleSeries: stale.slice(0, 20),
    newestModelAt: newest?.toISOString() ?? null,
  };
}
