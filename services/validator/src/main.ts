import { connectDocker } from '@vigil/docker';
import { Registry } from 'prom-client';
import { migrateOutbox } from '@vigil/outbox';
import { natsAuthOptions, observeConsumers, redactUrl, runService } from '@vigil/service-kit';
import { loadSuites } from './config/suite.js';
import { validatorEnv } from './config.js';
import { runsRoutes } from './http.js';
import { scheduleSuites, startValidator, VALIDATOR_CONSUMER } from './service.js';
import { migrateValidator, type ValidatorDatabase } from './store.js';

runService({
  name: 'validator',
  env: validatorEnv,
  async start(env, runtime) {
    // A bad suite file stops the start: the service never runs half-configured.
    // Suites may name hosts and ports through ${VAR:-default} (compose sets them).
    const suites = await loadSuites(env.VALIDATOR_SUITES_DIR, process.env);
    const rt = await runtime<ValidatorDatabase>({
      migrations: [migrateOutbox, migrateValidator],
      consumers: [VALIDATOR_CONSUMER],
    });
    const { db, logger, ns } = rt;
    const deps = {
      db,
      js: rt.js,
      ns,
      suites,
      logger,
      checks: {
        natsUrl: env.NATS_URL,
        natsOptions: await natsAuthOptions(env),
        databaseUrl: env.DATABASE_URL,
        cwd: env.VALIDATOR_WORKDIR,
        docker: connectDocker(env.DOCKER_HOST),
        dockerRequired: env.DOCKER_HOST !== undefined,
        deployment: env.VIGIL_DEPLOYMENT,
      },
    };
    const consumer = await startValidator(deps, {
      concurrency: env.VALIDATOR_CONCURRENCY,
      rateLimit:
        env.VALIDATOR_RATE_LIMIT === 0
          ? undefined
          : { perMinute: env.VALIDATOR_RATE_LIMIT, burst: env.VALIDATOR_RATE_BURST },
    });
    const metrics = new Registry();
    observeConsumers(metrics, rt.nc, ns, [{ durable: VALIDATOR_CONSUMER.durable, running: consumer }]);
    const stopSchedule = env.VALIDATOR_SCHEDULE
      ? scheduleSuites(deps, { everyMs: env.VALIDATOR_SCHEDULE_INTERVAL })
      : () => undefined;
    return {
      http: { metrics, routes: runsRoutes(db), ready: rt.ready },
      started: { suites: [...suites.keys()], stream: ns.stream, database: redactUrl(env.DATABASE_URL) },
      stop: [
        ['schedule', async () => stopSchedule()],
        ['consumer', () => consumer.stop()],
      ],
    };
  },
});
