import { jetstreamManager } from '@nats-io/jetstream';
import { migrateOutbox, type OutboxDatabase } from '@vigil/outbox';
import { onShutdown, parseEnv, redactUrl, startHttpServer, startRuntime } from '@vigil/service-kit';
import { relayEnv } from './config.js';
import { createRelayMetrics } from './metrics.js';
import { createRelay, relayConnectionSettings } from './relay.js';

const SERVICE = 'outbox-relay';

async function main(): Promise<void> {
  const env = parseEnv(relayEnv, process.env);
  const rt = await startRuntime<OutboxDatabase>({
    service: SERVICE,
    env,
    migrations: [migrateOutbox],
    dbMax: 4,
    dbSettings: relayConnectionSettings,
    nats: { noAsyncTraces: true },
  });
  const { db, nc, ns, logger } = rt;
  const jsm = await jetstreamManager(nc);

  const metrics = createRelayMetrics(db);
  const relay = createRelay(
    { db, databaseUrl: env.DATABASE_URL, nc, jsm, ns, logger, metrics, inboxPrefix: rt.inboxPrefix },
    {
      mode: env.RELAY_MODE,
      ...(env.RELAY_SLOT === undefined ? {} : { slot: env.RELAY_SLOT }),
      maxBufferedRows: env.RELAY_MAX_BUFFERED_ROWS,
      batchSize: env.RELAY_BATCH_SIZE,
      pollIntervalMs: env.RELAY_POLL_INTERVAL_MS,
      retry: {
        attempts: env.RELAY_RETRY_ATTEMPTS,
        initialDelayMs: env.RELAY_RETRY_INITIAL_DELAY_MS,
        maxDelayMs: env.RELAY_RETRY_MAX_DELAY_MS,
        publishTimeoutMs: env.RELAY_PUBLISH_TIMEOUT_MS,
      },
      breakerProbeMs: env.RELAY_BREAKER_PROBE_MS,
      retentionMs: env.RELAY_RETENTION_HOURS * 3_600_000,
      standbyRetryMs: env.RELAY_STANDBY_RETRY_MS,
    },
  );
  await relay.start();
  const http = await startHttpServer({
    logger,
    port: env.PORT,
    host: env.HTTP_HOST,
    metrics: metrics.registry,
    // Without NATS the relay's JetStream probe would only wait for its timeout.
    ready: async (): Promise<Record<string, boolean | string>> => {
      const nats = await rt.probes.nats();
      if (nats === true) return { nats, ...(await relay.ready()) };
      return { nats, postgres: await rt.probes.postgres(), jetstream: 'NATS is not connected' };
    },
  });
  logger.info(
    {
      port: http.port,
      mode: relay.mode(),
      stream: ns.stream,
      nats: redactUrl(env.NATS_URL),
      database: redactUrl(env.DATABASE_URL),
    },
    'outbox-relay started',
  );

  onShutdown(logger, () => [['http', () => http.close()], ['relay', () => relay.stop()], ...rt.closing]);
}

main().catch((e: unknown) => {
  process.stderr.write(`outbox-relay: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
