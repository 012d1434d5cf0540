import { sql, type Kysely } from 'kysely';
import { describe, expect, inject, it } from 'vitest';
import {
  createEvent,
  encodeStructured,
  ensureConsumer,
  replay,
  silentLogger,
  subjectOf,
  type VigilEvent,
} from '@vigil/events';
import { eventsFixture, type EventsFixture } from '@vigil/events/testing';
import { migrateOutbox } from '@vigil/outbox';
import { createDb } from '@vigil/service-kit';
import { createTestDatabase, ServiceProcess, waitFor } from '@vigil/testkit';
import { detectorOptions, parseAnomalyConfig } from './config/anomaly.js';
import { emptyState, featureNames, step, type SeriesState } from './core/detector.js';
import { prng } from './core/forest.js';
import {
  ANOMALY_CONSUMER,
  listSeries,
  pointProcessor,
  ratePoints,
  seriesPoints,
  startIngest,
  type AnomalyDeps,
} from './service.js';
import { migrateAnomaly, type AnomalyDatabase } from './store.js';

const natsUrl = inject('natsUrl');
const databaseUrl = inject('databaseUrl');

const config = parseAnomalyConfig(
  `detector: { warmup: 50, retrainEvery: 50, trainingSize: 500, minGap: 0, contamination: 0.01, refractory: 0 }
series:
  - name: sli-value
    events: { type: sli.observed, value: value, key: [service, sli] }
  - name: check-duration
    events: { type: validation.completed, each: check, value: durationMs, key: [suite, component, name] }
  - name: events-per-minute
    rate: { per: type }
`,
  'anomaly.yaml',
);

async function publish(f: EventsFixture, event: VigilEvent): Promise<void> {
  const { data, headers } = encodeStructured(event);
  await f.js.publish(subjectOf(f.ns, event.type), data, { headers, msgID: event.id });
}

async function seen(db: Kysely<AnomalyDatabase>, series: string): Promise<number> {
  return (
    (await db.selectFrom('anomaly.series').select('seen').where('name', '=', series).executeTakeFirst())?.seen ?? 0
  );
}

async function detections(db: Kysely<AnomalyDatabase>): Promise<number> {
  const r = await sql<{
    n: string;
  }>`select count(*) as n from outbox.events where subject like '%anomaly.detected'`.execute(db);
  return Number(r.rows[0]!.n);
}

/** The series row holds what `step` makes of `points` in order: recent values and training rows. */
async function expectStoredAsReplayed(
  db: Kysely<AnomalyDatabase>,
  series: string,
  points: readonly { at: number; value: number }[],
): Promise<void> {
  let expected: SeriesState = emptyState;
  for (const p of points) expected = step(expected, p.at, p.value, detectorOptions(config), series).state;
  const row = await db
    .selectFrom('anomaly.series')
    .select(['recent', 'training'])
    .where('name', '=', series)
    .executeTakeFirstOrThrow();
  expect(row.recent.map(Number)).toEqual(expected.recent);
  expect(new Float32Array(new Uint8Array(row.training).buffer)).toEqual(expected.training);
}

/**
 * A database of its own (migrated) and a NATS namespace of its own, with the consumer made;
 * disposing of it closes the pool, then drops both.
 */
async function testBed(label: string) {
  const database = await createTestDatabase(databaseUrl, 'anomaly');
  const f = await eventsFixture(natsUrl, { label });
  const { db } = createDb<AnomalyDatabase>(database.url);
  await migrateOutbox(db);
  await migrateAnomaly(db);
  await ensureConsumer(f.nc, ANOMALY_CONSUMER, f.ns);
  const deps: AnomalyDeps = { db, js: f.js, ns: f.ns, config, logger: silentLogger };
  return {
    database,
    f,
    db,
    deps,
    async [Symbol.asyncDispose]() {
      await db.destroy();
      await f[Symbol.asyncDispose]();
      await database[Symbol.asyncDispose]();
    },
  };
}

