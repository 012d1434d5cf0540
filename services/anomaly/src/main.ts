import { readFile } from 'node:fs/promises';
import { jetstream } from '@nats-io/jetstream';
import { Counter, Registry } from 'prom-client';
import { ensureConsumer, ensureStreams, namespaceFor } from '@vigil/events';
import { migrateOutbox } from '@vigil/outbox';
import {
  connectNats,
  createDb,
  createLogger,
  onShutdown,
  parseEnv,
  redactUrl,
  sendJson,
  startHttpServer,
  startTelemetry,
} from '@vigil/service-kit';
import { parseAnomalyConfig } from './config/anomaly.js';
import { anomalyEnv } from './config.js';
import { ANOMALY_CONSUMER, listSeries, scheduleRates, startIngest, type AnomalyDeps } from './service.js';
import { migrateAnomaly, type AnomalyDatabase } from './store.js';

const SERVICE = 'anomaly';

async function main(): Promise<void> {
  const env = parseEnv(anomalyEnv, process.env);
  const telemetry = startTelemetry({ serviceName: SERVICE, endpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT });
  const logger = createLogger(SERVICE, env.LOG_LEVEL);
  // A bad config file stops the start: the service never runs half-configured.
  const config = parseAnomalyConfig(await readFile(env.ANOMALY_CONFIG, 'utf8'), env.ANOMALY_CONFIG);
  const ns = namespaceFor(env.VIGIL_NAMESPACE);

  const { db, pool } = createDb<AnomalyDatabase>(env.DATABASE_URL, { max: 8, applicationName: `vigil-${SERVICE}` });
  await migrateOutbox(db);
  await migrateAnomaly(db);
  const nc = await connectNats(env.NATS_URL, SERVICE);
  await ensureStreams(nc, { ns, replicas: env.VIGIL_REPLICAS });
  await ensureConsumer(nc, ANOMALY_CONSUMER, ns);

  const metrics = new Registry();
  const points = new Counter({
    name: 'vigil_anomaly_points_total',
    help: 'Points scored or learned',
    registers: [metrics],
  });
  const alerts = new Counter({
    name: 'vigil_anomaly_detected_total',
    help: 'anomaly.detected events emitted',
    registers: [metrics],
  });
  const trainings = new Counter({
    name: 'vigil_anomaly_models_trained_total',
    help: 'Models trained',
    registers: [metrics],
  });
  const deps: AnomalyDeps = {
    db,
    js: jetstream(nc),
    ns,
    config,
    logger,
    onPoint: (_p, r) => {
      points.inc();
      if (r.alert) alerts.inc();
      if (r.trained) trainings.inc();
    },
  };
  const consumer = await startIngest(deps, { concurrency: env.ANOMALY_CONCURRENCY });
  const stopRates = scheduleRates(deps, { graceMs: env.ANOMALY_RATE_GRACE_MS });
  const http = await startHttpServer({
    port: env.PORT,
    host: env.HTTP_HOST,
    metrics,
    routes: async (req, res) =>
      req.method === 'GET' &&
      req.url?.split('?')[0] === '/series' &&
      sendJson(res, 200, { series: await listSeries(db) }),
    ready: async () => ({
      nats: !nc.isClosed(),
      postgres: await pool.query('select 1').then(
        () => true,
        (e: Error) => e.message,
      ),
    }),
  });
  logger.info(
    {
      port: http.port,
      series: config.series.map((s) => s.name),
      stream: ns.stream,
      database: redactUrl(env.DATABASE_URL),
    },
    'anomaly started',
  );

  onShutdown(logger, () => [
    ['http', () => http.close()],
    ['rates', () => stopRates()],
    ['consumer', () => consumer.stop()],
    ['nats', () => nc.drain()],
    ['postgres', () => db.destroy()],
    ['telemetry', () => telemetry.shutdown()],
  ]);
}

main().catch((e: unknown) => {
  process.stderr.write(`anomaly: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
