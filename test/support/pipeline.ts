import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { createEvent, encodeStructured, namespaceFor, replay, subjectOf, type Namespace } from '@vigil/events';
import { createDb } from '@vigil/service-kit';
import { createTestDatabase, ServiceProcess, waitFor } from '@vigil/testkit';

/**
 * The pipeline the fault, scale and load tests drive, with real processes: validation.requested
 * → validator (runs the suite, writes run + outbox) → relay → stream → slo-engine, anomaly (and
 * chaos, which reads validation.completed).
 */
export type Service = 'outbox-relay' | 'validator' | 'slo-engine' | 'anomaly' | 'chaos';

export interface PipelineOptions {
  readonly label: string;
  /** nats-server client URLs (several for a cluster). */
  readonly natsUrls: readonly string[];
  /** A PostgreSQL server URL; the pipeline makes a database of its own on it. */
  readonly postgresUrl: string;
  /** Services to start, the relay first (it makes the streams). */
  readonly services: readonly Service[];
  /** Instances of each service. @default 1 */
  readonly instances?: number;
  /** More environment for every service. */
  readonly env?: Record<string, string>;
  /** Options for node before the service's entry (e.g. --cpu-prof). */
  readonly nodeArgs?: readonly string[];
}

export interface Pipeline {
  readonly nsId: string;
  readonly ns: Namespace;
  readonly databaseUrl: string;
  readonly natsUrls: readonly string[];
  /** The running instances of each service, in start order. */
  readonly procs: Map<Service, ServiceProcess[]>;
  /** A query on the pipeline's database. */
  query<R>(text: string, params?: readonly unknown[]): Promise<R[]>;
  /** Starts one more instance of `name` and waits for it to be up. */
  start(name: Service): Promise<ServiceProcess>;
  dispose(): Promise<void>;
}

