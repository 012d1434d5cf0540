/**
 * pnpm bench:anomaly (third part) — prints a line; not a test.
 * The service's ingest path against a real PostgreSQL: groups of one point for each of 20 series
 * through `pointProcessor` in one transaction each, as the consumer's group commit does (lock and
 * read each series row, `step`, write it back). The figure is the time per group after 200 groups
 * (once every series has a model): it is how long the anomaly service holds a transaction open,
 * which the relay's xmin mode waits for. Retraining runs before the transaction (prepare), as in
 * the service; its time is printed apart. BENCH_GROUPS sets the count (default 500).
 */
import { readFileSync } from 'node:fs';
import { namespaceFor } from '@vigil/events';
import { migrateOutbox } from '@vigil/outbox';
import { createDb } from '@vigil/service-kit';
import { createTestDatabase } from '@vigil/testkit';
import { parseAnomalyConfig } from '../src/config/anomaly.js';
import { defaultConfigPath } from '../src/config.js';
import { pointProcessor } from '../src/service.js';
import { migrateAnomaly, type AnomalyDatabase } from '../src/store.js';

const SERIES = 20;
const GROUPS = Number(process.env['BENCH_GROUPS'] ?? 500);
const url = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const config = parseAnomalyConfig(readFileSync(defaultConfigPath, 'utf8'), defaultConfigPath);

await using database = await createTestDatabase(url, 'anomalyingest');
const { db } = createDb<AnomalyDatabase>(database.url);
try {
  await migrateOutbox(db);
  await migrateAnomaly(db);
  const trained = { before: 0, inside: 0 };
  const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined };
  const processor = pointProcessor({
    db,
    // Nothing here publishes: alerts go to the outbox table, which the relay (not running) reads.
    js: undefined as never,
    ns: namespaceFor(undefined),
    config,
    logger: { ...quiet, child: () => quiet } as never,
    onPoint: (_p, r) => {
      if (r.trained) trained[r.trainedBefore ? 'before' : 'inside']++;
    },
  });
  const t0 = Date.now() - GROUPS * 60_000;
  const times: number[] = [];
  const before: number[] = [];
  for (let g = 0; g < GROUPS; g++) {
    const points = Array.from({ length: SERIES }, (_, s) => ({
      series: `check-duration/bench/s${s}`,
      at: t0 + g * 60_000,
      value: 10 + Math.sin(g / 7 + s) + ((g * 7919 + s) % 13) / 5,
    }));
    // As the service does: the models these points train, before the transaction.
    const prepared = performance.now();
    const models = processor.prepare(points);
    const start = performance.now();
    await db.transaction().execute(async (tx) => {
      const batch = processor.begin(tx);
      for (const p of points) await batch.process(p, { pretrained: models.get(p.series) });
      await batch.save();
    });
    if (g >= 200) {
      times.push(performance.now() - start);
      before.push(start - prepared);
    }
  }
  const stats = (xs: number[]) => {
    xs.sort((a, b) => a - b);
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    return `p50 ${xs[Math.floor(xs.length / 2)]!.toFixed(1)} ms, p95 ${xs[Math.floor(xs.length * 0.95)]!.toFixed(1)} ms, max ${xs[xs.length - 1]!.toFixed(1)} ms, mean ${mean.toFixed(1)} ms`;
  };
  process.stdout.write(
    `anomaly ingest: a transaction of ${SERIES} series' points (real PostgreSQL, ${times.length} groups after 200): ${stats(times)}\n` +
      `anomaly ingest: training ahead of it (prepare, no transaction open): ${stats(before)}; ` +
      `models trained before the transaction ${trained.before}, in it ${trained.inside}\n`,
  );
} finally {
  await db.destroy();
}
