/**
 * pnpm bench:slo — prints a table; not a test.
 * 1. Events per second ingested (counted into minute buckets, once per event, as main.ts wires the
 *    consumer) with 50 SLOs configured, and the time of one evaluation of all 50.
 * 2. The time to evaluate every window of one SLO over a full 30-day history (43 200 minutes).
 */
import { sql } from 'kysely';
import { createEvent, encodeStructured, ensureConsumer, silentLogger, subjectOf } from '@vigil/events';
import { eventsFixture } from '@vigil/events/testing';
import { migrateOutbox } from '@vigil/outbox';
import { Registry } from 'prom-client';
import { createDb, startHttpServer } from '@vigil/service-kit';
import { createTestDatabase, resolveNats, resolvePostgres } from '@vigil/testkit';
import { parseSlo, type SloConfig } from '../src/config/slo.js';
import { readSlo, windowsOf } from '../src/core/burn.js';
import { MINUTE_MS } from '../src/core/sli.js';
import { slosRoutes } from '../src/http.js';
import { evaluateAt, SLO_CONSUMER, startIngest, type SloEngineDeps } from '../src/service.js';
import { sliEventsCounter } from '../src/metrics.js';
import { migrateSlo, sloConnectionSettings, windowCounts, type SloDatabase } from '../src/store.js';

const EVENTS = Number(process.env['BENCH_EVENTS'] ?? 20_000);
/** The service's default (64) unless BENCH_CONCURRENCY says otherwise. */
const CONCURRENCY = Number(process.env['BENCH_CONCURRENCY'] ?? 64);
const ROUNDS = 30;
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;
const ms = (x: number) => `${x.toFixed(1)} ms`;

