import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsServerProcess, PrivatePostgres, waitFor } from '@vigil/testkit';
import { runCli } from './support/cli.js';
import {
  outcome,
  outcomeHeader,
  scrape,
  startPipeline,
  traffic,
  type Pipeline,
  type Service,
} from './support/pipeline.js';

/**
 * Faults during steady traffic through the whole pipeline, with real processes and servers of the
 * test's own (so they can be restarted and killed). Each case prints sent, delivered, duplicates,
 * lost, applied twice and dead-lettered; all but the first two must be 0.
 */
const SERVICES: readonly Service[] = ['outbox-relay', 'validator', 'slo-engine', 'anomaly'];

let nats: NatsServerProcess;
let postgres: PrivatePostgres;
const rows: string[] = [];

beforeAll(async () => {
  nats = await NatsServerProcess.start();
  postgres = await PrivatePostgres.start();
}, 60_000);

afterAll(async () => {
  process.stdout.write(
    `\npipeline under faults (validation.requested → validation.completed, real processes)\n${outcomeHeader}${rows.join('')}`,
  );
  await nats?.stop();
  await postgres?.stop();
});

const pipeline = (label: string, env: Record<string, string> = {}): Promise<Pipeline> =>
  startPipeline({ label, natsUrls: [nats.url], postgresUrl: postgres.url, services: SERVICES, env });

describe('faults during steady traffic through the whole pipeline', () => {
  it('nats-server restarted, then SIGKILLed and started again', async () => {
    const p = await pipeline('natsrestart');
    try {
      const sent = await traffic(p, 150, 25, async () => {
        await nats.restart();
      });
      await outcome(p, 'nats-server restarted (SIGTERM)', sent, rows);
      const sent2 = await traffic(p, 150, 25, async () => {
        await nats.kill('SIGKILL');
        await nats.restart();
      });
      await outcome(p, 'nats-server SIGKILLed and started', [...sent, ...sent2], rows);
    } finally {
      await p.dispose();
    }
  }, 300_000);

  it('PostgreSQL restarted: the services reconnect by themselves', async () => {
    const p = await pipeline('pgrestart');
    try {
      const sent = await traffic(p, 150, 25, async () => {
        await postgres.restart();
      });
      await outcome(p, 'PostgreSQL restarted', sent, rows);
    } finally {
      await p.dispose();
    }
  }, 300_000);

  it('write transactions held open in another database and in the vigil database: every request completes while they stay open', async () => {
    const p = await pipeline('heldopen');
    // The relay decodes the WAL (the private server has wal_level = logical); its slot is made
    // once, waiting for the transactions open at that moment, so the held ones come after.
    await p.procs.get('outbox-relay')![0]!.waitForLog('streaming from the slot');
    const elsewhere = new pg.Client({ connectionString: postgres.url });
    const here = new pg.Client({ connectionString: p.databaseUrl });
    await elsewhere.connect();
    await here.connect();
    try {
      await elsewhere.query('begin');
      await elsewhere.query('select pg_current_xact_id()');
      await here.query('begin');
      await here.query(`insert into outbox.inbox (consumer, event_id) values ('held-open', 'x')`);
      const sent = await traffic(p, 90, 30);
      await outcome(p, 'unrelated transactions held open', sent, rows);
      // Both were open the whole time: every completion above came while they were.
      for (const c of [elsewhere, here]) {
        expect(
          (await c.query<{ open: boolean }>('select pg_current_xact_id_if_assigned() is not null as open')).rows[0]
            ?.open,
        ).toBe(true);
      }
      await here.query('rollback');
      await elsewhere.query('rollback');
    } finally {
      await here.end();
      await elsewhere.end();
      await p.dispose();
    }
  }, 300_000);

  it('each service SIGKILLed mid-work and started again: its work completes once', async () => {
    const p = await pipeline('svckill');
    try {
      let sent: string[] = [];
      for (const s of SERVICES) {
        sent = [
          ...sent,
          ...(await traffic(p, 90, 30, async () => {
            await p.procs.get(s)![0]!.kill('SIGKILL');
            p.procs.set(s, []);
            await p.start(s);
          })),
        ];
        await outcome(p, `${s} SIGKILLed and restarted`, sent, rows);
      }
    } finally {
      await p.dispose();
    }
  }, 600_000);

  it('a slow consumer does not hold back the others; its lag shows in /metrics and in vigil streams', async () => {
    // One event per transaction (no group commit: with it, the slo-engine clears this traffic's
    // backlog in the slices of time below faster than it builds up).
    const p = await pipeline('slow', { SLO_CONCURRENCY: '1' });
    const slo = p.procs.get('slo-engine')![0]!;
    // The slo-engine gets a twentieth of the time: stopped 475 ms of every 500 (a starved process,
    // not a dead one: it still answers /metrics, slowly). Its transactions stay short, so the
    // relay is not held back by it (in either of its modes).
    let throttling = true;
    const throttle = (async () => {
      while (throttling) {
        slo.child.kill('SIGSTOP');
        await new Promise((r) => setTimeout(r, 475));
        slo.child.kill('SIGCONT');
        await new Promise((r) => setTimeout(r, 25));
      }
    })();
    try {
      const sent = await traffic(p, 150, 50);
      // The validator answered every request and the anomaly service kept up meanwhile.
      const anomaly = p.procs.get('anomaly')![0]!;
      await waitFor(
        async () => {
          const m = await scrape(anomaly);
          return m.get('vigil_consumer_pending_messages{consumer="anomaly"}') === 0 &&
            (m.get('vigil_consumer_messages_total{consumer="anomaly",outcome="processed"}') ?? 0) >= 2 * sent.length
            ? m
            : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 250, message: 'anomaly to keep up while the slo-engine is starved' },
      );
      const lag = (await scrape(slo)).get('vigil_consumer_pending_messages{consumer="slo-engine"}') ?? 0;
      const streams = await runCli({ ...process.env, NATS_URL: nats.url, VIGIL_NAMESPACE: p.nsId }, [
        'streams',
        '--json',
      ]);
      expect(streams.code, streams.stderr).toBe(0);
      const consumers = streams.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { name: string; consumers: { name: string; pending: number }[] })
        .find((s) => s.name === p.ns.stream)!.consumers;
      const byName = new Map(consumers.map((c) => [c.name, c.pending]));
      process.stdout.write(
        `\nslow consumer: slo-engine lag ${lag} in its /metrics, ${byName.get('slo-engine')} in vigil streams; validator ${byName.get('validator')}, anomaly ${byName.get('anomaly')}\n`,
      );
      expect(lag).toBeGreaterThan(50);
      expect(byName.get('slo-engine')).toBeGreaterThan(50);
      expect(byName.get('validator')).toBe(0);
      expect(byName.get('anomaly')).toBe(0);
      throttling = false;
      await throttle;
      await outcome(p, 'slo-engine starved to 5 % CPU, then freed', sent, rows);
    } finally {
      throttling = false;
      await throttle;
      slo.child.kill('SIGCONT');
      await p.dispose();
    }
  }, 300_000);
});
