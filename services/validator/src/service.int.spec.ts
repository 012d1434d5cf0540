import { connectDocker } from '@vigil/docker';
import { jetstreamManager } from '@nats-io/jetstream';
import { Registry } from 'prom-client';
import { describe, expect, inject, it } from 'vitest';
import {
  createEvent,
  createPublisher,
  decodeMessage,
  encodeStructured,
  ensureConsumer,
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
import { startValidator, VALIDATOR_CONSUMER } from './service.js';
import { migrateValidator, type ValidatorDatabase } from './store.js';

const natsUrl = inject('natsUrl');
const databaseUrl = inject('databaseUrl');

describe('validator service', () => {
  it('validation.requested → a stored run and validation.completed in the outbox, once; unknown suites give ERROR; /runs lists them', async () => {
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
      await f.js.publish(subjectOf(f.ns, 'validation.requested'), new TextEncoder().encode('{"not":"an event"}'));
      await waitFor(() => consumer.stats.received === 5, { timeoutMs: 20_000, message: 'every request handled' });
      await consumer.stop();

      const rows = await db.selectFrom('outbox.events').select(['payload', 'subject']).orderBy('seq').execute();
      expect(rows).toHaveLength(2);
      const completed = rows.map((r) => decodeMessage({ data: r.payload }) as VigilEvent<'validation.completed'>);
      // Requests run concurrently: find each result by its suite, not by position.
      const done = completed.find((e) => e.data.suite === 'mini');
      const unknown = completed.find((e) => e.data.suite === 'no-such-suite');
      expect(done!.data).toMatchObject({ requestId: request.id, suite: 'mini', score: 6.67, status: 'WARN' });
      expect(done!.data.components.map((c) => [c.name, c.weight, c.score, c.status])).toEqual([
        ['database', 0.667, 10, 'PASS'],
        ['web', 0.333, 0, 'FAIL'],
      ]);
      expect(done!.data.components[1]!.checks[0]).toMatchObject({ kind: 'tcp', status: 'ERROR' });
      expect(unknown!.data).toMatchObject({
        suite: 'no-such-suite',
        status: 'ERROR',
        score: 0,
        error: "unknown suite 'no-such-suite' (known: mini)",
      });
      expect(await db.selectFrom('validator.runs').select('id').execute()).toHaveLength(2);
      expect(consumer.stats.deadLettered).toBe(1);

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
        expect(list.runs).toHaveLength(1);
        expect(list.runs[0]!.score).toBe(6.67);
        const one = (await (await fetch(`http://127.0.0.1:${http.port}/runs/${list.runs[0]!.id}`)).json()) as {
          requestId: string;
        };
        expect(one.requestId).toBe(request.id);
        expect((await fetch(`http://127.0.0.1:${http.port}/runs/nope`)).status).toBe(404);
        const bad = await fetch(`http://127.0.0.1:${http.port}/runs?limit=0`);
        expect(bad.status).toBe(400);
        expect(await bad.text()).toMatch(/limit must be a whole number from 1 to 500, got '0'/);
      } finally {
        await http.close();
      }
      const jsm = await jetstreamManager(f.nc);
      expect((await jsm.streams.info(f.ns.deadLetterStream)).state.messages).toBe(1);
    } finally {
      await db.destroy();
    }
  });
});
