import { jetstreamManager } from '@nats-io/jetstream';
import { migrateOutbox, type OutboxDatabase } from '@vigil/outbox';
import { redactUrl, runService } from '@vigil/service-kit';
import { relayEnv } from './config.js';
import { createRelayMetrics } from './metrics.js';
import { createRelay, relayConnectionSettings } from './relay.js';

runService({
  name: 'outbox-relay',
  env: relayEnv,
  async start(env, runtime) {
    const rt = await runtime<OutboxDatabase>({
      migrations: [migrateOutbox],
      dbMax: 4,
      dbSettings: relayConnectionSettings,
      nats: { noAsyncTraces: true },
    });
    const { db, nc, ns, logger } = rt;
    const jsm = await jetstreamManager(nc);
    const clock = () => new Date();
    const metrics = createRelayMetrics(db, clock);
    const relay = createRelay(
      { db, databaseUrl: env.DATABASE_URL, nc, jsm, ns, logger, metrics, clock, inboxPrefix: rt.inboxPrefix },
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
    return {
      http: {
        metrics: metrics.registry,
        // Without NATS the relay's JetStream probe would only wait for its timeout.
        ready: async (): Promise<Record<string, boolean | string>> => {
          const nats = await rt.probes.nats();
          if (nats === true) return { nats, ...(await relay.ready()) };
          return { nats, postgres: await rt.probes.postgres(), jetstream: 'NATS is not connected' };
        },
      },
      started: {
        mode: relay.mode(),
        stream: ns.stream,
        nats: redactUrl(env.NATS_URL),
        database: redactUrl(env.DATABASE_URL),
      },
      stop: [['relay', () => relay.stop()]],
    };
  },
});
