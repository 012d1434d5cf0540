/**
 * pnpm bench:outbox — prints a table; not a test.
 * (a) raw JetStream publish, pipelined, messages/s; (b) the outbox path: 50,000 rows committed,
 * then relayed, rows/s and b/a; (c) commit → consumer receipt latency at a steady 1,000 events/s
 * for 20 s: p50, p99, max. Same machine, same ~512-byte payload.
 */
import { AckPolicy, DeliverPolicy, jetstreamManager } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/nats-core';
import { createEvent, encodeStructured, subjectOf, type VigilEvent } from '@vigil/events';
import { eventsFixture } from '@vigil/events/testing';
import { createOutbox, migrateOutbox, type OutboxDatabase } from '@vigil/outbox';
import { createDb } from '@vigil/service-kit';
import { createTestDatabase, resolveNats, resolvePostgres, ServiceProcess } from '@vigil/testkit';

const N = Number(process.env['BENCH_ROWS'] ?? 50_000);
const RATE = 1000;
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 20);

function event(i: number): VigilEvent {
  // ~512 bytes as structured JSON.
  return createEvent(
    'sli.observed',
    { sli: `latency-${i}`, service: 'checkout-api-'.padEnd(200, 'x'), value: i, threshold: 100, unit: 'ms' },
    { source: 'vigil/bench' },
  );
}

const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;

