import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { freePort, NatsCluster, NatsServerProcess, onFreshPorts, PrivatePostgres, waitFor } from '@vigil/embedded';
import { createTestDatabase } from './databases.js';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { resolveNats, resolvePostgres } from './servers.js';

describe('test harness', () => {
  it('draws free ports below the kernel ephemeral range, never the same one twice', async () => {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    const ports = [];
    for (let i = 0; i < 50; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(50);
    for (const port of ports) {
      expect(port).toBeLessThan(low);
      // Each one can really be listened on.
      await new Promise<void>((resolve, reject) => {
        const srv = createServer().once('error', reject);
        srv.listen(port, '127.0.0.1', () => srv.close(() => resolve()));
      });
    }
  });

  it('a server start that loses its port to another process is tried again on a new port, three times at most', async () => {
    const listen = (port: number) =>
      new Promise<Server>((resolve, reject) => {
        const srv = createServer().once('error', reject);
        srv.listen(port, '127.0.0.1', () => resolve(srv));
      });
    const taken = await listen(await freePort());
    const takenPort = (taken.address() as { port: number }).port;
    try {
      const tried: number[] = [];
      const srv = await onFreshPorts(async () => {
        const port = tried.length === 0 ? takenPort : await freePort();
        tried.push(port);
        return listen(port);
      });
      expect(tried).toHaveLength(2);
      expect(tried[0]).toBe(takenPort);
      await new Promise((r) => srv.close(r));
      // Always the taken port: the third failure goes up. Refused by `retryable`, or another error: at once.
      let calls = 0;
      await expect(onFreshPorts(() => (calls++, listen(takenPort)))).rejects.toThrow(/EADDRINUSE/);
      expect(calls).toBe(3);
      calls = 0;
      await expect(
        onFreshPorts(
          () => (calls++, listen(takenPort)),
          () => false,
        ),
      ).rejects.toThrow(/EADDRINUSE/);
      expect(calls).toBe(1);
      calls = 0;
      await expect(onFreshPorts(() => (calls++, Promise.reject(new Error('bad config'))))).rejects.toThrow(
        'bad config',
      );
      expect(calls).toBe(1);
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });

  it('spawns a private nats-server; JetStream data survives SIGKILL and restart', async () => {
    await using s = await NatsServerProcess.start();
    const nc = await connect({ servers: s.url, reconnectTimeWait: 50, maxReconnectAttempts: -1 });
    try {
      const jsm = await jetstreamManager(nc, { timeout: 1000 });
      await jsm.streams.add({ name: 'H', subjects: ['h.>'] });
      const js = jetstream(nc);
      for (let i = 0; i < 10; i++) await js.publish('h.x', `m${i}`);
      const pid = s.pid;
      await s.kill('SIGKILL');
      await s.restart();
      expect(s.pid).not.toBe(pid);
      // The client reconnects by itself; JetStream answers once the restarted server has recovered.
      const info = await waitFor(() => jsm.streams.info('H'), { timeoutMs: 20_000, message: 'stream H after restart' });
      expect(info.state.messages).toBe(10);
    } finally {
      await nc.close();
    }
  });

  it('starts a 3-node JetStream cluster that holds an R3 stream through the loss of one node', async () => {
    await using cluster = await NatsCluster.start(3);
    const nc = await connect({ servers: cluster.urls });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: 'R3', subjects: ['r3.>'], num_replicas: 3 });
      const js = jetstream(nc);
      await js.publish('r3.a', 'one');
      const info = await jsm.streams.info('R3');
      expect(info.cluster?.replicas?.length).toBe(2);
      // Kill the stream's leader: the two others elect a new one; a publisher retries meanwhile
      // under the same Nats-Msg-Id, so a retry cannot store the message twice.
      const leader = cluster.servers[Number(info.cluster?.leader?.replace('n', '')) - 1]!;
      await leader.kill('SIGKILL');
      const ack = await waitFor(() => js.publish('r3.a', 'two', { msgID: 'two', timeout: 2000 }), {
        timeoutMs: 20_000,
        message: 'publish after leader loss',
      });
      expect(ack.seq).toBe(2);
      expect((await waitFor(() => jsm.streams.info('R3'))).state.messages).toBe(2);
    } finally {
      await nc.close();
    }
  });

  it('starts a private PostgreSQL cluster and gives each test a database of its own', async () => {
    await using p = await PrivatePostgres.start();
    await using db = await createTestDatabase(p.url);
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      const r = await c.query<{ db: string }>('select current_database() as db');
      expect(r.rows[0]?.db).toBe(db.name);
    } finally {
      await c.end();
    }
  });

  it('resolves servers from the environment first', async () => {
    const n = await resolveNats({ env: { NATS_URL: inject('natsUrl') } });
    const p = await resolvePostgres({ env: { DATABASE_URL: inject('databaseUrl') } });
    expect(n).toMatchObject({ url: inject('natsUrl'), source: 'env' });
    expect(p).toMatchObject({ url: inject('databaseUrl'), source: 'env' });
  });
});
