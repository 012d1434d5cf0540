import { connectDocker } from '@vigil/docker';
import { jetstreamManager } from '@nats-io/jetstream';
import { sql } from 'kysely';
import { Registry } from 'prom-client';
import { describe, expect, inject, it } from 'vitest';
import {
  createEvent,
  createPublisher,
  decodeMessage,
  encodeStructured,
  ensureConsumer,
  readDeadLetters,
  silentLogger,
  subjectOf,
  type VigilEvent,
} from '@vigil/events';
import { eventsFixture } from '@vigil/events/testing';
import { migrateOutbox } from '@vigil/outbox';
import { createDb, startHttpServer } from '@vigil/service-kit';
import { createTestDatabase, waitFor } from '@vigil/testkit';
import { parseSuite } from './config/suite.js';
import { runsRoutes } from './http.js';
import { scheduleSuites, startValidator, VALIDATOR_CONSUMER } from './service.js';
import { migrateValidator, type ValidatorDatabase } from './store.js';

const natsUrl = inject('natsUrl');
const databaseUrl = inject('databaseUrl');

/** A database with the validator's schema, a namespace, and deps running one suite of a `select 1`. */
async function validatorFixture(label: string, suiteHead: string) {
  const database = await createTestDatabase(databaseUrl, 'validator');
  const f = await eventsFixture(natsUrl, { label });
  const { db } = createDb<ValidatorDatabase>(database.url);
  await migrateOutbox(db);
  await migrateValidator(db);
  const suite = parseSuite(
    `${suiteHead}
components:
  - name: database
    weight: 1
    checks: [{ name: answers, kind: postgres, params: { query: "select 1", expect: 1 } }]
`,
    'suite.yaml',
  );
  const deps = {
    db,
    js: f.js,
    ns: f.ns,
    suites: new Map([[suite.name, suite]]),
    logger: silentLogger,
    checks: { natsUrl, databaseUrl: database.url, cwd: process.cwd(), docker: connectDocker() },
  };
  return {
    db,
    f,
    deps,
    async [Symbol.asyncDispose]() {
      await db.destroy();
      await f[Symbol.asyncDispose]();
      await database[Symbol.asyncDispose]();
    },
  };
}

