import { Counter, Registry } from 'prom-client';
import { migrateOutbox } from '@vigil/outbox';
import { observeConsumers, queryLimit, readConfigFile, redactUrl, runService, sendJson } from '@vigil/service-kit';
import { detectorOptions, parseAnomalyConfig } from './config/anomaly.js';
import { anomalyEnv } from './config.js';
import {
  ANOMALY_CONSUMER,
  listSeries,
  modelHealth,
  scheduleRates,
  seriesPoints,
  startIngest,
  type AnomalyDeps,
} from './service.js';
import { migrateAnomaly, type AnomalyDatabase } from './store.js';

runService({
  name: 'anomaly',
  env: anomalyEnv,
  // Over 60 lines: wiring: the runtime, the config, the processor, the consumers, the training and the routes, in order.
  async start(env, runtime) {
    // A bad config file stops the start: the service never runs half-configured.
    const config = parseAnomalyConfig(await readConfigFile(env.ANOMALY_CONFIG, 'ANOMALY_CONFIG'), env.ANOMALY_CONFIG);
    const rt = await runtime<AnomalyDatabase>({
      migrations: [migrateOutbox, migrateAnomaly],
      consumers: [ANOMALY_CONSUMER],
    });
    const { db, logger, ns } = rt;

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
      help: 'Models trained; where="before_transaction" when trained ahead of the ingest transaction, "in_transaction" when the series had changed since (another instance, or an earlier point of the same group)',
      labelNames: ['where'],
      registers: [metrics],
    });
    const refused = new Counter({
      name: 'vigil_anomaly_points_refused_total',
      help: 'Points dropped because their series has maxInstancesPerSeries instances',
      labelNames: ['series'],
      registers: [metrics],
    });
    const deps: AnomalyDeps = {
      db,
      js: rt.js,
      ns,
      config,
      logger,
      onPoint: (_p, r) => {
        points.inc();
        if (r.alert) alerts.inc();
        if (r.trained) trainings.inc({ where: r.trainedBefore ? 'before_transaction' : 'in_transaction' });
      },
      onRefused: (series) => refused.inc({ series }),
    };
    const consumer = await startIngest(deps, { concurrency: env.ANOMALY_CONCURRENCY });
    observeConsumers(metrics, rt.nc, rt.ns, [{ durable: ANOMALY_CONSUMER.durable, running: consumer }]);
    const stopRates = scheduleRates(deps, { graceMs: env.ANOMALY_RATE_GRACE_MS });

    return {
      http: {
        metrics,
        routes: async (req, res) => {
          if (req.method !== 'GET') return false;
          const path = req.url?.split('?')[0];
          if (path === '/series') {
            const url = new URL(req.url ?? '/', 'http://localhost');
            const after = url.searchParams.get('after') ?? undefined;
            return sendJson(res, 200, await listSeries(db, { limit: queryLimit(url, 100, 1000), after }));
          }
          if (path === '/series/points') {
            const name = new URL(req.url ?? '/', 'http://localhost').searchParams.get('name');
            if (name === null || name === '') return sendJson(res, 400, { error: 'name (a series) is required' });
            const points = await seriesPoints(db, name);
            return points === undefined
              ? sendJson(res, 404, { error: `no series named '${name}'` })
              : sendJson(res, 200, points);
          }
          if (path === '/models') return sendJson(res, 200, await modelHealth(db, detectorOptions(config)));
          return false;
        },
        ready: rt.ready,
      },
      started: { series: config.series.map((s) => s.name), stream: ns.stream, database: redactUrl(env.DATABASE_URL) },
      stop: [
        ['rates', () => stopRates()],
        ['consumer', () => consumer.stop()],
      ],
    };
  },
});
