import { readFile } from 'node:fs/promises';
import { connect, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import { inboxPrefixFor } from '@vigil/events';

/** How a service authenticates to NATS and secures the connection (all from its environment). */
export interface NatsAuthEnv {
  readonly NATS_USER?: string | undefined;
  readonly NATS_PASSWORD?: string | undefined;
  readonly NATS_PASSWORD_FILE?: string | undefined;
  readonly NATS_TLS_CA_FILE?: string | undefined;
  readonly NATS_TLS_CERT_FILE?: string | undefined;
  readonly NATS_TLS_KEY_FILE?: string | undefined;
}

/**
 * Connection options for a user and TLS: the password from the environment or a file (never
 * logged), and the user's own inbox prefix, the only reply subjects its permissions allow.
 */
export async function natsAuthOptions(env: NatsAuthEnv): Promise<Partial<ConnectionOptions>> {
  const o: Partial<ConnectionOptions> = {};
  if (env.NATS_USER !== undefined) {
    const pass =
      env.NATS_PASSWORD_FILE !== undefined
        ? (await readFile(env.NATS_PASSWORD_FILE, 'utf8')).trim()
        : env.NATS_PASSWORD;
    Object.assign(o, { user: env.NATS_USER, inboxPrefix: inboxPrefixFor(env.NATS_USER) });
    if (pass !== undefined) o.pass = pass;
  }
  if (env.NATS_TLS_CA_FILE !== undefined || env.NATS_TLS_CERT_FILE !== undefined) {
    o.tls = {
      ...(env.NATS_TLS_CA_FILE === undefined ? {} : { caFile: env.NATS_TLS_CA_FILE }),
      ...(env.NATS_TLS_CERT_FILE === undefined ? {} : { certFile: env.NATS_TLS_CERT_FILE }),
      ...(env.NATS_TLS_KEY_FILE === undefined ? {} : { keyFile: env.NATS_TLS_KEY_FILE }),
    };
  }
  return o;
}

/**
 * The connection of a service: named after it, and reconnecting forever, since a service that
 * gave up on NATS would sit idle while reporting itself alive. `url` may list several servers
 * separated by commas.
 */
export function connectNats(
  url: string,
  service: string,
  extra: Partial<ConnectionOptions> = {},
): Promise<NatsConnection> {
  return connect({
    servers: url.split(',').map((u) => u.trim()),
    name: service,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    ...extra,
  });
}
