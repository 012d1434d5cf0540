import { jetstreamManager } from '@nats-io/jetstream';
import { sql } from 'kysely';
import { describe, expect, inject, it } from 'vitest';
import {
  createEvent,
  encodeStructured,
  ensureConsumer,
  silentLogger,
  subjectOf,
  type EventDataInput,
  type EventType,
  type Namespace,
  type VigilEvent,
} from '@vigil/events';
import { eventsFixture, samples } from '@vigil/events/testing';
import { createDb } from '@vigil/service-kit';
import { createTestDatabase, freePort, NatsServerProcess, serviceFixture, waitFor } from '@vigil/testkit';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { Overview } from './core/overview.js';
import { startStatus, STATUS_CONSUMER, type StatusDeps } from './service.js';
import { migrateStatus, type StatusDatabase } from './store.js';

const natsUrl = inject('natsUrl');
const databaseUrl = inject('databaseUrl');

async function publish<T extends EventType>(js: JetStreamClient, ns: Namespace, type: T, input: EventDataInput<T>) {
  const e = createEvent(type, input, { source: 'vigil/test' }) as VigilEvent;
  const { data, headers } = encodeStructured(e);
  return js.publish(subjectOf(ns, type), data, { msgID: e.id, ...(headers ? { headers } : {}) });
}

const completed = (
  runId: string,
  components: { name: string; status: 'PASS' | 'WARN' | 'FAIL'; score: number }[],
): EventDataInput<'validation.completed'> => ({
  ...samples['validation.completed'],
  runId,
  suite: 'web',
  score: Math.min(...components.map((c) => c.score)),
  status: components.some((c) => c.status === 'FAIL') ? 'FAIL' : 'PASS',
  components: components.map((c) => ({ ...c, weight: 1, checks: [] })),
});

interface SseEvent {
  id?: string;
  event?: string;
  data?: unknown;
}

/** An EventSource for the test: each next() is the next event (comments and `retry` skipped). */
async function sse(url: string, lastEventId?: string) {
  const stop = new AbortController();
  const r = await fetch(url, {
    signal: stop.signal,
    headers: lastEventId === undefined ? {} : { 'last-event-id': lastEventId },
  });
  expect(r.headers.get('content-type')).toContain('text/event-stream');
  const reader = r.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  return {
    async next(): Promise<SseEvent> {
      for (;;) {
        const end = buf.indexOf('\n\n');
        if (end >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const e: SseEvent = {};
          for (const line of block.split('\n')) {
            const [k, ...v] = line.split(': ');
            if (k === 'id') e.id = v.join(': ');
            if (k === 'event') e.event = v.join(': ');
            if (k === 'data') e.data = JSON.parse(v.join(': '));
          }
          if (e.event !== undefined) return e;
          continue;
        }
        const { value, done } = await reader.read();
        if (done) throw new Error(`the event stream ${url} ended`);
        buf += value;
      }
    },
    async [Symbol.asyncDispose]() {
      stop.abort();
      await reader.cancel().catch(() => undefined);
    },
  };
}

const componentOf = (o: Overview, name: string) =>
  o.suites.find((s) => s.name === 'web')?.components.find((c) => c.name === name);

async function statusFixture(label: string, nats = natsUrl) {
  const events = await eventsFixture(nats, { label });
  const database = await createTestDatabase(databaseUrl, 'status');
  const { db } = createDb<StatusDatabase>(database.url, { max: 4 });
  await migrateStatus(db);
  const deps: StatusDeps = {
    nc: events.nc,
    js: events.js,
    db,
    ns: events.ns,
    logger: silentLogger,
    clock: () => new Date(),
  };
  return {
    events,
    database,
    db,
    deps,
    async [Symbol.asyncDispose]() {
      await db.destroy();
      await database.drop();
      await events[Symbol.asyncDispose]();
    },
  };
}

/** The service as `node main.ts` on a free port, ready. */
async function startProcess(f: Awaited<ReturnType<typeof statusFixture>>, nats = natsUrl) {
  const p = await serviceFixture('status', {
    NATS_URL: nats,
    DATABASE_URL: f.database.url,
    VIGIL_NAMESPACE: f.events.namespaceId,
    // Nothing listens there (not the default port, where `npm run up` may run an anomaly service).
    STATUS_ANOMALY_URL: `http://127.0.0.1:${await freePort()}`,
    LOG_LEVEL: 'info',
  });
  return { p, base: `http://127.0.0.1:${p.port!}` };
}

