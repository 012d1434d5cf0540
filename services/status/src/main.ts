import { Counter, Gauge, Registry } from 'prom-client';
import { observeConsumers, redactUrl, runService } from '@vigil/service-kit';
import { statusEnv } from './config.js';
import { statusRoutes } from './http.js';
import { createLive } from './live.js';
import { startStatus, STATUS_CONSUMER } from './service.js';
import { migrateStatus, type StatusDatabase } from './store.js';

runService({
  name: 'status',
  env: statusEnv,
  // Over 60 lines: wiring: the runtime, the read model, the page, the API and their shutdown, in order.
  async start(env, runtime) {
    const rt = await runtime<StatusDatabase>({
      migrations: [migrateStatus],
      consumers: [STATUS_CONSUMER],
      dbMax: 4,
    });
    const { db, logger, ns } = rt;
    const status = await startStatus(
      { nc: rt.nc, js: rt.js, db, ns, logger, clock: () => new Date() },
      { limits: { days: env.STATUS_DAYS, maxComponents: env.STATUS_MAX_COMPONENTS } },
    );

    const live = createLive(status);
    const metrics = new Registry();
    const applied = new Counter({
      name: 'vigil_status_events_applied_total',
      help: 'Live events that changed the read model (after the replay at start)',
      registers: [metrics],
    });
    status.onChange(() => applied.inc());
    new Gauge({
      name: 'vigil_status_rebuild_seconds',
      help: 'How long the last start took to rebuild the read model (archive, then replay)',
      registers: [metrics],
    }).set(status.rebuild.ms / 1000);
    new Gauge({
      name: 'vigil_status_model_entries',
      help: 'Entries of the read model by kind (bounded by the STATUS_* limits)',
      labelNames: ['kind'],
      registers: [metrics],
      collect() {
        const m = status.model;
        this.set({ kind: 'components' }, m.components.size);
        this.set(
          { kind: 'days' },
          [...m.days.values()].reduce((n, d) => n + d.size, 0),
        );
        this.set({ kind: 'incidents' }, m.incidents.size);
        this.set({ kind: 'experiments' }, m.experiments.size);
      },
    });
    new Gauge({
      name: 'vigil_status_components_refused',
      help: 'Component results not tracked because STATUS_MAX_COMPONENTS was reached',
      registers: [metrics],
      collect() {
        this.set(status.model.refused);
      },
    });
    new Gauge({
      name: 'vigil_status_unsaved_changes',
      help: 'Read-model changes not yet written to the archive (PostgreSQL unavailable)',
      registers: [metrics],
      collect() {
        this.set(status.unsaved());
      },
    });
    observeConsumers(metrics, rt.nc, ns, [{ durable: STATUS_CONSUMER.durable, running: status.consumer }]);
    new Gauge({
      name: 'vigil_status_live_clients',
      help: 'Pages following live over /events',
      registers: [metrics],
      collect() {
        this.set(live.clients());
      },
    });
    return {
      http: {
        metrics,
        routes: statusRoutes(status, live, {
          title: env.STATUS_TITLE,
          sloEngineUrl: env.STATUS_SLO_ENGINE_URL.replace(/\/$/, ''),
          anomalyUrl: env.STATUS_ANOMALY_URL.replace(/\/$/, ''),
          jaegerUrl: env.STATUS_JAEGER_URL,
        }),
        ready: rt.ready,
      },
      started: { stream: ns.stream, database: redactUrl(env.DATABASE_URL), ...status.rebuild },
      stopFirst: [
        // Open event streams first: the HTTP server waits for them before it closes.
        ['live', async () => live.close()],
      ],
      stop: [['consumer', () => status.stop()]],
    };
  },
});
