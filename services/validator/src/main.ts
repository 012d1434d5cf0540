import { jetstream } from '@nats-io/jetstream';
import { connectDocker } from '@vigil/docker';
import { Registry } from 'prom-client';
import { ensureConsumer, ensureStreams, namespaceFor } from '@vigil/events';
import { migrateOutbox } from '@vigil/outbox';
import {
  connectNats,
  createDb,
  createLogger,
  onShutdown,
  parseEnv,
  redactUrl,
  startHttpServer,
  startTelemetry,
} from '@vigil/service-kit';
import { loadSuites } from './config/suite.js';
import { validatorEnv } from './config.js';
import { runsRoutes } from './http.js';
import { scheduleSuites, startValidator, VALIDATOR_CONSUMER } from './service.js';
import { migrateValidator, type ValidatorDatabase } from './store.js';

const SERVICE = 'validator';

async function main(): Promise<void> {
  const env = parseEnv(validatorEnv, process.env);
  const telemetry = startTelemetry({ serviceName: SERVICE, endpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT });
  const logger = createLogger(SERVICE, env.LOG_LEVEL);
  // A bad suite file stops the start: the service never runs half-configured.
  const suites = await loadSuites(env.VALIDATOR_SUITES_DIR);
  const ns = namespaceFor(env.VIGIL_NAMESPACE);

  const { db, pool } = createDb<ValidatorDatabase>(env.DATABASE_URL, { max: 8, applicationName: `vigil-${SERVICE}` });
  await migrateOutbox(db);
  await migrateValidator(db);
  const nc = await connectNats(env.NATS_URL, SERVICE);
  await ensureStreams(nc, { ns, replicas: env.VIGIL_REPLICAS });
  await ensureConsumer(nc, VALIDATOR_CONSUMER, ns);

  const deps = {
    db,
    js: jetstream(nc),
    ns,
    suites,
    logger,
    checks: {
      natsUrl: env.NATS_URL,
      databaseUrl: env.DATABASE_URL,
      cwd: env.VALIDATOR_WORKDIR,
      docker: connectDocker(env.DOCKER_HOST),
    },
  };
  const consumer = await startValidator(deps, { concurrency: env.VALIDATOR_CONCURRENCY });
  const stopSchedule = env.VALIDATOR_SCHEDULE ? scheduleSuites(deps) : () => undefined;
  const http = await startHttpServer({
    port: env.PORT,
    host: env.HTTP_HOST,
    metrics: new Registry(),
    routes: runsRoutes(db),
    ready: async () => ({
      nats: !nc.isClosed(),
      postgres: await pool.query('select 1').then(
        () => true,
        (e: Error) => e.message,
      ),
    }),
  });
  logger.info(
    { port: http.port, suites: [...suites.keys()], stream: ns.stream, database: redactUrl(env.DATABASE_URL) },
    'validator started',
  );

  onShutdown(logger, () => [
    ['http', () => http.close()],
    ['schedule', async () => stopSchedule()],
    ['consumer', () => consumer.stop()],
    ['nats', () => nc.drain()],
    ['postgres', () => db.destroy()],
    ['telemetry', () => telemetry.shutdown()],
  ]);
}

main().catch((e: unknown) => {
  process.stderr.write(`validator: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
