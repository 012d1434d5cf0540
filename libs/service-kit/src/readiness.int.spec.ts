import pg from 'pg';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { NatsServerProcess, PrivatePostgres, waitFor } from '@vigil/testkit';
import { startHttpServer } from './http.js';
import { connectNats } from './nats.js';
import { natsReadiness, postgresReadiness } from './readiness.js';

type Readyz = { status: number; checks: Record<string, unknown> };

/**
 * A /readyz server reporting `name` from `probe`, as every service's runtime does, and the three
 * moments of a server outage: ready, down within 2 s of `stop`, ready again after `start`.
 */
async function outage(
  name: string,
  probe: () => Promise<true | string>,
  server: { stop(): Promise<void>; start(): Promise<void> },
): Promise<{ before: Readyz; down: Readyz; after: Readyz }> {
  const http = await startHttpServer({
    port: 0,
    metrics: new Registry(),
    ready: async () => ({ [name]: await probe() }),
  });
  const readyz = async (): Promise<Readyz> => {
    const r = await fetch(`http://127.0.0.1:${http.port}/readyz`);
    return { status: r.status, checks: ((await r.json()) as { checks: Record<string, unknown> }).checks };
  };
  const answering = (status: number) => async () => {
    const r = await readyz();
    return r.status === status ? r : undefined;
  };
  try {
    const before = await readyz();
    await server.stop();
    const down = await waitFor(answering(503), {
      timeoutMs: 2000,
      message: `/readyz to answer 503 within 2 s of ${name} going away`,
    });
    await server.start();
    const after = await waitFor(answering(200), {
      timeoutMs: 10_000,
      message: `/readyz to answer 200 once ${name} is back`,
    });
    return { before, down, after };
  } finally {
    await http.close();
  }
}

describe('/readyz tells the truth about its servers', () => {
  it('NATS: 503 within 2 s of the server going away, 200 again once the client has reconnected', async () => {
    await using nats = await NatsServerProcess.start();
    // As a service connects: reconnecting forever, so the connection is never closed.
    const nc = await connectNats(nats.url, 'readiness-test');
    try {
      const r = await outage('nats', natsReadiness(nc), {
        stop: () => nats.kill('SIGKILL'),
        start: () => nats.restart(),
      });
      expect(r.before).toEqual({ status: 200, checks: { nats: true } });
      expect(r.down.checks['nats']).toMatch(/disconnected|did not answer/);
      expect(r.after).toEqual({ status: 200, checks: { nats: true } });
      expect(nc.isClosed()).toBe(false);
    } finally {
      await nc.close();
    }
  });

  it('PostgreSQL: 503 naming the error while the server is down, 200 once it is back', async () => {
    await using postgres = await PrivatePostgres.start();
    const pool = new pg.Pool({ connectionString: postgres.url, max: 2 });
    // A pooled connection the server drops emits 'error' on the pool; a service's pool handles it.
    pool.on('error', () => undefined);
    try {
      const r = await outage('postgres', postgresReadiness(pool), {
        stop: () => postgres.kill('SIGINT'),
        start: () => postgres.restart(),
      });
      expect(r.before).toEqual({ status: 200, checks: { postgres: true } });
      expect(r.down.checks['postgres']).toEqual(expect.any(String));
      expect(r.after).toEqual({ status: 200, checks: { postgres: true } });
    } finally {
      await pool.end();
    }
  });
});
