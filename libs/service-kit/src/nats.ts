import { connect, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';

/**
 * The connection of a service: named after it, and reconnecting forever, since a service that
 * gave up on NATS would sit idle while reporting itself alive.
 */
export function connectNats(
  url: string,
  service: string,
  extra: Partial<ConnectionOptions> = {},
): Promise<NatsConnection> {
  return connect({ servers: url, name: service, maxReconnectAttempts: -1, reconnectTimeWait: 250, ...extra });
}