describe('anomaly service', () => {
  it('sli.observed values in → anomaly.detected for a spike through the outbox and the relay; a restart keeps the model', async () => {
    await using bed = await testBed('anomaly');
    const { database, f, db, deps } = bed;
    const series = 'sli-value/shop/latency';
    const rnd = prng(42);
    const normal = () => 100 + 2 * Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
    const start = Date.now() - 400 * 60_000;
    const observed = (i: number, value: number) =>
      createEvent(
        'sli.observed',
        {
          sli: 'latency',
          service: 'shop',
          value,
          threshold: 150,
          observedAt: new Date(start + i * 60_000).toISOString(),
        },
        { source: 'vigil/test' },
      ) as VigilEvent;
    const values: number[] = [];
    for (let i = 0; i < 300; i++) {
      values.push(normal());
      await publish(f, observed(i, values[i]!));
    }
    values.push(160);
    const spike = observed(300, 160);
    await publish(f, spike);
    // A redelivered copy of the spike (another message id) is not a second point.
    const { data, headers } = encodeStructured(spike);
    await f.js.publish(subjectOf(f.ns, spike.type), data, { headers, msgID: 'copy' });

    let consumer = await startIngest(deps);
    await waitFor(() => consumer.stats.processed === 302, { timeoutMs: 30_000, message: 'all events handled' });
    await consumer.stop();
    expect(await seen(db, series)).toBe(301);
    // Events waiting behind a transaction shared the next one (group commit), each series row
    // written once per group: the stored state is still that of every point in stream order.
    await expectStoredAsReplayed(
      db,
      series,
      values.map((value) => ({ at: 0, value })),
    );
    const alerts = await db.selectFrom('outbox.events').select('payload').orderBy('seq').execute();
    // contamination 1 %: a few normal points may pass the threshold; the spike must.
    expect(alerts.length).toBeGreaterThanOrEqual(1);
    expect(alerts.length).toBeLessThanOrEqual(8);
    const models = await db.selectFrom('anomaly.models').select(['version', 'series']).execute();
    expect(models).toEqual([{ version: expect.stringMatching(/^sli-value\/shop\/latency@300\//), series }]);

    const relay = ServiceProcess.start('outbox-relay', {
      NATS_URL: natsUrl,
      DATABASE_URL: database.url,
      VIGIL_NAMESPACE: f.namespaceId,
    });
    const detected: VigilEvent<'anomaly.detected'>[] = [];
    try {
      await waitFor(
        async () => {
          detected.length = 0;
          for await (const r of replay(f.nc, {
            ns: f.ns,
            start: { from: 'beginning' },
            types: ['anomaly.detected'],
          })) {
            detected.push(r.event);
          }
          return detected.length === alerts.length;
        },
        { timeoutMs: 30_000, message: 'the relay to publish every detection' },
      );
    } finally {
      await relay.kill('SIGTERM');
    }
    const last = detected.at(-1)!;
    expect(last.subject).toBe(series);
    expect(last.data).toMatchObject({
      series,
      value: 160,
      timestamp: new Date(start + 300 * 60_000).toISOString(),
      modelVersion: models[0]!.version,
    });
    // The alert's decision: the score calibrated against the series' own scores.
    expect(last.data.likelihood).toBeGreaterThanOrEqual(last.data.threshold);
    expect(last.data.features.map((x) => x.name).sort()).toEqual([...featureNames].sort());
    expect(['value', 'level', 'change']).toContain(last.data.features[0]!.name);

    // A new process (empty model cache) continues from Postgres: the next spike is scored by
    // the same model and alerts too. (A far bigger one: right after the first, whose value is in
    // the window now, a spike of about its size is no longer rare. This config has no
    // refractory period, which would take it for the same episode; detector.unit.spec.ts tests it.)
    const before = await detections(db);
    await publish(f, observed(301, 400));
    consumer = await startIngest({ ...deps });
    await waitFor(async () => (await seen(db, series)) === 302, { timeoutMs: 20_000, message: 'the next point' });
    await consumer.stop();
    expect(await detections(db)).toBe(before + 1);

    // Events per minute per type: one point per type for a finished minute, once.
    const counts = await sql<{ minute: Date; n: string }>`
        select minute, n from anomaly.minute_counts where type = 'sli.observed' order by minute desc limit 1`.execute(
      db,
    );
    const end = new Date(counts.rows[0]!.minute.getTime() + 60_000);
    const points = await ratePoints(deps, end);
    // (The relay's anomaly.detected events, which this consumer also counted, make a second type.)
    expect(points).toContainEqual({
      series: 'events-per-minute/sli.observed',
      at: counts.rows[0]!.minute.getTime(),
      value: Number(counts.rows[0]!.n),
    });
    await ratePoints(deps, end);
    expect(await seen(db, 'events-per-minute/sli.observed')).toBe(1);
    const listed = (await listSeries(db)).series;
    expect(listed.map((s) => [s.series, s.points])).toEqual(
      expect.arrayContaining([
        ['events-per-minute/sli.observed', 1],
        [series, 302],
      ]),
    );

    // The series as a chart draws it: the last value of every 5 minutes, from the stored state.
    const expected = new Map<number, number>();
    [...values, 400].forEach((v, i) => {
      const at = start + i * 60_000;
      expected.set(at - (at % 300_000), Math.fround(v));
    });
    const drawn = await seriesPoints(db, series);
    expect(drawn).toMatchObject({ series, resolutionMs: 300_000 });
    expect(drawn!.times).toEqual([...expected.keys()]);
    expect(drawn!.values).toEqual([...expected.values()]);
    expect(drawn!.lastPointAt).toBe(new Date(start + 301 * 60_000).toISOString());
    expect(await seriesPoints(db, 'sli-value/shop/nothing')).toBeUndefined();
  });

  it('trains ahead of its ingest transaction: each model is the one the transaction would have trained', async () => {
    await using bed = await testBed('pretrain');
    const { f, db } = bed;
    const series = 'sli-value/shop/pretrain';
    const trainedBefore: boolean[] = [];
    const deps: AnomalyDeps = {
      ...bed.deps,
      onPoint: (_p, r) => {
        if (r.trained) trainedBefore.push(r.trainedBefore);
      },
    };
    const rnd = prng(7);
    const start = Date.now() - 200 * 60_000;
    const values = Array.from({ length: 150 }, () => 100 + 10 * rnd());
    const consumer = await startIngest(deps);
    try {
      // The points before each retraining (every 50th) in a burst, the retraining point alone once
      // they are in: when its event is prepared the process knows the series' state before it.
      let sent = 0;
      const send = async (until: number) => {
        for (; sent < until; sent++) {
          const event = createEvent(
            'sli.observed',
            {
              sli: 'pretrain',
              service: 'shop',
              value: values[sent]!,
              threshold: 150,
              observedAt: new Date(start + sent * 60_000).toISOString(),
            },
            { source: 'vigil/test' },
          ) as VigilEvent;
          await publish(f, event);
        }
        await waitFor(() => consumer.stats.processed === until, { message: `${until} points handled` });
      };
      for (const training of [49, 99, 149]) {
        await send(training);
        await send(training + 1);
      }
    } finally {
      await consumer.stop();
    }
    // Each model (at points 50, 100 and 150) was trained before its transaction.
    expect(trainedBefore).toEqual([true, true, true]);
    const models = await db.selectFrom('anomaly.models').select('version').execute();
    let expected: SeriesState = emptyState;
    for (const value of values) expected = step(expected, 0, value, detectorOptions(config), series).state;
    expect(models.map((m) => m.version)).toEqual([expected.model!.version]);
    await expectStoredAsReplayed(
      db,
      series,
      values.map((value) => ({ at: 0, value })),
    );
  });

  it('a series takes at most maxInstancesPerSeries instances: points of new ones are dropped and counted; /series pages', async () => {
    await using bed = await testBed('anomalycap');
    const { f, db } = bed;
    const refused: string[] = [];
    const capped = { ...config, maxInstancesPerSeries: 5 };
    const deps: AnomalyDeps = {
      db,
      js: f.js,
      ns: f.ns,
      config: capped,
      logger: silentLogger,
      onRefused: (s) => void refused.push(s),
    };
    const consumer = await startIngest(deps);
    // 12 distinct services, as a client inventing names would send; then a known one again.
    const names = [...Array.from({ length: 12 }, (_, i) => `svc-${String(i).padStart(2, '0')}`), 'svc-00'];
    for (const service of names) {
      await publish(
        f,
        createEvent('sli.observed', { sli: 'x', service, value: 1, threshold: 2 }, { source: 'vigil/test' }),
      );
    }
    await waitFor(() => consumer.stats.processed === names.length, { message: 'every event handled' });
    await consumer.stop();
    const rows = await db.selectFrom('anomaly.series').select(['name', 'seen']).orderBy('name').execute();
    expect(rows.filter((r) => r.name.startsWith('sli-value/')).map((r) => [r.name, r.seen])).toEqual([
      ['sli-value/svc-00/x', 2],
      ['sli-value/svc-01/x', 1],
      ['sli-value/svc-02/x', 1],
      ['sli-value/svc-03/x', 1],
      ['sli-value/svc-04/x', 1],
    ]);
    expect(refused).toEqual(Array(7).fill('sli-value'));
    const first = await listSeries(db, { limit: 2 });
    expect(first.series.map((s) => s.series)).toEqual(['sli-value/svc-00/x', 'sli-value/svc-01/x']);
    expect(first.next).toBe('sli-value/svc-01/x');
    const rest = await listSeries(db, { limit: 10, after: first.next });
    expect(rest.series.map((s) => s.series)).toEqual([
      'sli-value/svc-02/x',
      'sli-value/svc-03/x',
      'sli-value/svc-04/x',
    ]);
    expect(rest.next).toBeUndefined();
  });

  it('two processes on one series: each reads the row back when the other wrote it since, so no point is lost', async () => {
    await using bed = await testBed('anomalytwo');
    const { db, deps } = bed;
    const a = pointProcessor(deps);
    const b = pointProcessor(deps);
    const series = 'sli-value/two/x';
    const values: number[] = [];
    // Points 0-59 alternate between the processes in runs of three, each run its own transaction.
    for (let i = 0; i < 60; i++) {
      const p = Math.floor(i / 3) % 2 === 0 ? a : b;
      const value = 100 + Math.sin(i);
      values.push(value);
      await db.transaction().execute(async (tx) => {
        const batch = p.begin(tx);
        await batch.process({ series, at: 1_767_600_000_000 + i * 60_000, value });
        await batch.save();
      });
    }
    expect(await seen(db, series)).toBe(60);
    // The stored state is that of every point in order, whoever handled it.
    await expectStoredAsReplayed(
      db,
      series,
      values.map((value, i) => ({ at: 1_767_600_000_000 + i * 60_000, value })),
    );
  });
});
