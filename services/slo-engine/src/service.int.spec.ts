import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Kysely } from 'kysely';
import { Registry } from 'prom-client';
import { describe, expect, inject, it } from 'vitest';
import { parse } from 'yaml';
import {
  createEvent,
  encodeStructured,
  ensureConsumer,
  replay,
  silentLogger,
  subjectOf,
  type VigilEvent,
} from '@vigil/events';
import { eventsFixture, type EventsFixture } from '@vigil/events/testing';
import { migrateOutbox } from '@vigil/outbox';
import { createDb, startHttpServer } from '@vigil/service-kit';
import { createTestDatabase, ServiceProcess, waitFor } from '@vigil/testkit';
import { parseSlo } from './config/slo.js';
import { MINUTE_MS } from './core/sli.js';
import { slosRoutes } from './http.js';
import { evaluateAt, resolveOrphanedAlerts, SLO_CONSUMER, startIngest, type SloEngineDeps } from './service.js';
import { migrateSlo, type SloDatabase } from './store.js';

const natsUrl = inject('natsUrl');
const databaseUrl = inject('databaseUrl');

const sloText = (sli: string) =>
  `name: checkout\nservice: shop\nobjective: 99.9\nwindow: 1d\nsli: { observed: { sli: ${sli} } }\n`;

async function totals(db: Kysely<SloDatabase>): Promise<{ good: number; total: number }> {
  const r = await sql<{ good: number; total: number }>`
    select coalesce(sum(good), 0)::float8 as good, coalesce(sum(total), 0)::float8 as total from slo.buckets`.execute(
    db,
  );
  return r.rows[0]!;
}

/** `sli.observed` for the minute starting at `minute`: `bad` of `total` bad. */
function observed(sli: string, minute: number, total: number, bad: number): VigilEvent {
  return createEvent(
    'sli.observed',
    { sli, service: 'shop', good: total - bad, total, observedAt: new Date(minute + 30_000).toISOString() },
    { source: 'vigil/test' },
  );
}

async function publishRaw(f: EventsFixture, event: VigilEvent, msgID: string): Promise<void> {
  const { data, headers } = encodeStructured(event);
  await f.js.publish(subjectOf(f.ns, event.type), data, { headers, msgID });
}

