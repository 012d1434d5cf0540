import pg from 'pg';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { NatsServerProcess, PrivatePostgres, waitFor } from '@vigil/testkit';
import { startHttpServer } from './http.js';
import { connectNats } from './nats.js';
import { natsReadiness, postgresReadiness } from './readiness.js';

/** /readyz of a server whose readiness is what every service's runtime reports. */
async function readyz(port: number): Promise<{ status: number; checks: Record<string, unknown> }> {
  const r = await fetch(`http://127.0.0.1:${port}/readyz`);
  return { status: r.status, checks: ((await r.json()) as { checks: Record<string, unknown> }).checks };
}

describe('/readyz tells the truth about its servers', () => {
  it('NATS: 503 within 2 s of the server going away, 200 again once the client has reconnected', async () => {
    await using nats = await NatsServerProcess.start();
    // As a service connects: reconnecting forever, so the connection is never closed.
    const nc = await connectNats(nats.url, 'readiness-test');
    const ready = natsReadiness(nc);
    const http = await startHttpServer({
      port: 0,
      metrics: new Registry(),
      ready: async () => ({ nats: await ready() }),
    });
    try {
      expect(await readyz(http.port)).toEqual({ status: 200, checks: { nats: true } });

      await nats.kill('SIGKILL');
      const down = await waitFor(
        async () => {
          const r = await readyz(http.port);
          return r.status === 503 ? r : undefined;
        },
        { timeoutMs: 2000, message: '/readyz to answer 503 after the NATS server died' },
      );
      expect(down.checks['nats']).toMatch(/disconnected|did not answer/);
      expect(nc.isClosed()).toBe(false);

      await nats.restart();
      await waitFor(async () => (await readyz(http.port)).status === 200, {
        timeoutMs: 10_000,
        message: '/readyz to answer 200 once the client has reconnected',
      });
      expect((await readyz(http.port)).checks).toEqual({ nats: true });
    } finally {
      await http.close();
      await nc.close();
    }
  });

  it('PostgreSQL: 503 naming the error while the server is down, 200 once it is back', async () => {
    await using postgres = await PrivatePostgres.start();
    const pool = new pg.Pool({ connectionString: postgres.url, max: 2 });
    // A pooled connection the server drops emits 'error' on the pool; a service's pool handles it.
    pool.on('error', () => undefined);
    const ready = postgresReadiness(pool);
    const http = await startHttpServer({
      port: 0,
      metrics: new Registry(),
      ready: async () => ({ postgres: await ready() }),
    });
    try {
      expect(await readyz(http.port)).toEqual({ status: 200, checks: { postgres: true } });
      await postgres.kill('SIGINT');
      const down = await waitFor(
        async () => {
          const r = await readyz(http.port);
          return r.status === 503 ? r : undefined;
        },
        { timeoutMs: 2000, message: '/readyz to answer 503 while PostgreSQL is down' },
      );
      expect(down.checks['postgres']).toEqual(expect.any(String));
      await postgres.restart();
      await waitFor(async () => (await readyz(http.port)).status === 200, {
        timeoutMs: 10_000,
        message: '/readyz to answer 200 once PostgreSQL is back',
      });
    } finally {
      await http.close();
      await pool.end();
    }
  });
});