describe('validator service', () => {
  it('validation.requested → a stored run and validation.completed in the outbox, once; unknown suites and components are refused and dead-lettered, not stored; /runs lists them', async () => {
    await using database = await createTestDatabase(databaseUrl, 'validator');
    await using f = await eventsFixture(natsUrl, { label: 'validator' });
    const { db } = createDb<ValidatorDatabase>(database.url);
    try {
      await migrateOutbox(db);
      await migrateValidator(db);
      const suite = parseSuite(
        `name: mini
components:
  - name: database
    weight: 2
    checks: [{ name: answers, kind: postgres, params: { query: "select 1", expect: 1 } }]
  - name: web
    weight: 1
    checks: [{ name: gone, kind: tcp, timeout: 1s, params: { host: 127.0.0.1, port: 1 } }]
`,
        'mini.yaml',
      );
      await ensureConsumer(f.nc, VALIDATOR_CONSUMER, f.ns);
      const consumer = await startValidator({
        db,
        js: f.js,
        ns: f.ns,
        suites: new Map([['mini', suite]]),
        logger: silentLogger,
        checks: { natsUrl, databaseUrl: database.url, cwd: process.cwd(), docker: connectDocker() },
      });
      const pub = createPublisher({ js: f.js, ns: f.ns, source: 'vigil/test' });
      const request = createEvent(
        'validation.requested',
        { suite: 'mini', requestedBy: 'test' },
        { source: 'vigil/test' },
      ) as VigilEvent;
      // The same request delivered three times (as redeliveries and replays look to a consumer).
      for (let i = 0; i < 3; i++) {
        const { data, headers } = encodeStructured(request);
        await f.js.publish(subjectOf(f.ns, 'validation.requested'), data, { headers, msgID: `copy-${i}` });
      }
      await pub.publish('validation.requested', { suite: 'no-such-suite' });
      await pub.publish('validation.requested', { suite: 'mini', components: ['database', 'nope'] });
      const partial = await pub.publish('validation.requested', { suite: 'mini', components: ['database'] });
      await f.js.publish(subjectOf(f.ns, 'validation.requested'), new TextEncoder().encode('{"not":"an event"}'));
      await waitFor(() => consumer.stats.received === 7, { timeoutMs: 20_000, message: 'every request handled' });
      await consumer.stop();

      const rows = await db.selectFrom('outbox.events').select(['payload', 'subject']).orderBy('seq').execute();
      expect(rows).toHaveLength(2);
      const completed = rows.map((r) => decodeMessage({ data: r.payload }) as VigilEvent<'validation.completed'>);
      // Requests run concurrently: find each result by its request, not by position.
      const done = completed.find((e) => e.data.requestId === request.id);
      const part = completed.find((e) => e.data.requestId === partial.id);
      expect(done!.data).toMatchObject({ requestId: request.id, suite: 'mini', score: 6.67, status: 'WARN' });
      expect(done!.data.partial).toBeUndefined();
      // A run of some components says so: its 10 is not the suite's score.
      expect(part!.data).toMatchObject({ suite: 'mini', score: 10, status: 'PASS', partial: true });
      expect(done!.data.components.map((c) => [c.name, c.weight, c.score, c.status])).toEqual([
        ['database', 0.667, 10, 'PASS'],
        ['web', 0.333, 0, 'FAIL'],
      ]);
      expect(done!.data.components[1]!.checks[0]).toMatchObject({ kind: 'tcp', status: 'ERROR' });
      expect(await db.selectFrom('validator.runs').select('id').execute()).toHaveLength(2);
      expect(consumer.stats.deadLettered).toBe(3);
      const reasons = [];
      for await (const d of readDeadLetters(f.nc, { ns: f.ns })) reasons.push(`${d.why?.code}: ${d.why?.reason}`);
      expect(reasons.sort()).toEqual([
        "INVALID_ENVELOPE: invalid CloudEvent attribute 'specversion': is required",
        "UNKNOWN_COMPONENT: suite 'mini' has no component 'nope' (it has: database, web)",
        "UNKNOWN_SUITE: unknown suite 'no-such-suite' (known: mini)",
      ]);

      const http = await startHttpServer({
        port: 0,
        metrics: new Registry(),
        routes: runsRoutes(db),
        ready: async () => ({}),
      });
      try {
        const list = (await (await fetch(`http://127.0.0.1:${http.port}/runs?suite=mini`)).json()) as {
          runs: { id: string; score: number }[];
        };
        expect(list.runs).toHaveLength(2);
        expect(list.runs.map((r) => r.score).sort()).toEqual([10, 6.67]);
        const full = list.runs.find((r) => r.score === 6.67)!;
        const one = (await (await fetch(`http://127.0.0.1:${http.port}/runs/${full.id}`)).json()) as {
          requestId: string;
        };
        expect(one.requestId).toBe(request.id);
        expect((await fetch(`http://127.0.0.1:${http.port}/runs/nope`)).status).toBe(404);
        const bad = await fetch(`http://127.0.0.1:${http.port}/runs?limit=0`);
        expect(bad.status).toBe(400);
        expect(await bad.text()).toMatch(/limit must be a whole number from 1 to 500, got '0'/);
        // Hostile URLs and methods: 400 / 405 with one line of JSON, never a database error.
        const base = `http://127.0.0.1:${http.port}`;
        for (const [path, status, error] of [
          ['/runs/%00', 400, 'control character in the path'],
          ['/runs?suite=%00', 400, 'control character in the query'],
          ['/runs/%E0%A4%A', 400, 'malformed percent-encoding in the path'],
          ['/runs?suite=%zz', 400, 'malformed percent-encoding in the query'],
        ] as const) {
          const r = await fetch(`${base}${path}`);
          expect([path, r.status, await r.json()]).toEqual([path, status, { error }]);
        }
        for (const path of ['/healthz', '/readyz', '/metrics', '/runs']) {
          const r = await fetch(`${base}${path}`, { method: 'POST', body: '{}' });
          expect([path, r.status, r.headers.get('allow'), await r.json()]).toEqual([
            path,
            405,
            'GET, HEAD',
            { error: 'method POST not allowed: use GET' },
          ]);
        }
      } finally {
        await http.close();
      }
      // A route failing on the database: 500 without the PostgreSQL error, which goes to the log.
      const logged: string[] = [];
      const failing = await startHttpServer({
        port: 0,
        metrics: new Registry(),
        ready: async () => ({}),
        logger: { error: (o) => void logged.push(String((o as { err: Error }).err.message)) },
        routes: async () => {
          await sql`select * from no_such_table`.execute(db);
          return true;
        },
      });
      try {
        const r = await fetch(`http://127.0.0.1:${failing.port}/runs`);
        expect([r.status, await r.json()]).toEqual([500, { error: 'internal error; the service log has the details' }]);
        expect(logged).toEqual([expect.stringMatching(/relation "no_such_table" does not exist/)]);
      } finally {
        await failing.close();
      }
      const jsm = await jetstreamManager(f.nc);
      expect((await jsm.streams.info(f.ns.deadLetterStream)).state.messages).toBe(3);
    } finally {
      await db.destroy();
    }
  });

  it('scheduled runs: each slot requested once across two instances, under an id no one can know in advance', async () => {
    await using v = await validatorFixture('schedule', 'name: tick\ninterval: 1h');
    const { db, deps } = v;
    const stops = [scheduleSuites(deps, { everyMs: 200 }), scheduleSuites(deps, { everyMs: 200 })];
    try {
      await waitFor(async () => (await db.selectFrom('validator.schedule_runs').select('slot').execute()).length >= 4, {
        message: 'four scheduled runs',
      });
    } finally {
      stops.forEach((stop) => stop());
    }
    const runs = await db.selectFrom('validator.schedule_runs').selectAll().orderBy('slot').execute();
    const rows = await db.selectFrom('outbox.events').select(['event_id', 'payload']).execute();
    // One request per slot, though two schedulers raced for each.
    expect(rows).toHaveLength(runs.length);
    expect(new Set(runs.map((r) => Number(r.slot))).size).toBe(runs.length);
    expect(rows.map((r) => r.event_id).sort()).toEqual(runs.map((r) => r.event_id).sort());
    for (const r of rows) {
      // Random: neither the suite nor the time can be read from it (was `schedule:<suite>:<ms>:<slot>`).
      expect(r.event_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      const e = decodeMessage({ data: r.payload }) as VigilEvent<'validation.requested'>;
      expect(e.data).toMatchObject({ suite: 'tick', requestedBy: 'vigil/validator' });
    }
  });

  it('a requester over its rate limit is refused (dead-lettered as RATE_LIMITED) and runs nothing; others are not held back', async () => {
    await using v = await validatorFixture('ratelimit', 'name: mini');
    const { db, f, deps } = v;
    await ensureConsumer(f.nc, VALIDATOR_CONSUMER, f.ns);
    const consumer = await startValidator(deps, { concurrency: 1, rateLimit: { perMinute: 1, burst: 3 } });
    const pub = createPublisher({ js: f.js, ns: f.ns, source: 'vigil/test' });
    for (let i = 0; i < 6; i++) await pub.publish('validation.requested', { suite: 'mini', requestedBy: 'flood' });
    await pub.publish('validation.requested', { suite: 'mini', requestedBy: 'someone-else' });
    await waitFor(() => consumer.stats.received === 7, { timeoutMs: 20_000, message: 'every request handled' });
    await consumer.stop();
    expect(await db.selectFrom('validator.runs').select('id').execute()).toHaveLength(4);
    const reasons = [];
    for await (const d of readDeadLetters(f.nc, { ns: f.ns })) reasons.push(`${d.why?.code}: ${d.why?.reason}`);
    expect(reasons).toEqual(
      Array(3).fill(
        "RATE_LIMITED: requester 'flood' sent more than 3 requests at once or 1 a minute (VALIDATOR_RATE_LIMIT)",
      ),
    );
  });
});
