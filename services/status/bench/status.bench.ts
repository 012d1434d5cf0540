/**
 * pnpm bench:status — prints a table; not a test.
 * 1. Rebuild: the time `startStatus` takes to rebuild the read model from 1,000,000 events of
 *    history (BENCH_EVENTS) with an empty archive, and the heap after it, for two mixes:
 *    "7 days" (20 components in 2 suites run every 5 minutes, 50 SLOs' burn alerts, chaos
 *    experiments, the rest `sli.observed`, which the status service does not read) and "all read"
 *    (every event a `validation.completed` of 10 components).
 * 2. The public page over HTTP with 30 days of history for 20 components and 50 SLOs (an incident
 *    each): p50 and p99 of 1,000 requests, one after another.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { jetstreamManager } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/nats-core';
import {
  createEvent,
  encodeStructured,
  ensureConsumer,
  silentLogger,
  subjectOf,
  type EventDataInput,
  type EventType,
  type VigilEvent,
} from '@vigil/events';
import { eventsFixture, samples, type EventsFixture } from '@vigil/events/testing';
import { createDb } from '@vigil/service-kit';
import { createTestDatabase, resolveNats, resolvePostgres } from '@vigil/testkit';
import { applyEvent, createModel, type Change } from '../src/core/model.js';
import { createLive } from '../src/live.js';
import { statusRoutes } from '../src/http.js';
import { startStatus, STATUS_CONSUMER } from '../src/service.js';
import { migrateStatus, saveChanges, type StatusDatabase } from '../src/store.js';

const EVENTS = Number(process.env['BENCH_EVENTS'] ?? 1_000_000);
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;
const mib = (n: number) => `${(n / 1024 ** 2).toFixed(0)} MiB`;

function run(suite: string, i: number, n: number): EventDataInput<'validation.completed'> {
  const components = Array.from({ length: n }, (_, c) => {
    const status: 'PASS' | 'WARN' | 'FAIL' = (i + c) % 97 === 0 ? 'FAIL' : (i + c) % 31 === 0 ? 'WARN' : 'PASS';
    const score = status === 'FAIL' ? 3 : status === 'WARN' ? 6.5 : 9.5;
    return { name: `component-${c}`, weight: 1 / n, score, status, checks: [] };
  });
  return { ...samples['validation.completed'], runId: `run-${i}`, suite, score: 9, status: 'PASS', components };
}

function encode<T extends EventType>(type: T, data: EventDataInput<T>) {
  const e = createEvent(type, data, { source: 'vigil/bench' }) as VigilEvent;
  const { data: bytes, headers } = encodeStructured(e);
  // Without the dedupe id: each template is stored many times.
  const h = natsHeaders();
  for (const [k, v] of headers ?? []) if (k !== 'Nats-Msg-Id') for (const x of v) h.append(k, x);
  return { subject: type, data: bytes, headers: h };
}

/** Publishes `n` events drawn from `pick(i)` over core NATS (the stream stores them), then waits for all. */
async function fill(f: EventsFixture, n: number, pick: (i: number) => ReturnType<typeof encode>): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    const m = pick(i);
    f.nc.publish(subjectOf(f.ns, m.subject), m.data, { headers: m.headers });
    if (i % 5000 === 4999) await f.nc.flush();
  }
  await f.nc.flush();
  const jsm = await jetstreamManager(f.nc);
  for (;;) {
    const info = await jsm.streams.info(f.ns.stream);
    if (info.state.messages >= n) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  return (performance.now() - started) / 1000;
}

async function rebuild(
  natsUrl: string,
  postgresUrl: string,
  label: string,
  pick: (i: number) => ReturnType<typeof encode>,
): Promise<{ fillSeconds: number; ms: number; replayed: number; heap: number; components: number }> {
  await using f = await eventsFixture(natsUrl, { label, maxBytes: 4 * 1024 ** 3 });
  await using database = await createTestDatabase(postgresUrl, 'statusbench');
  const { db } = createDb<StatusDatabase>(database.url, { max: 4 });
  try {
    await migrateStatus(db);
    const fillSeconds = await fill(f, EVENTS, pick);
    await ensureConsumer(f.nc, STATUS_CONSUMER, f.ns);
    globalThis.gc?.();
    const s = await startStatus({ nc: f.nc, js: f.js, db, ns: f.ns, logger: silentLogger, clock: () => new Date() });
    await s.stop();
    globalThis.gc?.();
    const heap = process.memoryUsage().heapUsed;
    return { fillSeconds, ms: s.rebuild.ms, replayed: s.rebuild.replayed, heap, components: s.model.components.size };
  } finally {
    await db.destroy();
  }
}

/**
 * The page as the service serves it: 30 days of history go into the archive, and a real status
 * service (empty stream) loads it at start, as after a week without those components' events.
 */
