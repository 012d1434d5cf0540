/**
 * pnpm bench:validator — prints a table; not a test.
 * Requests per second the validator sustains for a suite of 10 cheap checks, and p50/p99 latency
 * from publishing validation.requested to receiving validation.completed at a steady 50 requests/s.
 * The validator runs in this process (as main.ts wires it), the relay in its own process.
 */
import { connectDocker } from '@vigil/docker';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstream } from '@nats-io/jetstream';
import { createPublisher, ensureConsumer, silentLogger, subscribe } from '@vigil/events';
import { eventsFixture } from '@vigil/events/testing';
import { migrateOutbox } from '@vigil/outbox';
import { createDb } from '@vigil/service-kit';
import { createTestDatabase, resolveNats, resolvePostgres, ServiceProcess } from '@vigil/testkit';
import { parseSuite } from '../src/config/suite.js';
import { startValidator, VALIDATOR_CONSUMER } from '../src/service.js';
import { migrateValidator, type ValidatorDatabase } from '../src/store.js';

const here = dirname(fileURLToPath(import.meta.url));
const BURST = Number(process.env['BENCH_BURST'] ?? 500);
const RATE = 50;
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 20);
const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;

async function main(): Promise<void> {
  await using nats = await resolveNats();
  await using postgres = await resolvePostgres();
  await using f = await eventsFixture(nats.url, { label: 'vbench' });
  const { nc, ns, namespaceId: id } = f;
  await ensureConsumer(nc, VALIDATOR_CONSUMER, ns);
  await using database = await createTestDatabase(postgres.url, 'vbench');
  const { db } = createDb<ValidatorDatabase>(database.url, { max: 8 });
  await migrateOutbox(db);
  await migrateValidator(db);
  const web = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
  const webPort = (web.address() as { port: number }).port;
  const natsPort = new URL(nats.url).port || '4222';
  const suite = parseSuite(
    `name: cheap
components:
  - name: network
    weight: 1
    checks:
      - { name: nats port 1, kind: tcp, params: { host: 127.0.0.1, port: ${natsPort} } }
      - { name: nats port 2, kind: tcp, params: { host: 127.0.0.1, port: ${natsPort} } }
      - { name: nats port 3, kind: tcp, params: { host: 127.0.0.1, port: ${natsPort} } }
      - { name: web 1, kind: http, params: { url: "http://127.0.0.1:${webPort}/" } }
      - { name: web 2, kind: http, params: { url: "http://127.0.0.1:${webPort}/a" } }
  - name: host
    weight: 1
    checks:
      - { name: memory, kind: host, params: { maxMemoryPercent: 100 } }
      - { name: disk, kind: host, params: { disk: { path: /, maxPercent: 100 } } }
      - { name: package.json, kind: file, params: { path: package.json } }
      - { name: sources, kind: file, params: { glob: "src/core/*.ts" } }
      - { name: suites, kind: file, params: { path: ../../config/suites/vigil-self.yaml } }
`,
    'cheap.yaml',
  );
  const relay = ServiceProcess.start('outbox-relay', {
    NATS_URL: nats.url,
    DATABASE_URL: database.url,
    VIGIL_NAMESPACE: id,
    LOG_LEVEL: 'warn',
  });
  const consumer = await startValidator(
    {
      db,
      js: jetstream(nc),
      ns,
      suites: new Map([['cheap', suite]]),
      logger: silentLogger,
      checks: { natsUrl: nats.url, databaseUrl: database.url, cwd: join(here, '..'), docker: connectDocker() },
    },
    // The rate limiter runs (its cost is measured) with a limit out of reach: one requester sends all.
    { concurrency: 8, rateLimit: { perMinute: 1e9, burst: 1e9 } },
  );
  const pub = createPublisher({ js: jetstream(nc), ns, source: 'vigil/bench' });
  const sentAt = new Map<string, number>();
  const doneAt = new Map<string, number>();
  const scores = new Set<string>();
  const results = subscribe(nc, ['validation.completed'], { ns });
  const reading = (async () => {
    for await (const e of results) {
      doneAt.set(e.data.requestId, performance.now());
      scores.add(`${e.data.score} ${e.data.status}`);
    }
  })();
  const waitDone = async (n: number, deadlineMs: number) => {
    const end = performance.now() + deadlineMs;
    while (doneAt.size < n && performance.now() < end) await new Promise((r) => setTimeout(r, 20));
  };
  try {
    // Warm up connections and code paths.
    for (let i = 0; i < 20; i++)
      sentAt.set((await pub.publish('validation.requested', { suite: 'cheap' })).id, performance.now());
    await waitDone(20, 30_000);
    // Sustained: a burst of requests, completed as fast as the validator can.
    let t = performance.now();
    await Promise.all(
      Array.from({ length: BURST }, async () =>
        sentAt.set((await pub.publish('validation.requested', { suite: 'cheap' })).id, performance.now()),
      ),
    );
    await waitDone(20 + BURST, 120_000);
    const sustained = BURST / ((performance.now() - t) / 1000);
    // Steady 50 requests/s: latency from publish to validation.completed.
    const before = doneAt.size;
    const steadyIds: string[] = [];
    t = performance.now();
    for (let i = 0; i < RATE * SECONDS; i++) {
      const wait = t + (i * 1000) / RATE - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const at = performance.now();
      void pub.publish('validation.requested', { suite: 'cheap' }).then((r) => {
        sentAt.set(r.id, at);
        steadyIds.push(r.id);
      });
    }
    await waitDone(before + RATE * SECONDS, 60_000);
    const lat = steadyIds
      .flatMap((rid) => (doneAt.has(rid) ? [(doneAt.get(rid) as number) - (sentAt.get(rid) as number)] : []))
      .sort((a, b) => a - b);
    const rows: [string, string][] = [
      ['suite', '10 cheap checks (tcp ×3, http ×2, host ×2, file ×3), 8 requests at once'],
      [`sustained, ${BURST} requests published at once`, `${sustained.toFixed(0)} requests/s`],
      [`steady ${RATE} requests/s for ${SECONDS} s: completed`, `${lat.length} of ${RATE * SECONDS}`],
      ['  p50 request → completed', `${pct(lat, 50).toFixed(1)} ms`],
      ['  p99 request → completed (target < 100 ms)', `${pct(lat, 99).toFixed(1)} ms`],
      ['  max', `${(lat[lat.length - 1] ?? NaN).toFixed(1)} ms`],
      ['scores seen', [...scores].join(', ')],
    ];
    const w = Math.max(...rows.map((r) => r[0].length));
    process.stdout.write(
      `\nvalidator benchmark (NATS ${nats.source}, Postgres ${postgres.source}, node ${process.version})\n`,
    );
    for (const [k, v] of rows) process.stdout.write(`${k.padEnd(w)}  ${v}\n`);
  } finally {
    await results.close();
    await reading.catch(() => undefined);
    await consumer.stop();
    await relay.kill('SIGTERM');
    web.close();
    await db.destroy();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:validator: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
