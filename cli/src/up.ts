import { resolve } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import pg from 'pg';
import { defaultNamespace, ensureStreams, eventTypes, subjectOf, type Logger } from '@vigil/events';
import { resolveNats, resolvePostgres, type ResolvedServer } from '@vigil/embedded';
import type { CliEnv } from './config.js';
import { demoTargetName, startDemoTarget, type DemoTarget } from './demo.js';
import { portsFrom, services, startService, stopService, waitReady, type RunningService } from './services.js';

export interface UpOptions {
  readonly env: CliEnv;
  /** Ignore NATS_URL/DATABASE_URL and local servers; run servers of our own under the data folder. */
  readonly ownServers: boolean;
  /** Also start an opted-in demo target container for chaos experiments (needs a Docker engine). @default false */
  readonly demo?: boolean;
  readonly logger: Logger;
  /** Where the ready summary goes (stdout). */
  readonly print: (line: string) => void;
}

export interface RunningStack {
  readonly natsUrl: string;
  readonly databaseUrl: string;
  stop(): Promise<void>;
}

/** Creates `database` on the server unless the URL names a database of the user's choice. */
async function ensureDatabase(serverUrl: string, database: string): Promise<string> {
  const url = new URL(serverUrl);
  if (url.pathname !== '/' && url.pathname !== '/postgres') return serverUrl; // the user chose one
  const c = new pg.Client({ connectionString: serverUrl });
  await c.connect();
  try {
    const r = await c.query('select 1 from pg_database where datname = $1', [database]);
    if (r.rowCount === 0)
      await c.query(`create database ${database}`).catch((e: { code?: string }) => {
        if (e.code !== '42P04') throw e; // created concurrently
      });
  } finally {
    await c.end();
  }
  url.pathname = `/${database}`;
  return url.toString();
}

/**
 * The embedded local stack: NATS and Postgres (from the environment, the local default ports, or
 * spawned under the data folder), the streams, and a ready summary. Stops what it started.
 */
