import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { NatsCluster, waitFor, type ServiceProcess } from '@vigil/testkit';
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
 * For users who outgrow one instance: a 3-node NATS cluster with R3 streams and two instances of
 * every service side by side. Work is shared, nothing is processed twice, the relay's standby
 * stays idle until the leader dies, and the loss of a NATS node stops nothing.
 */
const SERVICES: readonly Service[] = ['outbox-relay', 'validator', 'slo-engine', 'anomaly', 'chaos'];

let cluster: NatsCluster;
let p: Pipeline;
const rows: string[] = [];
/** Every request sent so far: the checks count across the tests, which share one pipeline. */
const sentSoFar: string[] = [];
const shares: string[] = [];

beforeAll(async () => {
  cluster = await NatsCluster.start(3);
  p = await startPipeline({
    label: 'cluster',
    natsUrls: cluster.urls,
    postgresUrl: inject('databaseUrl'),
    services: SERVICES,
    instances: 2,
    env: { VIGIL_REPLICAS: '3' },
  });
}, 240_000);

afterAll(async () => {
  process.stdout.write(
    `\n3-node NATS cluster, R3 streams, two instances of every service\n${outcomeHeader}${rows.join('')}\nwork per instance (messages processed, events published)\n${shares.join('')}`,
  );
  await p?.dispose();
  await cluster?.stop();
});

const processed = async (proc: ServiceProcess, consumer: string) =>
  (await scrape(proc)).get(`vigil_consumer_messages_total{consumer="${consumer}",outcome="processed"}`) ?? 0;
const relayState = async (proc: ServiceProcess) => {
  const m = await scrape(proc);
  return { leader: m.get('vigil_outbox_relay_leader') ?? 0, published: m.get('vigil_outbox_published_total') ?? 0 };
};

describe('two instances of every service on a 3-node cluster', () => {
  it('the streams have three replicas', async () => {
    const nc = await connect({ servers: cluster.urls });
    try {
      const info = await (await jetstreamManager(nc)).streams.info(p.ns.stream);
      expect(info.config.num_replicas).toBe(3);
      expect(info.cluster?.replicas?.length).toBe(2);
    } finally {
      await nc.close();
    }
  });

  it('under load the work is shared, nothing is processed twice, and the relay standby stays idle', async () => {
    sentSoFar.push(...(await traffic(p, 300, 50)));
    await outcome(p, 'steady load, 50 requests/s', sentSoFar, rows);
    for (const [service, consumer] of [
      ['validator', 'validator'],
      ['slo-engine', 'slo-engine'],
      ['anomaly', 'anomaly'],
      ['chaos', 'chaos-validations'],
    ] as const) {
      const counts = await Promise.all(p.procs.get(service)!.map((proc) => processed(proc, consumer)));
      shares.push(`${service.padEnd(14)}${counts.map((c) => String(c).padStart(8)).join('')}\n`);
      for (const c of counts) expect(c, `${service}: each instance takes a share`).toBeGreaterThan(0);
    }
    const relays = await Promise.all(p.procs.get('outbox-relay')!.map(relayState));
    shares.push(`${'outbox-relay'.padEnd(14)}${relays.map((r) => String(r.published).padStart(8)).join('')}\n`);
    expect(relays.map((r) => r.leader).sort()).toEqual([0, 1]);
    expect(relays.find((r) => r.leader === 0)!.published).toBe(0);
  }, 300_000);

  it('one NATS node SIGKILLed during traffic: publishing and consuming go on, nothing lost', async () => {
    const victim = cluster.servers[1]!;
    try {
      sentSoFar.push(
        ...(await traffic(p, 300, 50, async () => {
          await victim.kill('SIGKILL');
        })),
      );
      await outcome(p, 'one of three NATS nodes SIGKILLed', sentSoFar, rows);
    } finally {
      // The next test needs the whole cluster, whatever happened here.
      await victim.restart();
    }
  }, 300_000);

  it('the relay leader SIGKILLed: the standby takes over, nothing lost or doubled', async () => {
    const relays = p.procs.get('outbox-relay')!;
    const states = await Promise.all(relays.map(relayState));
    const leader = relays[states.findIndex((s) => s.leader === 1)]!;
    const standby = relays.find((r) => r !== leader)!;
    sentSoFar.push(
      ...(await traffic(p, 200, 50, async () => {
        await leader.kill('SIGKILL');
      })),
    );
    await outcome(p, 'relay leader SIGKILLed, standby takes over', sentSoFar, rows);
    await waitFor(async () => (await relayState(standby)).leader === 1, {
      timeoutMs: 30_000,
      message: 'the standby to lead',
    });
    expect((await relayState(standby)).published).toBeGreaterThan(0);
  }, 300_000);
});