describe('slo-engine', () => {
  it('events in → counts once per event → slo.burn through the outbox and the relay, once; /slos shows it', async () => {
    await using database = await createTestDatabase(databaseUrl, 'slo');
    await using f = await eventsFixture(natsUrl, { label: 'slo' });
    const { db } = createDb<SloDatabase>(database.url);
    try {
      await migrateOutbox(db);
      await migrateSlo(db);
      await ensureConsumer(f.nc, SLO_CONSUMER, f.ns);
      const sli = `checkout-${f.namespaceId}`;
      const slo = parseSlo(sloText(sli), 'checkout.yaml');
      // What /metrics counts (vigil_slo_sli_events_total): committed counts, a redelivery not again.
      const counted = { good: 0, total: 0 };
      const deps: SloEngineDeps = {
        db,
        js: f.js,
        ns: f.ns,
        slos: new Map([['checkout', slo]]),
        logger: silentLogger,
        onCounted: (os) => {
          for (const o of os) {
            counted.good += o.good;
            counted.total += o.total;
          }
        },
      };

      // An hour with 2 % of 1000 events bad every minute (20× the allowed 0.1 %), ending 40
      // minutes ago so that the clean minutes after it are in the past too.
      const at = Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS - 40 * MINUTE_MS;
      const events = Array.from({ length: 60 }, (_, i) => observed(sli, at - (60 - i) * MINUTE_MS, 1000, 20));
      for (const e of events) await publishRaw(f, e, e.id);
      // Two more deliveries of one event (as a redelivery or a replay looks to a consumer)…
      await publishRaw(f, events[7]!, 'again-1');
      await publishRaw(f, events[7]!, 'again-2');
      // …and events no SLO uses, which only pass through.
      await publishRaw(f, observed('other', at - MINUTE_MS, 10, 10), 'other');
      const consumer = await startIngest(deps);
      await waitFor(() => consumer.stats.processed === 63, { timeoutMs: 20_000, message: '63 events handled' });
      await consumer.stop();
      expect(await totals(db)).toEqual({ good: 58_800, total: 60_000 });
      expect(counted).toEqual({ good: 58_800, total: 60_000 });

      const [first] = await evaluateAt(deps, new Date(at));
      expect(first!.transitions.map((t) => [t.state, t.severity])).toEqual([
        ['firing', 'page'],
        ['firing', 'ticket'],
      ]);
      // The same minute again (another instance, a restart) and the next one emit nothing.
      expect(await evaluateAt(deps, new Date(at))).toEqual([]);
      const [next] = await evaluateAt(deps, new Date(at + MINUTE_MS));
      expect(next!.transitions).toEqual([]);

      const relay = ServiceProcess.start('outbox-relay', {
        NATS_URL: natsUrl,
        DATABASE_URL: database.url,
        VIGIL_NAMESPACE: f.namespaceId,
      });
      try {
        await waitFor(
          async () =>
            Number(
              (
                await sql<{ n: string }>`select count(*) as n from outbox.delivery where state = 'published'`.execute(
                  db,
                )
              ).rows[0]!.n,
            ) === 2,
          { timeoutMs: 30_000, message: 'the relay to publish both alerts' },
        );
      } finally {
        await relay.kill('SIGTERM');
      }
      const burns: VigilEvent<'slo.burn'>[] = [];
      for await (const r of replay(f.nc, { ns: f.ns, start: { from: 'beginning' }, types: ['slo.burn'] })) {
        burns.push(r.event);
      }
      expect(burns.map((e) => [e.data.state, e.data.severity])).toEqual([
        ['firing', 'page'],
        ['firing', 'ticket'],
      ]);
      const page = burns[0]!;
      expect(page.subject).toBe('checkout');
      expect(page.data).toMatchObject({
        slo: 'checkout',
        service: 'shop',
        objective: 99.9,
        since: new Date(at).toISOString(),
        windows: [
          { long: '1h', short: '5m', burnRateLong: 20, burnRateShort: 20, threshold: 14.4 },
          { long: '6h', short: '30m', burnRateLong: 20, burnRateShort: 20, threshold: 6 },
        ],
      });
      // 1200 bad events against 60 allowed by 60 000 events: the day's budget is overspent 20 times.
      expect(page.data.budgetRemaining).toBeCloseTo(-19, 6);
      expect(page.data.explanation).toMatch(
        /^checkout is spending its error budget 20× as fast as its 99\.9 % objective allows over the last 1h and 20× over the last 5m \(page threshold 14\.4×\): 2 % of events were bad in the last 1h against 0\.1 % allowed, and the 1d budget is already spent\.$/,
      );

      const http = await startHttpServer({
        port: 0,
        metrics: new Registry(),
        routes: slosRoutes(deps),
        ready: async () => ({}),
      });
      try {
        const base = `http://127.0.0.1:${http.port}`;
        const all = (await (await fetch(`${base}/slos`)).json()) as { slos: { name: string }[] };
        expect(all.slos.map((s) => s.name)).toEqual(['checkout']);
        const one = (await (await fetch(`${base}/slos/checkout`)).json()) as Record<string, unknown>;
        expect(one).toMatchObject({
          name: 'checkout',
          objective: 99.9,
          window: '1d',
          budget: { allowed: 60, consumed: 1200, remainingPercent: -1900 },
          alerts: [
            { severity: 'page', since: new Date(at).toISOString() },
            { severity: 'ticket', since: new Date(at).toISOString() },
          ],
        });
        expect(one['burnRates']).toContainEqual({ window: '2h', burnRate: 20, good: 58_800, total: 60_000 });
        // The Prometheus rule file, of every SLO or the ones named.
        const rules = await fetch(`${base}/rules/prometheus`);
        expect(rules.headers.get('content-type')).toContain('application/yaml');
        const file = parse(await rules.text()) as { groups: { name: string; rules: { record?: string }[] }[] };
        expect(file.groups.map((g) => g.name)).toEqual(['vigil-slo-checkout']);
        expect(file.groups[0]!.rules.map((r) => r.record)).toContain('vigil_slo:sli_error:ratio_rate1h');
        const unknownRules = await fetch(`${base}/rules/prometheus?slo=checkout&slo=nope`);
        expect([unknownRules.status, await unknownRules.json()]).toEqual([
          404,
          { error: "no SLO 'nope' (known: checkout)" },
        ]);
        const missing = await fetch(`${base}/slos/nope`);
        expect(missing.status).toBe(404);
        expect(await missing.json()).toEqual({ error: "no SLO 'nope' (known: checkout)" });

        // History: the same buckets over time, a point every 5 minutes for 3 hours.
        const history = (await (await fetch(`${base}/slos/checkout/history?window=3h&step=5m`)).json()) as {
          times: number[];
          budgetRemaining: number[];
          burnRates: Record<string, number[]>;
          firing: string[][];
          tiers: { severity: string; threshold: number }[];
        };
        expect(history.times).toHaveLength(37);
        expect(history.times.at(-1)).toBe(Date.parse(one['evaluatedAt'] as string));
        expect(history.budgetRemaining.at(-1)).toBeCloseTo(-19, 6);
        // Before the bad hour nothing burned; within it the 1h window reaches 20×, and a page fires.
        const before = history.times.findIndex((t) => t > at - 60 * MINUTE_MS) - 1;
        expect(history.burnRates['1h']?.[before]).toBe(0);
        expect(Math.max(...(history.burnRates['1h'] ?? []))).toBeCloseTo(20, 6);
        expect(history.firing.some((f) => f.includes('page'))).toBe(true);
        expect(history.tiers).toContainEqual(expect.objectContaining({ severity: 'page', threshold: 14.4 }));
        const badStep = await fetch(`${base}/slos/checkout/history?step=90s`);
        expect(badStep.status).toBe(400);
        expect(await badStep.json()).toEqual({ error: 'step must be whole minutes, got 90s' });
        const badWindow = await fetch(`${base}/slos/checkout/history?window=soon`);
        expect(await badWindow.json()).toEqual({ error: "window must be a duration like 5m, 1h or 30d, got 'soon'" });
      } finally {
        await http.close();
      }

      // Errors stop. The 14.4× tier lets go after 2 clean minutes, but the 6× page tier holds while
      // its 30-minute window has more than 9 bad minutes (9 × 20 / 30 = 6 is not above 6): it lets
      // go after 21 clean minutes.
      const clean = Array.from({ length: 30 }, (_, i) => observed(sli, at + i * MINUTE_MS, 1000, 0));
      for (const e of clean) await publishRaw(f, e, e.id);
      const again = await startIngest(deps);
      // (It also receives the two slo.burn events, which no SLO counts.)
      await waitFor(async () => (await totals(db)).total === 90_000, {
        timeoutMs: 20_000,
        message: 'clean minutes counted',
      });
      await again.stop();
      const changes: string[] = [];
      for (let m = 2; m <= 30; m++) {
        const [r] = await evaluateAt(deps, new Date(at + m * MINUTE_MS));
        for (const t of r!.transitions) changes.push(`${m}:${t.state}:${t.severity}`);
      }
      expect(changes).toEqual(['21:resolved:page']);
    } finally {
      await db.destroy();
    }
  });

  it('alerts left firing in the stream that the engine does not hold are resolved once, at start', async () => {
    await using database = await createTestDatabase(databaseUrl, 'sloorphan');
    await using f = await eventsFixture(natsUrl, { label: 'sloorphan' });
    const { db } = createDb<SloDatabase>(database.url);
    try {
      await migrateOutbox(db);
      await migrateSlo(db);
      const T = Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS - 60 * MINUTE_MS;
      const burn = (slo: string, severity: 'page' | 'ticket', since: number, time: number, state = 'firing') =>
        createEvent(
          'slo.burn',
          {
            slo,
            service: 'shop',
            state: state as 'firing' | 'resolved',
            severity,
            objective: 99.9,
            windows: [{ long: '1h', short: '5m', burnRateLong: 20, burnRateShort: 20, threshold: 14.4 }],
            budgetRemaining: 0.4,
            explanation: `${slo} ${severity} ${state}`,
            since: new Date(since).toISOString(),
            ...(state === 'resolved' ? { resolvedAt: new Date(time).toISOString() } : {}),
          },
          { source: 'vigil/slo-engine', subject: slo, time: new Date(time).toISOString() },
        );
      // What an earlier engine (with another database) and this one left in the stream.
      for (const e of [
        burn('checkout', 'page', T, T), // this database never saw it: forgotten
        burn('checkout', 'ticket', T - 120 * MINUTE_MS, T - 120 * MINUTE_MS),
        burn('checkout', 'ticket', T - 120 * MINUTE_MS, T - 60 * MINUTE_MS, 'resolved'), // closed
        burn('search', 'ticket', T, T), // held
        burn('search', 'page', T - 30 * MINUTE_MS, T - 30 * MINUTE_MS), // resolved by an evaluation since
        burn('gone', 'page', T, T + 5 * MINUTE_MS), // its SLO was removed from the configuration
      ]) {
        await publishRaw(f, e, e.id);
      }
      await sql`insert into slo.evaluations values ('search', ${new Date(T + 10 * MINUTE_MS)})`.execute(db);
      await sql`insert into slo.alerts values ('search', 'ticket', ${new Date(T)}, ${new Date(T)})`.execute(db);
      const slo = (name: string) => parseSlo(sloText(`${name}-sli`).replace('checkout', name), `${name}.yaml`);
      const now = new Date(T + 30 * MINUTE_MS);
      const deps = {
        db,
        js: f.js,
        nc: f.nc,
        ns: f.ns,
        slos: new Map([
          ['checkout', slo('checkout')],
          ['search', slo('search')],
        ]),
        logger: silentLogger,
        clock: () => now,
      };

      const resolved = await resolveOrphanedAlerts(deps);
      expect(resolved.map((r) => [r.episode.slo, r.episode.severity, r.reason])).toEqual([
        ['checkout', 'page', 'forgotten'],
        ['gone', 'page', 'unconfigured'],
      ]);
      const rows = await db.selectFrom('outbox.events').select(['subject', 'payload']).orderBy('seq').execute();
      const written = rows.map((r) => JSON.parse(r.payload.toString()) as VigilEvent<'slo.burn'>);
      expect(rows.map((r) => r.subject)).toEqual([subjectOf(f.ns, 'slo.burn'), subjectOf(f.ns, 'slo.burn')]);
      expect(written.map((e) => e.data)).toEqual([
        expect.objectContaining({
          slo: 'checkout',
          severity: 'page',
          state: 'resolved',
          since: new Date(T).toISOString(),
          resolvedAt: now.toISOString(),
          budgetRemaining: 0.4,
        }),
        expect.objectContaining({ slo: 'gone', severity: 'page', state: 'resolved', since: new Date(T).toISOString() }),
      ]);
      expect(written[1]!.data.explanation).toMatch(/SLO gone is no longer configured/);

      // A restart (or a second instance) before the relay published them writes nothing again.
      expect(await resolveOrphanedAlerts(deps)).toEqual([]);
      expect(await db.selectFrom('outbox.events').select('seq').execute()).toHaveLength(2);
      // The held alert and the one this engine resolved itself are untouched.
      expect(await db.selectFrom('slo.alerts').select(['slo', 'severity']).execute()).toEqual([
        { slo: 'search', severity: 'ticket' },
      ]);
    } finally {
      await db.destroy();
    }
  });

  it('a SIGKILLed slo-engine loses no counts and counts none twice', async () => {
    await using database = await createTestDatabase(databaseUrl, 'slokill');
    await using f = await eventsFixture(natsUrl, { label: 'slokill' });
    const dir = await mkdtemp(join(tmpdir(), 'vigil-slos-'));
    const { db } = createDb<SloDatabase>(database.url);
    const sli = `kill-${f.namespaceId}`;
    await writeFile(join(dir, 'checkout.yaml'), sloText(sli));
    const env = {
      NATS_URL: natsUrl,
      DATABASE_URL: database.url,
      VIGIL_NAMESPACE: f.namespaceId,
      SLO_DIR: dir,
      SLO_CONCURRENCY: '8',
    };
    try {
      const first = ServiceProcess.start('slo-engine', env);
      await first.waitReady();
      const n = 6_000;
      const now = Date.now();
      const published: Promise<unknown>[] = [];
      for (let i = 0; i < n; i++) {
        const e = observed(sli, now - (i % 600) * MINUTE_MS, 3, i % 3 === 0 ? 1 : 0);
        const { data, headers } = encodeStructured(e);
        published.push(f.js.publish(subjectOf(f.ns, e.type), data, { headers, msgID: e.id }));
      }
      await Promise.all(published);
      const { total: atKill } = await waitFor(
        async () => {
          const t = await totals(db);
          return t.total > 0 ? t : undefined;
        },
        { timeoutMs: 30_000, message: 'the engine to count something' },
      );
      await first.kill('SIGKILL');
      const afterKill = await totals(db);
      const second = ServiceProcess.start('slo-engine', env);
      try {
        await waitFor(async () => (await totals(db)).total === n * 3, {
          timeoutMs: 60_000,
          message: `all ${n} events counted (${n * 3} total)`,
        });
        expect(await totals(db)).toEqual({ good: n * 3 - n / 3, total: n * 3 });
        // The kill landed mid-stream: some counted before it, the rest after the restart.
        expect(atKill).toBeGreaterThan(0);
        expect(afterKill.total).toBeLessThan(n * 3);
      } finally {
        await second.kill('SIGTERM');
      }
    } finally {
      await db.destroy();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