describe('status service', () => {
  it('rebuilds from the stream at start, then follows live; a restart after the stream lost its history keeps it from the archive', async () => {
    await using f = await statusFixture('status');
    const { js, ns } = f.events;
    // History before the service starts.
    await publish(js, ns, 'validation.completed', completed('r1', [{ name: 'api', status: 'PASS', score: 10 }]));
    await publish(js, ns, 'slo.burn', samples['slo.burn']);
    await ensureConsumer(f.events.nc, STATUS_CONSUMER, ns);
    const first = await startStatus(f.deps);
    expect(first.rebuild.replayed).toBe(2);
    let o = first.overview();
    expect(componentOf(o, 'api')).toMatchObject({ status: 'PASS', score: 10 });
    expect(o.incidents.open).toHaveLength(1);
    expect(o.state).toBe('failing'); // a page fires

    // Live: a failing run and the page resolved.
    await publish(js, ns, 'validation.completed', completed('r2', [{ name: 'api', status: 'FAIL', score: 3 }]));
    await publish(js, ns, 'slo.burn', {
      ...samples['slo.burn'],
      state: 'resolved',
      resolvedAt: new Date().toISOString(),
    });
    await waitFor(
      () => componentOf(first.overview(), 'api')?.status === 'FAIL' && first.overview().incidents.open.length === 0,
      {
        message: 'the live run and the resolution in the model',
      },
    );
    await waitFor(async () => (await f.db.selectFrom('status.days').selectAll().execute()).some((d) => d.worst === 2), {
      message: 'the failing day in the archive',
    });
    await first.stop();

    // The stream's history is gone (retention); the durable is made again from nothing.
    const jsm = await jetstreamManager(f.events.nc);
    await jsm.consumers.delete(ns.stream, STATUS_CONSUMER.durable);
    await jsm.streams.purge(ns.stream);
    await ensureConsumer(f.events.nc, STATUS_CONSUMER, ns);
    const second = await startStatus(f.deps);
    expect(second.rebuild.replayed).toBe(0);
    o = second.overview();
    const api = componentOf(o, 'api');
    expect(api).toMatchObject({ status: 'FAIL', score: 3 });
    expect(api?.days.at(-1)).toMatchObject({ worst: 'FAIL', minScore: 3, lastScore: 3 });
    expect(o.incidents.recent[0]).toMatchObject({ state: 'resolved', slo: samples['slo.burn'].slo });
    await second.stop();
  });

  it('with PostgreSQL gone, live events still reach the page; their changes reach the archive when it is back', async () => {
    await using f = await statusFixture('statusdb');
    const { js, ns } = f.events;
    await ensureConsumer(f.events.nc, STATUS_CONSUMER, ns);
    const s = await startStatus(f.deps);
    // The archive's tables become unwritable (as an outage would): the model goes on.
    await sql`alter table status.days rename to days_away`.execute(f.db);
    await publish(js, ns, 'validation.completed', completed('r1', [{ name: 'cache', status: 'WARN', score: 6 }]));
    await waitFor(() => componentOf(s.overview(), 'cache')?.status === 'WARN', { message: 'the run on the page' });
    await waitFor(() => s.unsaved() > 0, { message: 'the changes held back' });
    await sql`alter table status.days_away rename to days`.execute(f.db);
    // The redelivery writes what was held.
    await waitFor(async () => (await f.db.selectFrom('status.days').selectAll().execute()).length === 1, {
      timeoutMs: 30_000,
      message: 'the held day written after the redelivery',
    });
    await waitFor(() => s.unsaved() === 0, { message: 'nothing held' });
    await s.stop();
  });

  it('as a process: / is the status page, /api/status the overview, with /readyz and /metrics', async () => {
    await using f = await statusFixture('statusproc');
    const { js, ns } = f.events;
    await publish(js, ns, 'validation.completed', completed('r1', [{ name: 'checkout', status: 'PASS', score: 9.5 }]));
    const { p, base } = await startProcess(f);
    try {
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      const page = await fetch(`${base}/`);
      expect(page.headers.get('content-type')).toContain('text/html');
      expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
      const html = await page.text();
      expect(html).toContain('checkout');
      expect(html).toContain('✓ Operational');
      await publish(
        js,
        ns,
        'validation.completed',
        completed('r2', [{ name: 'checkout', status: 'FAIL', score: 1.5 }]),
      );
      await waitFor(
        async () =>
          componentOf((await (await fetch(`${base}/api/status`)).json()) as Overview, 'checkout')?.status === 'FAIL',
        { message: 'the live run in /api/status' },
      );
      expect(await (await fetch(`${base}/`)).text()).toContain('✕ Failing');
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toMatch(/vigil_status_model_entries\{kind="components"\} 1/);
      expect(metrics).toMatch(/vigil_status_events_applied_total 1/);
      expect((await fetch(`${base}/`, { method: 'POST' })).status).toBe(405);
      expect((await fetch(`${base}/?fragment=x`)).status).toBe(400);
      // The anomalies' series come from the anomaly service: a missing name, and that service away.
      const noSeries = await fetch(`${base}/api/anomalies/points`);
      expect([noSeries.status, await noSeries.json()]).toEqual([400, { error: 'series is required' }]);
      const away = await fetch(`${base}/api/anomalies/points?series=sli-value%2Fshop%2Flatency`);
      expect(away.status).toBe(502);
      expect(((await away.json()) as { error: string }).error).toMatch(/^the anomaly service is not reachable at http/);
      expect((await fetch(`${base}/events`, { headers: { 'last-event-id': 'abc' } })).status).toBe(400);
      const script = await fetch(`${base}/assets/live.js`);
      expect(script.headers.get('content-type')).toContain('text/javascript');
      expect(await script.text()).toContain("new EventSource('/events')");
    } finally {
      await p.kill('SIGTERM');
    }
  });

  it('/events: a change per event with its stream sequence as id; a client back with an older Last-Event-ID is told at once', async () => {
    await using f = await statusFixture('statuslive');
    const { js, ns } = f.events;
    const first = await publish(
      js,
      ns,
      'validation.completed',
      completed('r1', [{ name: 'api', status: 'PASS', score: 10 }]),
    );
    const { p, base } = await startProcess(f);
    try {
      await using live = await sse(`${base}/events`);
      expect(await live.next()).toEqual({
        id: String(first.seq),
        event: 'change',
        data: { seq: first.seq, type: 'hello' },
      });
      const second = await publish(
        js,
        ns,
        'validation.completed',
        completed('r2', [{ name: 'api', status: 'WARN', score: 6 }]),
      );
      expect(await live.next()).toEqual({
        id: String(second.seq),
        event: 'change',
        data: { seq: second.seq, type: 'validation.completed' },
      });
      // The page's fragment at that moment shows it, and says which sequence it shows.
      const fragment = await fetch(`${base}/?fragment=main`);
      expect(fragment.headers.get('x-vigil-seq')).toBe(String(second.seq));
      expect(await fragment.text()).toContain('! WARN');
      // Back after a disconnect, behind by one event: one change at once, at the current sequence.
      await using back = await sse(`${base}/events`, String(first.seq));
      expect(await back.next()).toEqual({
        id: String(second.seq),
        event: 'change',
        data: { seq: second.seq, type: 'resume' },
      });
      // Up to date: nothing until the next event.
      await using current = await sse(`${base}/events`, String(second.seq));
      const third = await publish(js, ns, 'slo.burn', samples['slo.burn']);
      expect(await current.next()).toMatchObject({ id: String(third.seq), data: { type: 'slo.burn' } });
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toMatch(/vigil_status_live_clients 3/);
    } finally {
      // Open streams do not hold the shutdown up.
      await p.kill('SIGTERM');
    }
  });

  it('nats-server restarted: an open /events client gets the next run without reconnecting; nothing is missed', async () => {
    await using server = await NatsServerProcess.start();
    await using f = await statusFixture('statusnats', server.url);
    const { js, ns } = f.events;
    const first = await publish(
      js,
      ns,
      'validation.completed',
      completed('r1', [{ name: 'api', status: 'PASS', score: 10 }]),
    );
    const { p, base } = await startProcess(f, server.url);
    try {
      await using live = await sse(`${base}/events`);
      expect((await live.next()).id).toBe(String(first.seq));
      await server.kill('SIGTERM');
      await server.restart();
      // The test's own connection reconnects on its own schedule: publish once it takes it.
      const second = await waitFor(
        () => publish(js, ns, 'validation.completed', completed('r2', [{ name: 'api', status: 'FAIL', score: 2 }])),
        { timeoutMs: 30_000, message: 'a publish after the restart' },
      );
      const next = await Promise.race([
        live.next(),
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error('no change on /events within 30 s of the restart')), 30_000),
        ),
      ]);
      expect(next).toMatchObject({ id: String(second.seq), data: { type: 'validation.completed' } });
      const third = await publish(js, ns, 'slo.burn', samples['slo.burn']);
      expect(await live.next()).toMatchObject({ id: String(third.seq), data: { type: 'slo.burn' } });
      const o = (await (await fetch(`${base}/api/status`)).json()) as Overview;
      expect(componentOf(o, 'api')?.status).toBe('FAIL');
    } finally {
      await p.kill('SIGTERM');
    }
  }, 90_000);
});
