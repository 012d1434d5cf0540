import type { JetStreamClient } from '@nats-io/jetstream';
import { sql, type Kysely, type Transaction } from 'kysely';
import { createEvent, type ConsumerSpec, type Logger, type Namespace, type RunningConsumer } from '@vigil/events';
import { consumeIdempotent, createOutbox, type Outbox } from '@vigil/outbox';
import { everyMinute } from '@vigil/service-kit';
import { detectorOptions, type AnomalyConfig } from './config/anomaly.js';
import { step, topFeatures, type DetectorOptions, type Model } from './core/detector.js';
import { loadForest, saveForest } from './core/forest.js';
import { pointsOf, type Point } from './core/points.js';
import { lockSeries, saveSeries, type AnomalyDatabase } from './store.js';

/**
 * The anomaly service's durable consumer: every type, because events per minute are counted for
 * every type; events no series uses only pass through the inbox.
 */
export const ANOMALY_CONSUMER: ConsumerSpec = { durable: 'anomaly', ackWaitMs: 30_000 };

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
  readonly onPoint?: (p: Point, r: { score?: number; alert: boolean; trained: boolean }) => void;
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
  put(m: Model): void {
    this.models.set(m.version, m);
    if (this.models.size > 2000) this.models.delete(this.models.keys().next().value!);
  }
}

export interface PointProcessor {
  /** Runs one point through its series' detector inside `tx`; `onlyAfter` skips points at or before the series' last. */
  process(tx: Transaction<AnomalyDatabase>, point: Point, o?: { onlyAfter?: boolean }): Promise<void>;
}

export function pointProcessor(deps: AnomalyDeps): PointProcessor {
  const cache = new ModelCache();
  const outbox: Outbox = createOutbox({ ns: deps.ns });
  const options: DetectorOptions = detectorOptions(deps.config);
  return {
    async process(tx, point, o = {}) {
      const stored = await lockSeries(tx, point.series);
      if (o.onlyAfter && stored.lastAt !== null && point.at <= stored.lastAt) return;
      const model = stored.modelVersion === null ? undefined : await cache.get(tx, stored.modelVersion);
      const r = step({ ...stored.state, model }, point.at, point.value, options, point.series);
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
      await saveSeries(tx, point.series, r.state, point.at);
      if (r.alert && model !== undefined && r.score !== undefined) {
        const features = topFeatures(model, r.features);
        await outbox.add(
          tx,
          createEvent(
            'anomaly.detected',
            {
              series: point.series,
              timestamp: new Date(point.at).toISOString(),
              value: point.value,
              score: Math.round(r.score * 1e6) / 1e6,
              threshold: Math.round(model.threshold * 1e6) / 1e6,
              features,
              modelVersion: model.version,
            },
            { source: SOURCE, subject: point.series },
          ),
        );
        deps.logger.info(
          { series: point.series, value: point.value, score: r.score, threshold: model.threshold, features },
          'anomaly detected',
        );
      }
      deps.onPoint?.(point, {
        ...(r.score === undefined ? {} : { score: r.score }),
        alert: r.alert,
        trained: r.trained !== undefined,
      });
    },
  };
}

const now = (deps: AnomalyDeps) => (deps.clock ?? (() => new Date()))().getTime();
const rateSeries = (c: AnomalyConfig) => c.series.find((s) => 'rate' in s)?.name;

/** Turns events into points (and per-type minute counts), once per event, in stream order by default. */
export function startIngest(deps: AnomalyDeps, o: { concurrency?: number } = {}): Promise<RunningConsumer> {
  const processor = pointProcessor(deps);
  const counting = rateSeries(deps.config) !== undefined;
  return consumeIdempotent({
    js: deps.js,
    db: deps.db,
    ns: deps.ns,
    spec: ANOMALY_CONSUMER,
    logger: deps.logger,
    concurrency: o.concurrency ?? 1,
    handler: async (tx, event) => {
      const t = now(deps);
      // Sorted by series so that concurrent transactions lock series rows in one order.
      const points = pointsOf(deps.config, event, t).sort((a, b) =>
        a.series < b.series ? -1 : a.series > b.series ? 1 : 0,
      );
      for (const p of points) await processor.process(tx, p);
      if (counting) {
        const at = Math.min(event.time === undefined ? t : Date.parse(event.time), t);
        await sql`
          insert into anomaly.minute_counts (type, minute, n) values (${event.type}, ${new Date(Math.floor(at / MINUTE) * MINUTE)}, 1)
          on conflict (type, minute) do update set n = anomaly.minute_counts.n + 1`.execute(tx);
      }
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
  for (const p of points) await deps.db.transaction().execute((tx) => processor.process(tx, p, { onlyAfter: true }));
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
export async function listSeries(db: Kysely<AnomalyDatabase>) {
  const rows = await db
    .selectFrom('anomaly.series as s')
    .leftJoin('anomaly.models as m', 'm.version', 's.model_version')
    .select(['s.name', 's.seen', 's.model_version', 'm.threshold', 's.last_alert_at', 's.last_at'])
    .orderBy('s.name')
    .execute();
  return rows.map((r) => ({
    series: r.name,
    points: r.seen,
    modelVersion: r.model_version,
    threshold: r.threshold,
    lastPointAt: r.last_at?.toISOString() ?? null,
    lastAlertAt: r.last_alert_at?.toISOString() ?? null,
  }));
}
