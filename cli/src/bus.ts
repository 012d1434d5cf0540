import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { isNotFound, namespaceFor, type Namespace } from '@vigil/events';
import { natsAuthOptions, redactUrl } from '@vigil/service-kit';
import type { CliEnv } from './config.js';

export interface Bus {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly ns: Namespace;
  readonly url: string;
  /** The NATS user and password the command connected with, when it used one. */
  readonly credentials?: { readonly user: string; readonly secret: string };
  close(): Promise<void>;
}

/** NATS of the stack the command talks to: NATS_URL (default the local port) and VIGIL_NAMESPACE. */
export async function openBus(env: CliEnv): Promise<Bus> {
  const url = env.NATS_URL ?? 'nats://127.0.0.1:4222';
  let nc: NatsConnection;
  const auth = await natsAuthOptions(env);
  try {
    nc = await connect({
      servers: url.split(','),
      timeout: 3000,
      name: 'vigil-cli',
      ...auth,
    });
  } catch (e) {
    throw new Error(
      `cannot reach NATS at ${redactUrl(url)} (${(e as Error).message}); start the stack with vigil up or set NATS_URL (and NATS_USER / NATS_PASSWORD when the server requires them)`,
    );
  }
  const ns = namespaceFor(env.VIGIL_NAMESPACE);
  return {
    nc,
    js: jetstream(nc),
    jsm: await jetstreamManager(nc),
    ns,
    url,
    ...(auth.user !== undefined && auth.pass !== undefined
      ? { credentials: { user: auth.user, secret: auth.pass } }
      : {}),
    close: () => nc.close(),
  };
}

/** Fails with what to do when the stack's stream is missing (a publish would only say "no responders"). */
export async function requireStream(bus: Bus, stream: string): Promise<void> {
  try {
    await bus.jsm.streams.info(stream);
  } catch (e) {
    if (isNotFound(e)) {
      throw new Error(
        `there is no stream ${stream} at ${bus.url}: start the stack with vigil up (it creates the streams), or check NATS_URL and VIGIL_NAMESPACE`,
      );
    }
    throw e;
  }
}

/** The Jaeger UI page of a trace. */
export function jaegerUrl(env: CliEnv, traceId: string): string {
  return `${env.VIGIL_JAEGER_URL.replace(/\/$/, '')}/trace/${traceId}`;
}
