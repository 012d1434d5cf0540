import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvent, encodeStructured, namespaceFor, replay, subjectOf } from '@vigil/events';
import { createDb } from '@vigil/service-kit';
import { createTestDatabase, NatsServerProcess, PrivatePostgres, ServiceProcess, waitFor } from '@vigil/testkit';

/**
 * Faults during steady traffic through the whole pipeline, with real processes: request →
 * validator (runs the suite, writes run + outbox) → relay → stream → slo-engine and anomaly.
 * Each case prints sent, delivered, duplicates and lost, and checks that no effect applied twice.
 */
const SERVICES = ['outbox-relay', 'validator', 'slo-engine', 'anomaly'] as const;
type Service = (typeof SERVICES)[number];

let nats: NatsServerProcess;
let pg: PrivatePostgres;
let dir: string;
const rows: string[] = [];

beforeAll(async () => {
  nats = await NatsServerProcess.start();
  pg = await PrivatePostgres.start();
  dir = await mkdtemp(join(tmpdir(), 'vigil-faults-'));
  await mkdir(join(dir, 'suites'));
  await writeFile(
    join(dir, 'suites', 'fault.yaml'),
    `name: fault
components:
  - name: bus
    weight: 1
    checks: [{ name: nats port, kind: tcp, params: { host: 127.0.0.1, port: ${nats.port} } }]
`,
  );
}, 60_000);

afterAll(async () => {
  process.stdout.write(
    `\npipeline under faults (validation.requested → validation.completed, real processes)\n` +
      `${'fault'.padEnd(40)}${'sent'.padStart(6)}${'delivered'.padStart(11)}${'duplicates'.padStart(12)}${'lost'.padStart(6)}${'applied twice'.padStart(15)}${'dead-lettered'.padStart(15)}\n` +
      rows.join(''),
  );
  await nats?.stop();
  await pg?.stop();
  await rm(dir, { recursive: true, force: true });
});

interface Pipeline {
  readonly nsId: string;
  readonly databaseUrl: string;
  readonly procs: Map<Service, ServiceProcess>;
  start(name: Service): Promise<void>;
  dispose(): Promise<void>;
}

async function pipeline(label: string): Promise<Pipeline> {
  const database = await createTestDatabase(pg.url, label);
  const nsId = `${label}${Date.now().toString(36)}`.slice(0, 32);
  const procs = new Map<Service, ServiceProcess>();
  const env = {
    NATS_URL: nats.url,
    DATABASE_URL: database.url,
    VIGIL_NAMESPACE: nsId,
    VALIDATOR_SUITES_DIR: join(dir, 'suites'),
    VALIDATOR_SCHEDULE: 'false',
    LOG_LEVEL: 'warn',
  };
  const start = async (name: Service) => {
    const p = ServiceProcess.start(name, { ...env, LOG_LEVEL: 'info' });
    procs.set(name, p);
    await p.waitForLog(`${name} started`, 60_000);
  };
  // The relay first: it makes the streams; then the consumers.
  for (const s of SERVICES) await start(s);
  return {
    nsId,
    databaseUrl: database.url,
    procs,
    start,
    async dispose() {
      for (const p of procs.values()) await p.kill('SIGTERM');
      await database[Symbol.asyncDispose]();
    },
  };
}

/**
 * Publishes `count` validation.requested at `perSecond`, each retried with its own id until the
 * stream acknowledges it (a retry inside the duplicate window is stored once); `fault` runs in the
 * background once a third has been sent.
 */
async function traffic(p: Pipeline, count: number, perSecond: number, fault: () => Promise<void>): Promise<string[]> {
  const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  const js = jetstream(nc);
  const ns = namespaceFor(p.nsId);
  const ids: string[] = [];
  let faulting: Promise<void> | undefined;
  const started = Date.now();
  const sends: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    if (i === Math.floor(count / 3)) faulting = fault();
    const due = started + (i * 1000) / perSecond;
    if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
    const event = createEvent(
      'validation.requested',
      { suite: 'fault', requestedBy: 'faults' },
      { source: 'vigil/test' },
    );
    ids.push(event.id);
    const { data, headers } = encodeStructured(event);
    sends.push(
      (async () => {
        for (;;) {
          try {
            await js.publish(subjectOf(ns, 'validation.requested'), data, { headers, msgID: event.id, timeout: 2000 });
            return;
          } catch {
            await new Promise((r) => setTimeout(r, 200));
          }
        }
      })(),
    );
  }
  await Promise.all(sends);
  await faulting;
  await nc.close();
  return ids;
}

