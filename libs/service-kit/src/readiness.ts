import type { NatsConnection } from '@nats-io/transport-node';
import type pg from 'pg';

/** How long a readiness probe waits for a server's answer. */
export const READINESS_TIMEOUT_MS = 1500;

/** `true` when `probe` settles in time, else why not. */
async function within(ms: number, what: string, probe: () => Promise<unknown>): Promise<true | string> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`${what} did not answer within ${ms} ms`), ms);
  });
  try {
    return await Promise.race([
      probe().then(
        () => true as const,
        (e: unknown) => (e instanceof Error ? e.message : String(e)),
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Readiness of a NATS connection. A connection that reconnects forever is never closed, so "not
 * closed" says nothing: the client's status events say whether it is connected now (a dropped
 * socket is seen at once), and a round trip to the server proves it answers (a silent network
 * loses the answer, which the timeout turns into "not ready").
 */
export function natsReadiness(nc: NatsConnection, timeoutMs = READINESS_TIMEOUT_MS): () => Promise<true | string> {
  let connected = !nc.isClosed();
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect' || s.type === 'reconnecting' || s.type === 'staleConnection') connected = false;
      else if (s.type === 'reconnect') connected = true;
    }
  })();
  void nc.closed().then(() => (connected = false));
  return async () => {
    if (nc.isClosed()) return 'connection closed';
    if (!connected) return 'disconnected, reconnecting';
    return within(timeoutMs, 'NATS', () => nc.flush());
  };
}

/** Readiness of a Postgres pool: a `select 1` within the timeout (a full pool waits, too). */
export function postgresReadiness(pool: pg.Pool, timeoutMs = READINESS_TIMEOUT_MS): () => Promise<true | string> {
  return () => within(timeoutMs, 'PostgreSQL', () => pool.query('select 1'));
}