export async function startPipeline(o: PipelineOptions): Promise<Pipeline> {
  const database = await createTestDatabase(o.postgresUrl, o.label);
  const dir = await mkdtemp(join(tmpdir(), `vigil-${o.label}-`));
  await mkdir(join(dir, 'suites'));
  const bus = new URL(o.natsUrls[0]!);
  // One quick check (a TCP connect to NATS; one to PostgreSQL would fork a backend each time):
  // the run's work is the pipeline, not the check.
  await writeFile(
    join(dir, 'suites', 'pipeline.yaml'),
    `name: pipeline
components:
  - name: bus
    weight: 1
    checks: [{ name: nats port, kind: tcp, params: { host: ${bus.hostname}, port: ${bus.port || '4222'} } }]
`,
  );
  const nsId = `${o.label}${Date.now().toString(36)}`.slice(0, 32);
  const procs = new Map<Service, ServiceProcess[]>();
  const env = {
    NATS_URL: o.natsUrls.join(','),
    DATABASE_URL: database.url,
    VIGIL_NAMESPACE: nsId,
    VALIDATOR_SUITES_DIR: join(dir, 'suites'),
    VALIDATOR_SCHEDULE: 'false',
    CHAOS_SCHEDULE: 'false',
    // Load and fault harnesses: their generators are one requester by design, at hundreds a
    // second. The validator's rate limit has tests of its own.
    VALIDATOR_RATE_LIMIT: '0',
    LOG_LEVEL: 'info',
    ...(process.env['DOCKER_HOST'] ? { DOCKER_HOST: process.env['DOCKER_HOST'] } : {}),
    ...o.env,
  };
  // Chaos reads budgets from the pipeline's own slo-engine, never from a stack on the default port.
  let sloUrl = 'http://127.0.0.1:1';
  const start = async (name: Service) => {
    const p = ServiceProcess.start(name, name === 'chaos' ? { ...env, CHAOS_SLO_URL: sloUrl } : env, o.nodeArgs);
    procs.set(name, [...(procs.get(name) ?? []), p]);
    const { port } = await p.waitReady(60_000);
    if (name === 'slo-engine') sloUrl = `http://127.0.0.1:${port}`;
    return p;
  };
  for (const s of o.services) for (let i = 0; i < (o.instances ?? 1); i++) await start(s);
  const own = createDb<Record<string, never>>(database.url, { max: 2 });
  return {
    async query<R>(text: string, params: readonly unknown[] = []) {
      return (await own.pool.query(text, [...params])).rows as R[];
    },
    nsId,
    ns: namespaceFor(nsId),
    databaseUrl: database.url,
    natsUrls: o.natsUrls,
    procs,
    start,
    async dispose() {
      for (const list of procs.values()) for (const p of list) await p.kill('SIGTERM');
      // The namespace's streams go too: on a long-lived nats-server (the machine's own) every
      // run would otherwise leave its events on disk. A server the test already stopped is skipped.
      const nc = await connect({ servers: [...o.natsUrls], reconnect: false, timeout: 2_000 }).catch(() => undefined);
      if (nc !== undefined) {
        const jsm = await jetstreamManager(nc);
        const ns = namespaceFor(nsId);
        for (const s of [ns.stream, ns.deadLetterStream]) await jsm.streams.delete(s).catch(() => undefined);
        await nc.close();
      }
      await own.db.destroy();
      await database[Symbol.asyncDispose]();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The port of a service instance's /metrics (ServiceProcess.port), which a started instance has. */
export function portOf(p: ServiceProcess): number {
  const port = p.port;
  if (port === undefined) throw new Error(`${p.name} has not logged its port`);
  return port;
}

/** One instance's /metrics as `name{labels}` → value. */
export async function scrape(p: ServiceProcess): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${portOf(p)}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/**
 * Publishes `count` validation.requested at `perSecond`, each retried with its own id until the
 * stream acknowledges it (a retry inside the duplicate window is stored once); `fault` runs in the
 * background once a third has been sent. Returns the ids and each publish's latency to its ack.
 */
export async function traffic(
  p: Pipeline,
  count: number,
  perSecond: number,
  fault: () => Promise<void> = async () => undefined,
): Promise<string[]> {
  const nc = await connect({ servers: [...p.natsUrls], maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  const js = jetstream(nc);
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
      { suite: 'pipeline', requestedBy: 'traffic' },
      { source: 'vigil/test' },
    );
    ids.push(event.id);
    const { data, headers } = encodeStructured(event);
    sends.push(
      (async () => {
        for (;;) {
          try {
            await js.publish(subjectOf(p.ns, 'validation.requested'), data, {
              headers,
              msgID: event.id,
              timeout: 2000,
            });
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

export interface Outcome {
  readonly sent: number;
  readonly delivered: number;
  readonly duplicates: number;
  readonly lost: number;
  readonly appliedTwice: number;
  readonly deadLettered: number;
}

export const outcomeHeader = `${'fault'.padEnd(44)}${'sent'.padStart(6)}${'delivered'.padStart(11)}${'duplicates'.padStart(12)}${'lost'.padStart(6)}${'applied twice'.padStart(15)}${'dead-lettered'.padStart(15)}\n`;

export function outcomeRow(fault: string, o: Outcome): string {
  return `${fault.padEnd(44)}${String(o.sent).padStart(6)}${String(o.delivered).padStart(11)}${String(o.duplicates).padStart(12)}${String(o.lost).padStart(6)}${String(o.appliedTwice).padStart(15)}${String(o.deadLettered).padStart(15)}\n`;
}

/**
 * Waits until every request has its run and its completion in the stream, and the slo-engine and
 * anomaly inboxes have every event of the stream; then counts, and expects nothing lost,
 * duplicated, applied twice or dead-lettered.
 */
export async function outcome(p: Pipeline, fault: string, sent: readonly string[], rows: string[]): Promise<Outcome> {
  const nc: NatsConnection = await connect({ servers: [...p.natsUrls], maxReconnectAttempts: -1 });
  try {
    const runsPer = async () => {
      return p.query<{ request_id: string; n: string }>(
        'select request_id, count(*) as n from validator.runs group by request_id',
      );
    };
    // A service that crashed (not one the test killed: that one has no exit code) ends the wait.
    const crashed = () => [...p.procs.values()].flat().find((x) => x.child.exitCode !== null && x.child.exitCode !== 0);
    await waitFor(async () => crashed() !== undefined || (await runsPer()).length >= sent.length, {
      timeoutMs: 120_000,
      intervalMs: 250,
      message: `${fault}: a run for each of ${sent.length} requests`,
    });
    const crash = crashed();
    if (crash) throw new Error(`${fault}: ${crash.name} crashed (exit ${crash.child.exitCode}): ${crash.stderrText}`);
    const completions: string[] = [];
    await waitFor(
      async () => {
        completions.length = 0;
        for await (const r of replay(nc, { ns: p.ns, start: { from: 'beginning' }, types: ['validation.completed'] })) {
          completions.push(r.event.data.requestId);
        }
        return new Set(completions).size >= sent.length;
      },
      { timeoutMs: 60_000, intervalMs: 500, message: `${fault}: every completion in the stream` },
    );
    const all = new Set(sent);
    const inStream: string[] = [];
    for await (const r of replay(nc, { ns: p.ns, start: { from: 'beginning' } })) inStream.push(r.event.id);
    // The anomaly service applies every event (it counts them per type); the slo-engine those that
    // feed an SLO (the completions).
    const expected = { anomaly: new Set(inStream).size, 'slo-engine': new Set(completions).size };
    const jsm = await jetstreamManager(nc);
    for (const consumer of (['slo-engine', 'anomaly'] as const).filter((c) => p.procs.has(c))) {
      await withLogsOnFailure(p.procs.get(consumer) ?? [], () =>
        waitFor(
          async () => {
            const info = await jsm.consumers.info(p.ns.stream, consumer);
            const [r] = await p.query<{ n: string }>('select count(*) as n from outbox.inbox where consumer = $1', [
              consumer,
            ]);
            if (info.num_pending === 0 && info.num_ack_pending === 0 && Number(r!.n) >= expected[consumer]) return true;
            // Thrown, not returned: a timeout then says what was still missing.
            throw new Error(
              `${info.num_pending} pending, ${info.num_ack_pending} awaiting an ack, ${info.num_redelivered} redelivered, ` +
                `${r!.n} of ${expected[consumer]} in its inbox`,
            );
          },
          { timeoutMs: 60_000, intervalMs: 250, message: `${fault}: ${consumer} to process every event` },
        ),
      );
    }
    // Right after a node of a cluster died, the dead-letter stream may still be electing its
    // leader: its info request is retried until it answers (the count itself is not relaxed).
    const { messages: deadLettered } = await waitFor(
      async () => (await (await jetstreamManager(nc)).streams.info(p.ns.deadLetterStream)).state,
      { timeoutMs: 60_000, intervalMs: 500, message: `${fault}: the dead-letter stream to answer` },
    );
    const o: Outcome = {
      sent: sent.length,
      delivered: new Set(completions.filter((id) => all.has(id))).size,
      duplicates: completions.length - new Set(completions).size,
      lost: sent.length - new Set(completions.filter((id) => all.has(id))).size,
      appliedTwice: (await runsPer()).filter((r) => Number(r.n) > 1).length,
      deadLettered,
    };
    rows.push(outcomeRow(fault, o));
    // A valid event is never lost, doubled, or dead-lettered because of a fault.
    if (o.lost + o.appliedTwice + o.duplicates + o.deadLettered > 0) {
      throw new Error(
        `${fault}: ${o.lost} lost, ${o.appliedTwice} applied twice, ${o.duplicates} duplicates, ${o.deadLettered} dead-lettered`,
      );
    }
    return o;
  } finally {
    await nc.close();
  }
}

/** Runs `wait`; when it fails, the warnings and errors the instances logged are added to its error. */
async function withLogsOnFailure<T>(instances: readonly ServiceProcess[], wait: () => Promise<T>): Promise<T> {
  try {
    return await wait();
  } catch (e) {
    const lines = instances.flatMap((i) =>
      i.logs
        .filter((l) => l.level >= 40)
        .slice(-15)
        .map((l) => `${i.name}: ${JSON.stringify(l)}`),
    );
    if (e instanceof Error && lines.length > 0) e.message += `\nwarnings and errors logged:\n${lines.join('\n')}`;
    throw e;
  }
}
