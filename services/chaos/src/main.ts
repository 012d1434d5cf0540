import { Counter, Gauge, Registry } from 'prom-client';
import { connectDocker } from '@vigil/docker';
import { migrateOutbox } from '@vigil/outbox';
import { observeConsumers, readConfigFile, redactUrl, runService, sendJson } from '@vigil/service-kit';
import { parseChaosConfig } from './config/chaos.js';
import { chaosEnv } from './config.js';
import { dockerEngine } from './engine.js';
import { sloBudgetsFrom } from './budgets.js';
import {
  CHAOS_ABORTS,
  CHAOS_REQUESTS,
  CHAOS_VALIDATIONS,
  startAborts,
  startRequests,
  startValidations,
} from './consumers.js';
import type { ChaosDeps } from './deps.js';
import { createRunner } from './runner.js';
import { scheduleExperiments } from './schedules.js';
import { experimentWithJournal, listExperiments, migrateChaos, type ChaosDatabase } from './store.js';

runService({
  name: 'chaos',
  env: chaosEnv,
  // Over 60 lines: wiring: the runtime, the engine, the consumers, the runner, the schedules, the metrics and the routes, in order.
  async start(env, runtime) {
    // A bad config file stops the start: the service never runs half-configured.
    const config = parseChaosConfig(await readConfigFile(env.CHAOS_CONFIG, 'CHAOS_CONFIG'), env.CHAOS_CONFIG);
    const rt = await runtime<ChaosDatabase>({
      migrations: [migrateOutbox, migrateChaos],
      consumers: [CHAOS_REQUESTS, CHAOS_ABORTS, CHAOS_VALIDATIONS],
    });
    const { db, logger, ns } = rt;

    const metrics = new Registry();
    const outcomes = new Counter({
      name: 'vigil_chaos_experiments_total',
      help: 'Chaos requests by outcome (refused, dry-run, completed, aborted, failed, interrupted)',
      labelNames: ['outcome'],
      registers: [metrics],
    });
    const deps: ChaosDeps = {
      db,
      js: rt.js,
      ns,
      engine: dockerEngine(connectDocker(env.DOCKER_HOST), { helperImage: env.CHAOS_HELPER_IMAGE }),
      config,
      budgets: sloBudgetsFrom(env.CHAOS_SLO_URL),
      logger,
      leaseMs: env.CHAOS_LEASE_MS,
      onOutcome: (o) => outcomes.inc({ outcome: o }),
      authorized: env.NATS_USER !== undefined,
    };
    const runner = createRunner(deps);
    new Gauge({
      name: 'vigil_chaos_experiments_running',
      help: 'Experiments running in this instance',
      registers: [metrics],
      collect() {
        this.set(runner.running().length);
      },
    });
    // Before the consumers: what a previous run of this service left injected is rolled back first.
    const stopSweeping = runner.startSweeping();
    const validations = await startValidations(deps);
    const requests = await startRequests(deps, runner);
    const aborts = await startAborts(deps, runner);
    observeConsumers(metrics, rt.nc, rt.ns, [
      { durable: CHAOS_VALIDATIONS.durable, running: validations },
      { durable: CHAOS_REQUESTS.durable, running: requests },
      { durable: CHAOS_ABORTS.durable, running: aborts },
    ]);
    const stopSchedules = env.CHAOS_SCHEDULE ? scheduleExperiments(deps) : async () => undefined;

    return {
      http: {
        metrics,
        routes: async (req, res) => {
          if (req.method !== 'GET') return false;
          const path = new URL(req.url ?? '/', 'http://localhost').pathname;
          if (path === '/experiments') return sendJson(res, 200, { experiments: await listExperiments(db) });
          const m = /^\/experiments\/([^/]+)$/.exec(path);
          if (m === null) return false;
          const e = await experimentWithJournal(db, decodeURIComponent(m[1]!));
          return e === undefined ? sendJson(res, 404, { error: `no experiment ${m[1]}` }) : sendJson(res, 200, e);
        },
        ready: rt.ready,
      },
      started: {
        instance: runner.instanceId,
        docker: env.DOCKER_HOST,
        helperImage: env.CHAOS_HELPER_IMAGE,
        schedules: config.schedules.filter((s) => s.enabled).map((s) => `${s.name} (${s.cron.source})`),
        stream: ns.stream,
        database: redactUrl(env.DATABASE_URL),
      },
      stop: [
        ['schedules', () => stopSchedules()],
        ['requests', () => requests.stop()],
        ['aborts', () => aborts.stop()],
        // Always rolled back: a stopping service ends its experiments and reports them.
        ['experiments', () => runner.stopAll('the chaos service is shutting down')],
        ['sweep', () => stopSweeping()],
        ['validations', () => validations.stop()],
      ],
    };
  },
});