async function pageLatency(natsUrl: string, postgresUrl: string): Promise<{ p50: number; p99: number; bytes: number }> {
  await using f = await eventsFixture(natsUrl, { label: 'statuspage' });
  await using database = await createTestDatabase(postgresUrl, 'statusbench');
  const { db } = createDb<StatusDatabase>(database.url, { max: 4 });
  const now = Date.now();
  const model = createModel();
  const changes: Change[] = [];
  let seq = 0;
  const apply = (event: VigilEvent, at: number) =>
    changes.push(...applyEvent(model, { event, seq: ++seq, storedAt: new Date(at) }));
  // 30 days, a run of each suite every 5 minutes: 20 components with a status per day.
  for (let t = now - 30 * 86_400_000; t <= now; t += 300_000) {
    for (const suite of ['web', 'platform']) {
      apply(createEvent('validation.completed', run(suite, seq, 10), { source: 'vigil/bench' }), t);
    }
  }
  // 50 SLOs, an incident each: 5 firing, 45 resolved.
  for (let i = 0; i < 50; i++) {
    const since = new Date(now - (i + 1) * 3_600_000).toISOString();
    const burn = { ...samples['slo.burn'], slo: `slo-${i}`, since };
    apply(createEvent('slo.burn', burn, { source: 'vigil/bench' }), now);
    if (i >= 5) {
      const resolved = { ...burn, state: 'resolved' as const, resolvedAt: new Date(now).toISOString() };
      apply(createEvent('slo.burn', resolved, { source: 'vigil/bench' }), now);
    }
  }
  try {
    await migrateStatus(db);
    await saveChanges(db, changes);
    await ensureConsumer(f.nc, STATUS_CONSUMER, f.ns);
    const status = await startStatus({
      nc: f.nc,
      js: f.js,
      db,
      ns: f.ns,
      logger: silentLogger,
      clock: () => new Date(),
    });
    const live = createLive(status);
    const routes = statusRoutes(status, live, {
      title: 'bench',
      sloEngineUrl: 'http://127.0.0.1:9',
      anomalyUrl: 'http://127.0.0.1:9',
      jaegerUrl: 'http://127.0.0.1:16686',
    });
    const server = createServer((req, res) => {
      void routes(req, res).then((handled) => {
        if (!handled) res.writeHead(404).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const times: number[] = [];
    let bytes = 0;
    let last = '';
    try {
      for (let i = 0; i < 1100; i++) {
        const t = performance.now();
        const body = await (await fetch(url)).text();
        if (i >= 100) times.push(performance.now() - t); // the first 100 warm up
        bytes = body.length;
        last = body;
      }
    } finally {
      live.close();
      server.close();
      await status.stop();
    }
    // The page measured is the full one: every component's bar and every incident.
    if ((last.match(/class="bar"/g) ?? []).length !== 20 || !last.includes('slo-49')) {
      throw new Error('the page measured does not show the 20 components and 50 incidents');
    }
    return { p50: pct(times, 50), p99: pct(times, 99), bytes };
  } finally {
    await db.destroy();
  }
}

async function main(): Promise<void> {
  await using nats = await resolveNats();
  await using postgres = await resolvePostgres();
  const start = Date.now() - 7 * 86_400_000;
  const at = (i: number) => new Date(start + Math.floor((i / EVENTS) * 7 * 86_400_000));

  // Templates: encoding a million events would measure the encoder. Each is decoded in full.
  const runs = Array.from({ length: 50 }, (_, i) =>
    encode('validation.completed', run(i % 2 ? 'web' : 'platform', i, 10)),
  );
  const slis = Array.from({ length: 50 }, (_, i) =>
    encode('sli.observed', { ...samples['sli.observed'], sli: `sli-${i}` }),
  );
  const burns = Array.from({ length: 50 }, (_, i) =>
    encode('slo.burn', { ...samples['slo.burn'], slo: `slo-${i}`, since: at(i).toISOString() }),
  );
  const chaos = [
    encode('chaos.started', samples['chaos.started']),
    encode('chaos.completed', samples['chaos.completed']),
  ];
  // 7 days: 2 suites every 5 minutes = 4,032 runs; 50 SLOs' alerts (200); 100 experiments.
  const sevenDays = (i: number) => {
    const r = i % 250;
    if (r === 0) return runs[(i / 250) % runs.length]!;
    if (i % 5000 === 1) return burns[i % burns.length]!;
    if (i % 10000 === 2) return chaos[i % 2]!;
    return slis[i % slis.length]!;
  };
  const allRead = (i: number) => runs[i % runs.length]!;

  const mix = await rebuild(nats.url, postgres.url, 'statusmix', sevenDays);
  const all = await rebuild(nats.url, postgres.url, 'statusall', allRead);
  const page = await pageLatency(nats.url, postgres.url);

  const rows: [string, string][] = [
    [
      `rebuild, 7-day mix (${EVENTS} events, ${mix.replayed} read by the status service)`,
      `${(mix.ms / 1000).toFixed(2)} s`,
    ],
    ['    heap after (target: bounded)', `${mib(mix.heap)}, ${mix.components} components`],
    [`rebuild, every event read (${EVENTS} validation.completed of 10 components)`, `${(all.ms / 1000).toFixed(2)} s`],
    ['    heap after (target: bounded)', `${mib(all.heap)}, ${all.components} components`],
    ['    (filling the stream took)', `${mix.fillSeconds.toFixed(1)} s, ${all.fillSeconds.toFixed(1)} s`],
    ['public page over HTTP, 30 days × 20 components, 50 SLOs: p50', `${page.p50.toFixed(2)} ms`],
    ['    p99 (target < 50 ms)', `${page.p99.toFixed(2)} ms (${(page.bytes / 1024).toFixed(0)} KiB)`],
  ];
  const width = Math.max(...rows.map((r) => r[0].length));
  process.stdout.write(`\nstatus benchmark (node ${process.version})\n`);
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(width)}  ${v}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
