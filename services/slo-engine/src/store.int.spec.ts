import { sql } from 'kysely';
import { describe, expect, inject, it } from 'vitest';
import { createDb } from '@vigil/service-kit';
import { createTestDatabase } from '@vigil/testkit';
import { parseSlo } from './config/slo.js';
import { readSlo, windowsOf } from './core/burn.js';
import { resolutionOf, sloHistory } from './core/history.js';
import { MINUTE_MS } from './core/sli.js';
import { migrateSchema } from '@vigil/outbox';
import { BUCKET_PARTITIONS, historyBins, migrateSlo, sloMigrations, windowCounts, type SloDatabase } from './store.js';

const databaseUrl = inject('databaseUrl');

describe('history bins in PostgreSQL', () => {
  it('every point of a history equals an evaluation at that point, whatever the bins and tails', async () => {
    await using database = await createTestDatabase(databaseUrl, 'slohist');
    const { db } = createDb<SloDatabase>(database.url);
    try {
      await migrateSlo(db);
      const tiers = {
        default: '',
        // 90m is longer than an hour and not a multiple of it: bins of 30 minutes.
        odd: 'alerting: { tiers: [{ severity: page, long: 90m, short: 5m, burnRate: 2 }, { severity: ticket, long: 6h, short: 45m, burnRate: 1.5 }] }\n',
      };
      const to = Date.UTC(2026, 11, 1, 12, 7);
      for (const [name, t] of Object.entries(tiers)) {
        const def = parseSlo(
          `name: ${name}\nservice: s\nobjective: 99\nwindow: 1d\nsli: { observed: { sli: ${name} } }\n${t}`,
          `${name}.yaml`,
        );
        // Two days of minutes with errors that move in and out of every window (and a gap).
        await sql`
          insert into slo.buckets (slo, minute, good, total)
          select ${name}, ${new Date(to)}::timestamptz - (i * interval '1 minute'),
                 100 - ((i * 7919) % 13) * (case when i % 97 < 9 then 3 else 0 end), 100
          from generate_series(1, 2 * 1440) as i where i % 211 <> 0`.execute(db);
        for (const stepMs of [5, 60, 90, 1440].map((m) => m * MINUTE_MS)) {
          const request = { to, rangeMs: 1440 * MINUTE_MS, stepMs };
          const res = resolutionOf(def, stepMs);
          const from = to - request.rangeMs - Math.max(...windowsOf(def));
          const bins = await historyBins(db, name, new Date(from), new Date(to), res);
          const h = sloHistory(def, bins, request);
          expect(h.times.length, `${name} step ${stepMs / MINUTE_MS}m`).toBe(
            Math.floor(1440 / (stepMs / MINUTE_MS)) + 1,
          );
          for (const [i, at] of h.times.entries()) {
            const counts = await windowCounts(db, name, windowsOf(def), new Date(at));
            const expected = readSlo(def, (w) => counts.get(w) ?? { good: 0, total: 0 });
            const where = `${name}, step ${stepMs / MINUTE_MS}m (bins ${res.binMs / MINUTE_MS}m), point ${new Date(at).toISOString()}`;
            expect(h.budgetRemaining[i], where).toBeCloseTo(expected.budget.remainingFraction, 9);
            for (const [k, series] of Object.entries(h.burnRates)) {
              const w = expected.windows[Object.keys(h.burnRates).indexOf(k)];
              expect(series[i], `${where}, window ${k}`).toBeCloseTo(w?.burnRate ?? NaN, 9);
            }
          }
        }
      }
    } finally {
      await db.destroy();
    }
  });

  it("an upgrade moves every bucket into the partitioned table, and the ingest's upsert still adds up", async () => {
    await using database = await createTestDatabase(databaseUrl, 'slopart');
    const { db } = createDb<SloDatabase>(database.url);
    try {
      const before = Object.fromEntries(Object.entries(sloMigrations).filter(([k]) => k < '0003'));
      await migrateSchema(db, 'slo', before);
      await sql`
        insert into slo.buckets (slo, minute, good, total)
        select 'slo-' || s, timestamptz '2026-11-01' + i * interval '1 minute', i % 5, 5
        from generate_series(1, 1000) as i, generate_series(1, 20) as s`.execute(db);
      expect(await migrateSlo(db)).toEqual(Object.keys(sloMigrations).filter((k) => k >= '0003'));
      expect(Object.keys(sloMigrations)).toContain('0003_buckets_by_slo');
      const parts = await sql<{ n: number }>`
        select count(*)::int as n from pg_inherits where inhparent = 'slo.buckets'::regclass`.execute(db);
      expect(parts.rows[0]?.n).toBe(BUCKET_PARTITIONS);
      const sums = await sql<{ n: number; good: number; total: number }>`
        select count(*)::int as n, sum(good)::float8 as good, sum(total)::float8 as total from slo.buckets`.execute(db);
      expect(sums.rows[0]).toEqual({ n: 20_000, good: 20 * 2000, total: 100_000 });
      // The ingest's upsert on the partitioned table.
      await sql`
        insert into slo.buckets (slo, minute, good, total) values ('slo-3', timestamptz '2026-11-01' + interval '1 minute', 2, 3)
        on conflict (slo, minute) do update set good = slo.buckets.good + excluded.good, total = slo.buckets.total + excluded.total`.execute(
        db,
      );
      const one = await sql<{ good: number; total: number }>`
        select good::float8, total::float8 from slo.buckets where slo = 'slo-3' and minute = timestamptz '2026-11-01' + interval '1 minute'`.execute(
        db,
      );
      expect(one.rows[0]).toEqual({ good: 3, total: 8 });
      expect((await sql`select to_regclass('slo.buckets_0001') as t`.execute(db)).rows[0]).toEqual({ t: null });
    } finally {
      await db.destroy();
    }
  });
});