async function outcome(p: Pipeline, fault: string, sent: string[]): Promise<void> {
  const { db } = createDb<Record<string, never>>(p.databaseUrl);
  const nc: NatsConnection = await connect({ servers: nats.url, maxReconnectAttempts: -1 });
  try {
    const ns = namespaceFor(p.nsId);
    const runsPer = async () => {
      const r = await db.executeQuery<{ request_id: string; n: string }>(
        sql`select request_id, count(*) as n from validator.runs group by request_id`.compile(db),
      );
      return r.rows;
    };
    await waitFor(async () => (await runsPer()).length >= sent.length, {
      timeoutMs: 120_000,
      intervalMs: 250,
      message: `${fault}: a run for each of ${sent.length} requests`,
    });
    // Every completion in the stream, and each downstream consumer's inbox caught up with it.
    const completions: string[] = [];
    await waitFor(
      async () => {
        completions.length = 0;
        for await (const r of replay(nc, { ns, start: { from: 'beginning' }, types: ['validation.completed'] })) {
          completions.push(r.event.data.requestId);
        }
        return new Set(completions).size >= sent.length;
      },
      { timeoutMs: 60_000, intervalMs: 500, message: `${fault}: every completion in the stream` },
    );
    const all = new Set(sent);
    const delivered = new Set(completions.filter((id) => all.has(id)));
    const duplicates = completions.length - new Set(completions).size;
    const twice = (await runsPer()).filter((r) => Number(r.n) > 1).length;
    const lost = sent.length - delivered.size;
    const deadLettered = (await (await jetstreamManager(nc)).streams.info(ns.deadLetterStream)).state.messages;
    rows.push(
      `${fault.padEnd(40)}${String(sent.length).padStart(6)}${String(delivered.size).padStart(11)}${String(duplicates).padStart(12)}${String(lost).padStart(6)}${String(twice).padStart(15)}${String(deadLettered).padStart(15)}\n`,
    );
    expect({ lost, twice, duplicates }).toEqual({ lost: 0, twice: 0, duplicates: 0 });
    // slo-engine and anomaly: every event of the stream in their inbox once (the key forbids twice).
    const inStream: string[] = [];
    for await (const r of replay(nc, { ns, start: { from: 'beginning' } })) inStream.push(r.event.id);
    for (const consumer of ['slo-engine', 'anomaly']) {
      await waitFor(
        async () => {
          const r = await db.executeQuery<{ n: string }>(
            sql`select count(*) as n from outbox.inbox where consumer = ${consumer}`.compile(db),
          );
          return Number(r.rows[0]!.n) >= new Set(inStream).size;
        },
        { timeoutMs: 60_000, intervalMs: 250, message: `${fault}: ${consumer} to process every event` },
      );
    }
    // A valid event is never dead-lettered because of an outage.
    expect(deadLettered).toBe(0);
  } finally {
    await nc.close();
    await db.destroy();
  }
}

describe('faults during steady traffic through the whole pipeline', () => {
  it('nats-server restarted, then SIGKILLed and started again', async () => {
    const p = await pipeline('natsrestart');
    try {
      const sent = await traffic(p, 150, 25, async () => {
        await nats.restart();
      });
      await outcome(p, 'nats-server restarted (SIGTERM)', sent);
      const sent2 = await traffic(p, 150, 25, async () => {
        await nats.kill('SIGKILL');
        await nats.restart();
      });
      await outcome(p, 'nats-server SIGKILLed and started', [...sent, ...sent2]);
    } finally {
      await p.dispose();
    }
  }, 300_000);

  it('PostgreSQL restarted: the services reconnect by themselves', async () => {
    const p = await pipeline('pgrestart');
    try {
      const sent = await traffic(p, 150, 25, async () => {
        await pg.restart();
      });
      await outcome(p, 'PostgreSQL restarted', sent);
    } finally {
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
            await p.procs.get(s)!.kill('SIGKILL');
            await p.start(s);
          })),
        ];
        await outcome(p, `${s} SIGKILLed and restarted`, sent);
      }
    } finally {
      await p.dispose();
    }
  }, 600_000);
});
