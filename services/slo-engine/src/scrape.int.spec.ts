import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { silentLogger } from '@vigil/events';
import { migrateOutbox } from '@vigil/outbox';
import { createDb } from '@vigil/service-kit';
import { createTestDatabase, freePort, waitFor } from '@vigil/testkit';
import { parseSlo, type SloConfig } from './config/slo.js';
import { scrapeOnce, scrapedSlos, startScrapes, type ScrapeDeps } from './scrape.js';
import { sloStatuses } from './service.js';
import { migrateSlo, type SloDatabase } from './store.js';

const databaseUrl = inject('databaseUrl');

/** An endpoint like any service's /metrics, whose counters and answer the test sets. */
let server: Server;
let base: string;
const page = { ok: 0, failed: 0, status: 200, body: undefined as string | undefined };
beforeAll(async () => {
  server = createServer((_req, res) => {
    const text =
      page.body ??
      [
        '# HELP http_requests_total Requests served.',
        '# TYPE http_requests_total counter',
        `http_requests_total{code="200"} ${page.ok}`,
        `http_requests_total{code="503"} ${page.failed}`,
        '',
      ].join('\n');
    res.writeHead(page.status, { 'content-type': 'text/plain; version=0.0.4' }).end(text);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const sloAt = (url: string, interval = '15s'): SloConfig =>
  parseSlo(
    `name: api\nservice: shop\nobjective: 99\nwindow: 1d\nsli:\n  prometheus:\n    url: ${url}\n    total: http_requests_total\n    errors: http_requests_total{code=~"5.."}\n    interval: ${interval}\n    timeout: 2s\n`,
    'api.yaml',
  );

async function buckets(db: Kysely<SloDatabase>): Promise<{ good: number; total: number }[]> {
  const r = await sql<{ good: number; total: number }>`
    select good::float8 as good, total::float8 as total from slo.buckets order by minute`.execute(db);
  return r.rows;
}

describe('scraped SLIs', () => {
  it('counts what the counters grew by between scrapes (resets too), once across instances; a failing endpoint counts nothing and says why', async () => {
    await using database = await createTestDatabase(databaseUrl, 'scrape');
    const { db } = createDb<SloDatabase>(database.url);
    try {
      await migrateOutbox(db);
      await migrateSlo(db);
      const slo = sloAt(`${base}/metrics`);
      const { source } = scrapedSlos([slo])[0]!;
      let now = Date.parse('2026-12-02T10:00:05Z');
      const deps: ScrapeDeps = { db, logger: silentLogger, clock: () => new Date(now) };
      Object.assign(page, { ok: 5000, failed: 10, status: 200, body: undefined });

      // The first reading is the baseline: what the counters held before is not this SLO's.
      expect(await scrapeOnce(deps, slo, source)).toBe('ok');
      expect(await buckets(db)).toEqual([]);
      page.ok += 980;
      page.failed += 20;
      now += 15_000;
      // Two instances at once: one counts, the other finds it just done.
      expect((await Promise.all([scrapeOnce(deps, slo, source), scrapeOnce(deps, slo, source)])).sort()).toEqual([
        'ok',
        'skipped',
      ]);
      expect(await buckets(db)).toEqual([{ good: 980, total: 1000 }]);

      // The process behind the endpoint restarted: its counters began again.
      Object.assign(page, { ok: 40, failed: 2 });
      now += 15_000;
      expect(await scrapeOnce(deps, slo, source)).toBe('ok');
      expect(await buckets(db)).toEqual([{ good: 1020, total: 1042 }]);

      // Failing: an error status, a page without the counter, nothing listening. Nothing counted,
      // and /slos says why.
      const deps2 = { ...deps, slos: new Map([['api', slo]]), js: undefined as never, ns: undefined as never };
      for (const [setup, why] of [
        [() => Object.assign(page, { status: 500 }), `${base}/metrics answered 500`],
        [
          () => Object.assign(page, { status: 200, body: '<html>login</html>' }),
          `${base}/metrics has no sample of http_requests_total`,
        ],
      ] as const) {
        setup();
        page.failed += 1000;
        now += 15_000;
        expect(await scrapeOnce(deps, slo, source)).toBe('failed');
        const [status] = await sloStatuses(deps2, ['api']);
        expect(status!.scrape).toMatchObject({
          url: `${base}/metrics`,
          error: why,
          errorAt: new Date(now).toISOString(),
        });
      }
      const closed = `http://127.0.0.1:${await freePort()}/metrics`;
      const away = sloAt(closed);
      expect(await scrapeOnce(deps, away, scrapedSlos([away])[0]!.source)).toBe('failed');
      expect((await sloStatuses({ ...deps2, slos: new Map([['api', away]]) }, ['api']))[0]!.scrape?.error).toMatch(
        /^http:\/\/127\.0\.0\.1:\d+\/metrics not reachable: /,
      );
      expect(await buckets(db)).toEqual([{ good: 1020, total: 1042 }]);

      // Back: the growth since the last good reading counts (the 2000 failures while it failed).
      Object.assign(page, { status: 200, body: undefined });
      page.ok += 100;
      now += 15_000;
      expect(await scrapeOnce(deps, slo, source)).toBe('ok');
      const [recovered] = await sloStatuses(deps2, ['api']);
      expect(recovered!.scrape).toMatchObject({
        error: null,
        errorAt: null,
        lastScrapeAt: new Date(now).toISOString(),
      });
      const all = await buckets(db);
      expect(all.reduce((n, b) => n + b.total, 0)).toBe(1042 + 2100);
      expect(all.reduce((n, b) => n + b.total - b.good, 0)).toBe(22 + 2000);
    } finally {
      await db.destroy();
    }
  });

  it('startScrapes keeps scraping on the interval until stopped, and counts every increase once', async () => {
    await using database = await createTestDatabase(databaseUrl, 'scrapeloop');
    const { db } = createDb<SloDatabase>(database.url);
    try {
      await migrateOutbox(db);
      await migrateSlo(db);
      Object.assign(page, { ok: 0, failed: 0, status: 200, body: undefined });
      const outcomes: string[] = [];
      const running = startScrapes({ db, logger: silentLogger, onScraped: (_s, o) => outcomes.push(o) }, [
        sloAt(`${base}/metrics`, '1s'),
      ]);
      try {
        // The baseline first, then three increases, each followed by two scrapes (the second
        // began after the increase, whatever the first had read).
        await waitFor(() => outcomes.length >= 1, { message: 'the baseline scrape' });
        for (let i = 0; i < 3; i++) {
          page.ok += 10;
          page.failed += 1;
          const seen = outcomes.length;
          await waitFor(() => outcomes.length >= seen + 2, { timeoutMs: 5000, message: 'two scrapes a second apart' });
        }
      } finally {
        await running.stop();
      }
      expect(outcomes.every((o) => o === 'ok')).toBe(true);
      const all = await buckets(db);
      expect([all.reduce((n, b) => n + b.total, 0), all.reduce((n, b) => n + b.total - b.good, 0)]).toEqual([33, 3]);
    } finally {
      await db.destroy();
    }
  });
});
