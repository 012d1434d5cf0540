import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import type { ConnectionOptions, NatsConnection } from '@nats-io/transport-node';
import type { Kysely } from 'kysely';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { z } from 'zod';
import {
  ensureConsumer,
  ensureStreams,
  isPermissionDenied,
  namespaceFor,
  type ConsumerSpec,
  type Namespace,
  type StreamOptions,
} from '@vigil/events';
import { createDb } from './db.js';
import type { serviceEnv } from './env.js';
import { createLogger } from './logger.js';
import { connectNats, natsAuthOptions } from './nats.js';
import { natsReadiness, postgresReadiness } from './readiness.js';
import type { ShutdownStep } from './shutdown.js';
import { startTelemetry, type Telemetry } from './telemetry.js';

export interface RuntimeOptions<DB> {
  /** The service's name: logs, traces, the NATS connection and the Postgres application name. */
  readonly service: string;
  /** The parsed environment (main.ts reads it). */
  readonly env: z.output<typeof serviceEnv>;
  /** Schema migrations, run in order at start (the outbox's first). */
  readonly migrations: readonly ((db: Kysely<DB>) => Promise<unknown>)[];
  /** Durable consumers to create, or to check when they exist. @default none */
  readonly consumers?: readonly ConsumerSpec[];
  /** Pool size. @default 8 */
  readonly dbMax?: number;
  /** Server settings of every Postgres connection. */
  readonly dbSettings?: Record<string, string>;
  /** Extra NATS connection options. */
  readonly nats?: Partial<ConnectionOptions>;
}

export interface ServiceRuntime<DB> {
  readonly telemetry: Telemetry;
  readonly logger: Logger;
  readonly ns: Namespace;
  readonly db: Kysely<DB>;
  readonly pool: pg.Pool;
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  /** The NATS connection's inbox prefix (`_INBOX_<user>` with a NATS user). */
  readonly inboxPrefix: string | undefined;
  /** /readyz checks: NATS connected and Postgres answering (the message when not). */
  readonly ready: () => Promise<Record<string, boolean | string>>;
  /** The two probes behind `ready`, for a service that reports more or in another order. */
  readonly probes: { readonly nats: () => Promise<true | string>; readonly postgres: () => Promise<true | string> };
  /** The runtime's own shutdown steps, to run after the service's: NATS, Postgres, telemetry. */
  readonly closing: readonly ShutdownStep[];
}

/**
 * Creates the streams, or checks them. A user whose permissions do not allow creating them (only
 * the outbox-relay's do) waits until they exist.
 */
async function streamsReady(nc: NatsConnection, so: StreamOptions, logger: Logger): Promise<void> {
  for (let waited = false; ;) {
    try {
      await ensureStreams(nc, so);
      return;
    } catch (e) {
      if (!isPermissionDenied(e)) throw e;
      if (!waited) logger.warn('streams missing and this user may not create them: waiting for the outbox-relay');
      waited = true;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/**
 * What every service's main.ts does before its own work: telemetry and logger, Postgres with its
 * migrations, NATS with the namespace's streams and the service's consumers.
 */
export async function startRuntime<DB>(o: RuntimeOptions<DB>): Promise<ServiceRuntime<DB>> {
  const { env, service } = o;
  const telemetry = startTelemetry({ serviceName: service, endpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT });
  const logger = createLogger(service, env.LOG_LEVEL);
  const ns = namespaceFor(env.VIGIL_NAMESPACE);
  const { db, pool } = createDb<DB>(env.DATABASE_URL, {
    max: o.dbMax ?? 8,
    applicationName: `vigil-${service}`,
    ...(o.dbSettings === undefined ? {} : { settings: o.dbSettings }),
  });
  for (const migrate of o.migrations) await migrate(db);
  const natsOptions = { ...(await natsAuthOptions(env)), ...o.nats };
  const nc = await connectNats(env.NATS_URL, service, natsOptions);
  await streamsReady(
    nc,
    {
      ns,
      replicas: env.VIGIL_REPLICAS,
      ...(env.VIGIL_EVENTS_MAX_BYTES === undefined ? {} : { maxBytes: env.VIGIL_EVENTS_MAX_BYTES }),
      ...(env.VIGIL_DEADLETTER_MAX_BYTES === undefined ? {} : { deadLetterMaxBytes: env.VIGIL_DEADLETTER_MAX_BYTES }),
    },
    logger,
  );
  for (const spec of o.consumers ?? []) {
    const outcome = await ensureConsumer(nc, spec, ns);
    if (outcome === 'updated') logger.info({ durable: spec.durable }, 'consumer updated in place to its spec');
    if (outcome === 'recreated') {
      logger.warn(
        { durable: spec.durable },
        'consumer had a policy JetStream cannot change: made again from its first unacknowledged message',
      );
    }
  }
  const probes = { nats: natsReadiness(nc), postgres: postgresReadiness(pool) };
  return {
    telemetry,
    logger,
    ns,
    db,
    pool,
    nc,
    js: jetstream(nc),
    inboxPrefix: natsOptions.inboxPrefix,
    ready: async () => {
      const [nats, postgres] = await Promise.all([probes.nats(), probes.postgres()]);
      return { nats, postgres };
    },
    probes,
    closing: [
      ['nats', () => nc.drain()],
      ['postgres', () => db.destroy()],
      ['telemetry', () => telemetry.shutdown()],
    ],
  };
}
