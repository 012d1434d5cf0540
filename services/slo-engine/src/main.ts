import { Counter, Gauge, Registry } from 'prom-client';
import { migrateOutbox } from '@vigil/outbox';
import { formatDuration, observeConsumers, redactUrl, runService } from '@vigil/service-kit';
import { loadSlos } from './config/slo.js';
import { sloEngineEnv } from './config.js';
import { sliEventsCounter } from './metrics.js';
import { slosRoutes } from './http.js';
import { startScrapes } from './scrape.js';
import {
  resolveOrphanedAlerts,
  scheduleEvaluations,
  SLO_CONSUMER,
  startIngest,
  type SloEngineDeps,
} from './service.js';
import { migrateSlo, sloConnectionSettings, type SloDatabase } from './store.js';

runService({
  name: 'slo-engine',
  env: sloEngineEnv,
  // Over 60 lines: wiring: the runtime, the SLOs, the consumers, the evaluator, the scrapes and the routes, in order.
  async start(env, runtime) {
    // A bad SLO file stops the start: the service never runs half-configured.
    const slos = await loadSlos(env.SLO_DIR);
    const rt = await runtime<SloDatabase>({
      migrations: [migrateOutbox, migrateSlo],
      dbSettings: sloConnectionSettings,
      consumers: [SLO_CONSUMER],
    });
    const { db, logger, ns } = rt;

    const metrics = new Registry();
    const remaining = new Gauge({
      name: 'vigil_slo_budget_remaining_ratio',
      help: 'Share of the error budget left over the SLO window (negative when overspent)',
      labelNames: ['slo'],
      registers: [metrics],
    });
    const burn = new Gauge({
      name: 'vigil_slo_burn_rate',
      help: 'Error-budget burn rate over a window (1 spends exactly the budget over the SLO window)',
      labelNames: ['slo', 'window'],
      registers: [metrics],
    });
    const firing = new Gauge({
      name: 'vigil_slo_alerts_firing',
      help: 'Alerts firing for an SLO',
      labelNames: ['slo'],
      registers: [metrics],
    });
    const deps: SloEngineDeps = {
      db,
      js: rt.js,
      ns,
      slos,
      logger,
      onEvaluated: (slo, reading, alerts) => {
        remaining.set({ slo: slo.name }, reading.budget.remainingFraction);
        for (const w of reading.windows) burn.set({ slo: slo.name, window: formatDuration(w.windowMs) }, w.burnRate);
        firing.set({ slo: slo.name }, alerts);
      },
      onCounted: sliEventsCounter(metrics, slos.keys()),
    };
    const scrapes = new Counter({
      name: 'vigil_slo_scrapes_total',
      help: 'Scrapes of scraped SLIs by outcome (ok, skipped: another instance had just scraped, failed: nothing counted)',
      labelNames: ['slo', 'outcome'],
      registers: [metrics],
    });
    const consumer = await startIngest(deps, { concurrency: env.SLO_CONCURRENCY });
    const scraping = startScrapes(
      { db, logger, onScraped: (slo, outcome) => scrapes.inc({ slo, outcome }) },
      slos.values(),
    );
    observeConsumers(metrics, rt.nc, ns, [{ durable: SLO_CONSUMER.durable, running: consumer }]);
    // A repair, not a precondition: when it fails the engine still counts and evaluates.
    await resolveOrphanedAlerts({ ...deps, nc: rt.nc }).catch((e: unknown) =>
      logger.error(
        { err: e },
        'could not look for alerts left firing (slo.burn replay); they stay open until resolved',
      ),
    );
    const stopEvaluations = scheduleEvaluations(deps, { graceMs: env.SLO_EVALUATION_GRACE_MS });

    return {
      http: {
        metrics,
        routes: slosRoutes(deps),
        ready: rt.ready,
      },
      started: { slos: [...slos.keys()], stream: ns.stream, database: redactUrl(env.DATABASE_URL) },
      stop: [
        ['evaluations', () => stopEvaluations()],
        ['scrapes', () => scraping.stop()],
        ['consumer', () => consumer.stop()],
      ],
    };
  },
});