async function main(): Promise<void> {
  await using nats = await resolveNats();
  await using postgres = await resolvePostgres();
  await using f = await eventsFixture(nats.url, { label: 'bench' });
  const { nc, js, ns, namespaceId: id } = f;
  const jsm = await jetstreamManager(nc);
  await using database = await createTestDatabase(postgres.url, 'bench');
  // The writers' pool has Postgres defaults (durable commits); the relay runs in its own process.
  const { db } = createDb<OutboxDatabase>(database.url, { max: 6 });
  await migrateOutbox(db);
  const outbox = createOutbox({ ns });
  const sample = encodeStructured(event(0)).data.length;
  try {
    // Rates are measured on the stream's own clock: first to last stored message.
    const storedRate = async (): Promise<number> => {
      const info = await jsm.streams.info(ns.stream);
      const first = await jsm.streams.getMessage(ns.stream, { seq: info.state.first_seq });
      const last = await jsm.streams.getMessage(ns.stream, { seq: info.state.last_seq });
      return (info.state.messages - 1) / ((last!.time.getTime() - first!.time.getTime()) / 1000);
    };

    // (a) raw pipelined publishes: bursts of 1000, then await their acks; the best of 3 runs,
    // so that the ratio is not flattered by one slow run.
    const rawSubject = subjectOf(ns, 'sli.observed');
    // The same bytes and the same headers as the relay sends (content type and trace context),
    // the headers built per message as any publisher builds them.
    const payloads = Array.from({ length: N }, (_, i) => encodeStructured(event(i)).data);
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    let rawRate = 0;
    for (let run = 0; run < 3; run++) {
      for (let i = 0; i < N; i += 1000) {
        await Promise.all(
          payloads.slice(i, i + 1000).map((data, j) => {
            const h = natsHeaders();
            h.set('content-type', 'application/cloudevents+json');
            h.set('traceparent', traceparent);
            return js.publish(rawSubject, data, {
              msgID: `raw-${run}-${i + j}`,
              headers: h,
              expect: { streamName: ns.stream },
            });
          }),
        );
      }
      rawRate = Math.max(rawRate, await storedRate());
      await jsm.streams.purge(ns.stream);
    }

    // (b) N rows committed (100 per transaction), then relayed from cold.
    const commitStart = performance.now();
    for (let i = 0; i < N; i += 100) {
      await db.transaction().execute(async (tx) => {
        for (let j = i; j < Math.min(N, i + 100); j++) await outbox.add(tx, event(j));
      });
    }
    const commitRate = N / ((performance.now() - commitStart) / 1000);
    // The relay as it runs in production: its own process, started on the committed backlog.
    const relay = ServiceProcess.start(
      'outbox-relay',
      {
        NATS_URL: nats.url,
        DATABASE_URL: database.url,
        VIGIL_NAMESPACE: id,
        LOG_LEVEL: 'warn',
        ...(process.env['OTEL_SDK_DISABLED'] ? { OTEL_SDK_DISABLED: 'true' } : {}),
      },
      process.env['RELAY_CPU_PROF_DIR'] ? ['--cpu-prof', `--cpu-prof-dir=${process.env['RELAY_CPU_PROF_DIR']}`] : [],
    );
    for (;;) {
      const info = await jsm.streams.info(ns.stream);
      if (info.state.messages >= N) break;
      if (relay.child.exitCode !== null) throw new Error('relay exited');
      await new Promise((r) => setTimeout(r, 20));
    }
    const relayRate = await storedRate();

    // (c) steady 1,000 events/s, one event per transaction; latency from commit to receipt.
    const committedAt = new Map<string, number>();
    const receivedAt = new Map<string, number>();
    await jsm.consumers.add(ns.stream, {
      durable_name: 'latency',
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.New,
    });
    const consumer = await js.consumers.get(ns.stream, 'latency');
    const messages = await consumer.consume({ max_messages: 1000 });
    const total = RATE * SECONDS;
    const received = (async () => {
      for await (const m of messages) {
        receivedAt.set(m.headers?.get('Nats-Msg-Id') ?? '', performance.now());
        if (receivedAt.size >= total) break;
      }
    })();
    // Events are built beforehand: the receiving loop shares this process, and building and
    // validating an event on it would delay the receipts it timestamps.
    const steady = Array.from({ length: total }, (_, i) => event(N + i));
    // Writers keep the schedule: a commit starts when due, not when the previous one ended.
    const start = performance.now();
    const commits: Promise<void>[] = [];
    for (let i = 0; i < total; i++) {
      const due = start + (i * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const e = steady[i] as VigilEvent;
      commits.push(
        db
          .transaction()
          .execute((tx) => outbox.add(tx, e))
          .then(() => void committedAt.set(e.id, performance.now())),
      );
    }
    await Promise.all(commits);
    const achieved = total / ((performance.now() - start) / 1000);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([received, new Promise((r) => (timer = setTimeout(r, 30_000)))]);
    clearTimeout(timer);
    messages.stop();
    await relay.kill('SIGTERM');
    const latencies = [...committedAt].flatMap(([eid, c]) => {
      const at = receivedAt.get(eid);
      return at === undefined ? [] : [at - c];
    });
    latencies.sort((x, y) => x - y);
    const missing = total - latencies.length;

    const rows: [string, string][] = [
      ['payload bytes (structured CloudEvent)', String(sample)],
      ['(a) raw JetStream publish, pipelined (bursts of 1000), best of 3', `${rawRate.toFixed(0)} msg/s`],
      ['    outbox commits, 100 rows per transaction', `${commitRate.toFixed(0)} rows/s`],
      [`(b) outbox relay (own process), ${N} committed rows → JetStream`, `${relayRate.toFixed(0)} rows/s`],
      ['    ratio b/a (target ≥ 0.85)', (relayRate / rawRate).toFixed(2)],
      [`(c) commit → receipt at ${achieved.toFixed(0)} events/s for ${SECONDS} s (${latencies.length} events)`, ''],
      ['    p50 (target ≤ 2 ms)', `${pct(latencies, 50).toFixed(2)} ms`],
      ['    p99 (target ≤ 10 ms)', `${pct(latencies, 99).toFixed(2)} ms`],
      ['    max', `${(latencies[latencies.length - 1] ?? NaN).toFixed(2)} ms`],
      ['    events not received within 30 s (must be 0)', String(missing)],
    ];
    const w = Math.max(...rows.map((r) => r[0].length));
    process.stdout.write(
      `\noutbox benchmark (NATS ${nats.source}, Postgres ${postgres.source}, node ${process.version})\n`,
    );
    for (const [k, v] of rows) process.stdout.write(`${k.padEnd(w)}  ${v}\n`);
  } finally {
    await db.destroy();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:outbox: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