// Over 60 lines: the stack brought up in its order (servers, streams, migrations, services, the summary), one step after the other.
export async function up(o: UpOptions): Promise<RunningStack> {
  const dataDir = resolve(o.env.VIGIL_DATA_DIR);
  const env = {
    ...(o.env.NATS_URL ? { NATS_URL: o.env.NATS_URL } : {}),
    ...(o.env.DATABASE_URL ? { DATABASE_URL: o.env.DATABASE_URL } : {}),
  };
  const started: ResolvedServer[] = [];
  const running: RunningService[] = [];
  let demo: DemoTarget | undefined;
  const stopAll = async () => {
    if (demo !== undefined) await demo.stop().catch(() => undefined);
    for (const s of running.reverse()) await stopService(s);
    for (const s of started.reverse()) await s.stop();
  };
  try {
    o.print('vigil: starting NATS and PostgreSQL…');
    const nats = await resolveNats({
      env,
      ownServer: o.ownServers,
      preferDefaultPort: true,
      storeDir: resolve(dataDir, 'nats'),
    });
    started.push(nats);
    const postgres = await resolvePostgres({
      env,
      ownServer: o.ownServers,
      preferDefaultPort: true,
      dataDir: resolve(dataDir, 'postgres'),
    });
    started.push(postgres);
    const databaseUrl = await ensureDatabase(postgres.url, o.env.VIGIL_DATABASE);
    const nc = await connect({ servers: nats.url, name: 'vigil up' });
    try {
      const jsm = await jetstreamManager(nc);
      const made = await ensureStreams(nc, {
        replicas: o.env.VIGIL_REPLICAS,
        ...(o.env.VIGIL_EVENTS_MAX_BYTES === undefined ? {} : { maxBytes: o.env.VIGIL_EVENTS_MAX_BYTES }),
        ...(o.env.VIGIL_DEADLETTER_MAX_BYTES === undefined
          ? {}
          : { deadLetterMaxBytes: o.env.VIGIL_DEADLETTER_MAX_BYTES }),
      });
      const info = await jsm.streams.info(defaultNamespace.stream);
      o.logger.debug({ made }, 'streams ready');
      const ports = portsFrom(o.env.VIGIL_PORT_BASE);
      const firstNats = new URL(nats.url.split(',')[0] as string);
      const serviceEnv: NodeJS.ProcessEnv = {
        ...process.env,
        NATS_URL: nats.url,
        DATABASE_URL: databaseUrl,
        VIGIL_REPLICAS: String(o.env.VIGIL_REPLICAS),
        LOG_LEVEL: o.env.LOG_LEVEL,
        // Where the services are, for the suites (vigil-self, seed-phases) and the chaos gate.
        VIGIL_NATS_HOST: firstNats.hostname,
        VIGIL_NATS_PORT: firstNats.port || '4222',
        VIGIL_VALIDATOR_URL: `http://127.0.0.1:${ports.validator}`,
        VIGIL_SLO_ENGINE_URL: `http://127.0.0.1:${ports['slo-engine']}`,
        VIGIL_CHAOS_URL: `http://127.0.0.1:${ports.chaos}`,
        VIGIL_ANOMALY_URL: `http://127.0.0.1:${ports.anomaly}`,
        VIGIL_STATUS_URL: `http://127.0.0.1:${ports.status}`,
        STATUS_SLO_ENGINE_URL: `http://127.0.0.1:${ports['slo-engine']}`,
        STATUS_ANOMALY_URL: `http://127.0.0.1:${ports.anomaly}`,
        STATUS_JAEGER_URL: o.env.VIGIL_JAEGER_URL,
        VIGIL_OUTBOX_RELAY_URL: `http://127.0.0.1:${ports['outbox-relay']}`,
        CHAOS_SLO_URL: `http://127.0.0.1:${ports['slo-engine']}`,
      };
      o.print(`vigil: starting ${services.map((s) => s.name).join(', ')}…`);
      for (const s of services) running.push(startService(s, ports[s.name], serviceEnv, o.print));
      await Promise.all(running.map((s) => waitReady(s)));
      o.print(`vigil: ready`);
      o.print(`  NATS        ${nats.url}  (${describe(nats.source)})`);
      o.print(`  PostgreSQL  ${redact(databaseUrl)}  (${describe(postgres.source)})`);
      if (postgres.note !== undefined) o.print(`              ${postgres.note}`);
      o.print(
        `  streams     ${defaultNamespace.stream} (${made.events}, ${info.state.messages} messages, subjects ${defaultNamespace.subjectPrefix}.>), ${defaultNamespace.deadLetterStream} (${made.deadLetter})`,
      );
      o.print(
        `  publish     e.g. ${subjectOf(defaultNamespace, 'validation.requested')}; event types: ${eventTypes.join(', ')}`,
      );
      for (const s of running) {
        o.print(`  ${s.name.padEnd(12)}  http://127.0.0.1:${s.port}/readyz  /metrics  /healthz`);
      }
      o.print(`  chaos       experiments act on the Docker engine at DOCKER_HOST (default /var/run/docker.sock)`);
      if (o.demo === true) demo = await startDemo(o);
      o.print('  Ctrl-C stops everything this command started.');
    } finally {
      await nc.close();
    }
    return { natsUrl: nats.url, databaseUrl, stop: stopAll };
  } catch (e) {
    await stopAll().catch(() => undefined);
    throw e;
  }
}

function describe(source: ResolvedServer['source']): string {
  switch (source) {
    case 'env':
      return 'from the environment';
    case 'local':
      return 'already running on this machine';
    case 'spawned':
      return 'started by vigil, data under the data folder';
    case 'container':
      return 'in a container';
  }
}

function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

/** The demo target, or undefined (with the reason printed) where no Docker engine answers. */
async function startDemo(o: UpOptions): Promise<DemoTarget | undefined> {
  try {
    const demo = await startDemoTarget({
      name: demoTargetName(o.env.VIGIL_PORT_BASE),
      dockerHost: o.env.DOCKER_HOST,
      image: o.env.VIGIL_DEMO_IMAGE,
      print: o.print,
    });
    o.print(`  demo        container ${demo.name} (${demo.image}) opted in to chaos experiments; try:`);
    o.print(
      `              vigil publish chaos.requested --kind container-pause --target '{"names":["${demo.name}"]}' --durationSeconds 10 --reason demo --wait`,
    );
    o.print('              (the shipped policy refuses Mon-Fri 09:00-17:00 UTC: config/chaos.yaml policy.blackouts)');
    return demo;
  } catch (e) {
    o.print(`  demo        not started: ${(e as Error).message}`);
    return undefined;
  }
}