async function main(): Promise<void> {
  await using nats = await resolveNats();
  await using postgres = await resolvePostgres();
  await using f = await eventsFixture(nats.url, { label: 'slobench' });
  await ensureConsumer(f.nc, SLO_CONSUMER, f.ns);
  await using database = await createTestDatabase(postgres.url, 'slobench');
  const { db } = createDb<SloDatabase>(database.url, { max: 8, settings: sloConnectionSettings });
  await migrateOutbox(db);
  await migrateSlo(db);

  // 50 SLOs: 40 fed by sli.observed (10 names × 4 objectives), 10 by each check of validation.completed.
  const slos = new Map<string, SloConfig>();
  for (let i = 0; i < 40; i++) {
    const s = parseSlo(
      `name: observed-${i}\nservice: bench\nobjective: ${[99, 99.5, 99.9, 99.95][i % 4]}\nsli: { observed: { sli: sli-${i % 10} } }\n`,
      `observed-${i}.yaml`,
    );
    slos.set(s.name, s);
  }
  for (let i = 0; i < 10; i++) {
    const s = parseSlo(
      `name: checks-${i}\nservice: bench\nobjective: 99.9\nsli: { events: { type: validation.completed, each: check, where: { component: c${i % 2} }, good: { status: [PASS, WARN] } } }\n`,
      `checks-${i}.yaml`,
    );
    slos.set(s.name, s);
  }
  const deps: SloEngineDeps = {
    db,
    js: f.js,
    ns: f.ns,
    slos,
    logger: silentLogger,
    // The counter main.ts feeds after each commit, fed the same way here.
    onCounted: sliEventsCounter(undefined, slos.keys()),
  };

  // Ingest: the stream holds every event before the consumer starts, so the figure is the
  // consumer's rate, not the publisher's. Events spread over the last 10 hours.
  const now = Date.now();
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < EVENTS; i++) {
    const at = new Date(now - (i % 600) * MINUTE_MS).toISOString();
    const event =
      i % 5 === 4
        ? createEvent(
            'validation.completed',
            {
              requestId: '7d0b1a52-5d35-4a8f-9c1b-7c3f0f6e0a11',
              runId: `r${i}`,
              suite: 's',
              startedAt: at,
              completedAt: at,
              durationMs: 3,
              score: 10,
              status: 'PASS',
              components: [0, 1].map((c) => ({
                name: `c${c}`,
                weight: 1,
                score: 10,
                status: 'PASS' as const,
                checks: [{ name: 'x', kind: 'tcp', status: 'PASS' as const, durationMs: 1 }],
              })),
            },
            { source: 'bench', time: at },
          )
        : createEvent(
            'sli.observed',
            { sli: `sli-${i % 10}`, service: 'bench', good: 99, total: 100, observedAt: at },
            { source: 'bench' },
          );
    const { data, headers } = encodeStructured(event);
    pending.push(f.js.publish(subjectOf(f.ns, event.type), data, { headers, msgID: event.id }));
    if (pending.length >= 500) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);

  const t0 = performance.now();
  const consumer = await startIngest(deps, { concurrency: CONCURRENCY });
  while (consumer.stats.processed < EVENTS) await new Promise((r) => setTimeout(r, 20));
  const ingestMs = performance.now() - t0;
  await consumer.stop();
  const buckets = await sql<{ n: string }>`select count(*) as n from slo.buckets`.execute(db);

  const evalTimes: number[] = [];
  for (let r = 0; r < 10; r++) {
    const start = performance.now();
    await evaluateAt(deps, new Date(Math.floor(now / MINUTE_MS) * MINUTE_MS + (r + 1) * MINUTE_MS));
    evalTimes.push(performance.now() - start);
  }

  // One SLO over a full 30-day history: a bucket for each of its 43 200 minutes.
  const full = parseSlo('name: full\nservice: bench\nobjective: 99.9\nsli: { observed: { sli: full } }\n', 'full.yaml');
  const end = new Date(Math.floor(now / MINUTE_MS) * MINUTE_MS);
  await sql`
    insert into slo.buckets (slo, minute, good, total)
    select 'full', ${end}::timestamptz - (i * interval '1 minute'), 994 + (i % 7), 1000
    from generate_series(1, 43200) as i`.execute(db);
  await sql`analyze slo.buckets`.execute(db);
  const oneTimes: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const start = performance.now();
    const counts = await windowCounts(db, 'full', windowsOf(full), end);
    readSlo(full, (w) => counts.get(w) ?? { good: 0, total: 0 });
    oneTimes.push(performance.now() - start);
  }

  // 3. History: 50 SLOs with 60 days of minute buckets each (30 days of points, each reading the
  // 30-day window before it), served over HTTP as the dashboard asks: window=30d, the default step.
  const histories = new Map<string, SloConfig>();
  for (let i = 0; i < 50; i++) {
    const h = parseSlo(
      `name: hist-${i}\nservice: bench\nobjective: 99.9\nsli: { observed: { sli: hist-${i} } }\n`,
      'h.yaml',
    );
    histories.set(h.name, h);
  }
  const fillStart = performance.now();
  await sql`
    insert into slo.buckets (slo, minute, good, total)
    select 'hist-' || s, ${end}::timestamptz - (i * interval '1 minute'), 995 + ((i + s) % 6), 1000
    from generate_series(0, 49) as s, generate_series(1, 86400) as i
    order by i desc, s`.execute(db); // minute by minute, as the ingest writes them: an SLO's rows are spread
  // Sixty days of rows are long vacuumed in a running system (autovacuum): hint bits and the
  // visibility map set, as a fresh bulk load has not.
  await sql`vacuum analyze slo.buckets`.execute(db);
  const fillSeconds = (performance.now() - fillStart) / 1000;
  const http = await startHttpServer({
    port: 0,
    metrics: new Registry(),
    routes: slosRoutes({ ...deps, slos: histories }),
    ready: async () => ({}),
  });
  const historyTimes: number[] = [];
  let points = 0;
  try {
    for (let r = 0; r < 220; r++) {
      const start = performance.now();
      const body = (await (
        await fetch(`http://127.0.0.1:${http.port}/slos/hist-${r % 50}/history?window=30d`)
      ).json()) as {
        times: number[];
      };
      if (r >= 20) historyTimes.push(performance.now() - start);
      points = body.times.length;
    }
  } finally {
    await http.close();
  }

  const rows: [string, string][] = [
    ['SLOs configured', `${slos.size} (40 on sli.observed, 10 on each check of validation.completed)`],
    [`events ingested (${CONCURRENCY} at once)`, `${EVENTS} in ${(ingestMs / 1000).toFixed(2)} s`],
    ['  ingest rate', `${Math.round(EVENTS / (ingestMs / 1000))} events/s`],
    ['  minute buckets written', buckets.rows[0]!.n],
    ['evaluate all 50 SLOs (one minute)', `p50 ${ms(pct(evalTimes, 50))}, max ${ms(Math.max(...evalTimes))}`],
    [
      `one SLO, 30-day history (43 200 buckets), ${windowsOf(full).length} windows`,
      `p50 ${ms(pct(oneTimes, 50))}, p99 ${ms(pct(oneTimes, 99))}`,
    ],
    [
      `history of 30 days (${points} points), 50 SLOs, over HTTP`,
      `p50 ${ms(pct(historyTimes, 50))}, p99 ${ms(pct(historyTimes, 99))} (target p99 < 100 ms)`,
    ],
    ['  (60 days of minute buckets for 50 SLOs written in)', `${fillSeconds.toFixed(1)} s`],
  ];
  process.stdout.write(
    `slo-engine benchmark (NATS ${nats.source}, Postgres ${postgres.source}, node ${process.version})\n`,
  );
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(58)} ${v}\n`);
  await db.destroy();
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
