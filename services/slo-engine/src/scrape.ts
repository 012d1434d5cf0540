import { sql, type Kysely } from 'kysely';
import parsePrometheusText from 'parse-prometheus-text-format';
import type { Logger } from '@vigil/events';
import type { SloConfig } from './config/slo.js';
import { countsBetween, sumMatching, type CounterReading, type MetricFamily } from './core/scrape.js';
import { MINUTE_MS } from './core/sli.js';
import { addObservations, type SloDatabase } from './store.js';
import { VigilError } from '@vigil/events';

/** A page of metrics larger than this is refused rather than parsed. */
const MAX_BODY_BYTES = 16 * 1024 * 1024;

export interface ScrapeDeps {
  readonly db: Kysely<SloDatabase>;
  readonly logger: Logger;
  /** @default () => new Date() */
  readonly clock?: () => Date;
  /** Called after each scrape: `ok`, `skipped` (another instance scraped just before) or `failed`. */
  readonly onScraped?: (slo: string, outcome: 'ok' | 'skipped' | 'failed') => void;
}

type PrometheusSli = Extract<SloConfig['sli'], { prometheus: unknown }>['prometheus'];

/** The SLOs whose SLI is scraped, with their scrape settings. */
export function scrapedSlos(slos: Iterable<SloConfig>): { slo: SloConfig; source: PrometheusSli }[] {
  return [...slos].flatMap((slo) => ('prometheus' in slo.sli ? [{ slo, source: slo.sli.prometheus }] : []));
}

/** Why a scrape gave no reading: said in /slos and the log, and nothing is counted. */
export class ScrapeError extends VigilError {
  readonly code = 'SCRAPE_FAILED';
}

/** The counters' readings at `source.url` now. */
export async function readCounters(source: PrometheusSli): Promise<CounterReading> {
  let r: Response;
  try {
    r = await fetch(source.url, {
      signal: AbortSignal.timeout(source.timeout),
      headers: { accept: 'text/plain;version=0.0.4;q=0.9, application/openmetrics-text;q=0.5, */*;q=0.1' },
    });
  } catch (e) {
    const why =
      e instanceof Error && e.name === 'TimeoutError' ? `no answer within ${source.timeout} ms` : (e as Error).message;
    throw new ScrapeError(`${source.url} not reachable: ${why}`);
  }
  if (!r.ok) throw new ScrapeError(`${source.url} answered ${r.status}`);
  const length = Number(r.headers.get('content-length') ?? 0);
  if (length > MAX_BODY_BYTES)
    throw new ScrapeError(`${source.url} answered ${length} bytes (at most ${MAX_BODY_BYTES})`);
  const text = await r.text();
  if (text.length > MAX_BODY_BYTES) throw new ScrapeError(`${source.url} answered over ${MAX_BODY_BYTES} bytes`);
  let families: MetricFamily[];
  try {
    families = parsePrometheusText(text) as MetricFamily[];
  } catch (e) {
    throw new ScrapeError(`${source.url} is not the Prometheus text format: ${(e as Error).message}`);
  }
  try {
    const total = sumMatching(families, source.total);
    // A page without the total counter is a wrong URL or a renamed metric, not zero traffic.
    if (total.samples === 0) throw new ScrapeError(`${source.url} has no sample of ${source.total.text}`);
    const part = sumMatching(families, (source.errors ?? source.good)!);
    return { part: part.sum, total: total.sum };
  } catch (e) {
    if (e instanceof ScrapeError) throw e;
    throw new ScrapeError(`${source.url}: ${(e as Error).message}`);
  }
}

/**
 * One scrape of `slo`: reads the counters, then, under the SLO's row lock, adds what they grew by
 * since the last reading (by any instance, before a restart too) to the current minute. An
 * instance that finds the row read less than half an interval ago leaves it: another instance
 * scrapes too. A failed scrape counts nothing and is recorded on the row for /slos.
 */
export async function scrapeOnce(
  deps: ScrapeDeps,
  slo: SloConfig,
  source: PrometheusSli,
): Promise<'ok' | 'skipped' | 'failed'> {
  const now = (deps.clock ?? (() => new Date()))();
  let reading: CounterReading;
  try {
    reading = await readCounters(source);
  } catch (e) {
    const message = e instanceof ScrapeError ? e.message : `scrape failed: ${(e as Error).message}`;
    deps.logger.warn({ slo: slo.name, err: message }, 'scrape failed: nothing counted');
    await sql`insert into slo.scrapes (slo, error, error_at) values (${slo.name}, ${message}, ${now})
              on conflict (slo) do update set error = excluded.error, error_at = excluded.error_at`.execute(deps.db);
    return 'failed';
  }
  return deps.db.transaction().execute(async (tx) => {
    await sql`insert into slo.scrapes (slo) values (${slo.name}) on conflict do nothing`.execute(tx);
    const row = await tx
      .selectFrom('slo.scrapes')
      .select(['scraped_at', 'part', 'total'])
      .where('slo', '=', slo.name)
      .forUpdate()
      .executeTakeFirstOrThrow();
    if (row.scraped_at !== null && now.getTime() - row.scraped_at.getTime() < source.interval / 2) return 'skipped';
    if (row.part !== null && row.total !== null) {
      const counts = countsBetween(
        source.errors === undefined ? 'good' : 'bad',
        { part: row.part, total: row.total },
        reading,
      );
      if (counts !== undefined) {
        const minute = Math.floor(now.getTime() / MINUTE_MS) * MINUTE_MS;
        await addObservations(tx, [{ slo: slo.name, minute, ...counts }]);
      }
    }
    await tx
      .updateTable('slo.scrapes')
      .set({ scraped_at: now, part: reading.part, total: reading.total, error: null })
      .where('slo', '=', slo.name)
      .execute();
    return 'ok';
  });
}

/** Scrapes every scraped SLO on its own interval until stopped. */
export function startScrapes(deps: ScrapeDeps, slos: Iterable<SloConfig>): { stop(): Promise<void> } {
  let stopped = false;
  const timers = new Set<NodeJS.Timeout>();
  const running = new Set<Promise<unknown>>();
  for (const { slo, source } of scrapedSlos(slos)) {
    const tick = () => {
      const p = scrapeOnce(deps, slo, source)
        .then((outcome) => deps.onScraped?.(slo.name, outcome))
        .catch((e: unknown) => {
          // The database is away: the next scrape adds what this one would have.
          deps.logger.warn({ slo: slo.name, err: e }, 'scrape not stored');
          deps.onScraped?.(slo.name, 'failed');
        })
        .finally(() => {
          running.delete(p);
          if (stopped) return;
          const t = setTimeout(() => {
            timers.delete(t);
            tick();
          }, source.interval);
          timers.add(t);
        });
      running.add(p);
    };
    tick();
  }
  return {
    async stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      await Promise.all([...running]);
    },
  };
}

/** What /slos says of a scraped SLI: when it was last read, and the last failure while failing. */
export async function scrapeStates(
  db: Kysely<SloDatabase>,
): Promise<Map<string, { lastScrapeAt: string | null; error: string | null; errorAt: string | null }>> {
  const rows = await db.selectFrom('slo.scrapes').select(['slo', 'scraped_at', 'error', 'error_at']).execute();
  return new Map(
    rows.map((r) => [
      r.slo,
      {
        lastScrapeAt: r.scraped_at?.toISOString() ?? null,
        error: r.error,
        errorAt: r.error === null ? null : (r.error_at?.toISOString() ?? null),
      },
    ]),
  );
}
