import type { JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Kysely } from 'kysely';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import {
  createEvent,
  replay,
  consumers,
  type EventData,
  type Logger,
  type Namespace,
  type RunningConsumer,
  type VigilEvent,
  VigilError,
} from '@vigil/events';
import { consumeIdempotent, createOutbox, perTransaction } from '@vigil/outbox';
import { everyMinute, formatDuration } from '@vigil/service-kit';
import type { SloConfig } from './config/slo.js';
import { decide, evaluationWindows, readSlo, windowsOf, type SloReading, type Transition } from './core/burn.js';
import { checkHistoryRequest, resolutionOf, sloHistory, type SloHistory } from './core/history.js';
import { openEpisodes, orphanReason, orphanResolution, type OpenEpisode, type OrphanReason } from './core/orphans.js';
import { MINUTE_MS, observe, type Observation } from './core/sli.js';
import { scrapeStates } from './scrape.js';
import {
  addObservations,
  allFiring,
  claimEvaluation,
  claimOrphan,
  firingAlerts,
  heldAlert,
  historyBins,
  pruneBuckets,
  saveFiring,
  windowCounts,
  type SloDatabase,
} from './store.js';

/**
 * The slo-engine's durable consumer. It reads every type, so that an SLO file naming a new event
 * type needs no change to the consumer; events no SLO uses only pass through the inbox.
 */
export const SLO_CONSUMER = consumers.sloEngine;

const SOURCE = 'vigil/slo-engine';

export interface SloEngineDeps {
  readonly db: Kysely<SloDatabase>;
  readonly js: JetStreamClient;
  readonly ns: Namespace;
  readonly slos: ReadonlyMap<string, SloConfig>;
  readonly logger: Logger;
  /** @default () => new Date() */
  readonly clock?: () => Date;
  /** Called after each SLO's evaluation (metrics). */
  readonly onEvaluated?: (slo: SloConfig, reading: SloReading, firing: number) => void;
  /** Called once an event's counts are committed, with what it added (metrics). */
  readonly onCounted?: (observations: readonly Observation[]) => void;
}

const now = (deps: SloEngineDeps) => (deps.clock ?? (() => new Date()))();

/** Counts every event into the minute buckets of the SLOs it feeds, once per event. */
export function startIngest(deps: SloEngineDeps, o: { concurrency?: number } = {}): Promise<RunningConsumer> {
  const slos = [...deps.slos.values()];
  // Worked out once per event, when deciding whether to skip it, and written by the handler: the
  // same observations (and the same "now") whichever runs, however often the handler is retried.
  const observed = new WeakMap<VigilEvent, Observation[]>();
  const observationsOf = (event: VigilEvent) => {
    let o = observed.get(event);
    if (o === undefined) {
      o = observe(slos, event, now(deps).getTime());
      observed.set(event, o);
    }
    return o;
  };
  const gathered = perTransaction<SloDatabase, Observation[]>(() => []);
  return consumeIdempotent({
    js: deps.js,
    db: deps.db,
    ns: deps.ns,
    spec: SLO_CONSUMER,
    logger: deps.logger,
    concurrency: o.concurrency ?? 64,
    // Counting is a few row updates: alone, each event's round trips and commit would cost far more
    // than it. A minute's buckets are evaluated seconds after it ends, so waiting 50 ms is free.
    groupCommit: { lingerMs: 50 },
    // Most events feed no SLO: no transaction for them.
    skip: (event) => observationsOf(event).length === 0,
    handler: async (tx, event) => {
      gathered.of(tx).push(...observationsOf(event));
    },
    // A group of events adds to each bucket row once.
    beforeCommit: async (tx) => {
      await addObservations(tx, gathered.take(tx) ?? []);
    },
    // Committed, and first: a redelivered event is not counted again.
    afterCommit: async (event) => {
      deps.onCounted?.(observationsOf(event));
    },
  });
}

export interface EvaluationResult {
  readonly slo: string;
  readonly reading: SloReading;
  readonly transitions: readonly Transition[];
}

/**
 * Evaluates every SLO at `at` (a minute boundary: the windows end there): burn rates, then alert
 * transitions, each SLO in its own transaction that locks its evaluation row, stores the firing
 * alerts and writes `slo.burn` to the outbox. A minute already evaluated (by another instance, or
 * before a restart) is skipped, so an alert is emitted once.
 */
export async function evaluateAt(deps: SloEngineDeps, at: Date): Promise<EvaluationResult[]> {
  const outbox = createOutbox({ ns: deps.ns });
  const results: EvaluationResult[] = [];
  const tracer = trace.getTracer('vigil-slo-engine');
  for (const slo of deps.slos.values()) {
    await tracer.startActiveSpan(`slo evaluate ${slo.name}`, async (span) => {
      try {
        const r = await deps.db.transaction().execute(async (tx) => {
          if (!(await claimEvaluation(tx, slo.name, at))) return undefined;
          const counts = await windowCounts(tx, slo.name, evaluationWindows(slo), at);
          const reading = readSlo(slo, (ms) => counts.get(ms) ?? { good: 0, total: 0 });
          const decision = decide(slo, reading, await firingAlerts(tx, slo.name), at.getTime());
          await saveFiring(tx, slo.name, decision.firing);
          for (const t of decision.transitions) {
            await outbox.add(tx, burnEvent(slo, reading, t, at));
          }
          return { slo: slo.name, reading, transitions: decision.transitions, firing: decision.firing.size };
        });
        if (r === undefined) return;
        span.setAttribute('vigil.slo.transitions', r.transitions.length);
        for (const t of r.transitions) {
          deps.logger.info(
            { slo: slo.name, state: t.state, severity: t.severity, repeat: t.repeat },
            `slo.burn ${t.state}: ${t.explanation}`,
          );
        }
        deps.onEvaluated?.(slo, r.reading, r.firing);
        results.push(r);
      } catch (e) {
        span.recordException(e as Error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: (e as Error).message });
        throw e;
      } finally {
        span.end();
      }
    });
  }
  return results;
}

export interface ResolvedOrphan {
  readonly episode: OpenEpisode;
  readonly reason: OrphanReason;
}

/**
 * Resolves the alert episodes that the stream says fire but no evaluation of this engine will
 * ever resolve: those of SLOs no longer configured, and those its database does not know (a new
 * one, or one restored from before they fired). Without this, every reader of `slo.burn` (the
 * status page, a pager bridge) would keep them open for as long as the stream keeps them. Run at
 * start, before evaluations; each resolution is written once through the outbox.
 */
export async function resolveOrphanedAlerts(
  deps: SloEngineDeps & { readonly nc: NatsConnection },
): Promise<ResolvedOrphan[]> {
  const burns: { data: EventData<'slo.burn'>; time: string }[] = [];
  for await (const r of replay(deps.nc, {
    start: { from: 'beginning' },
    types: ['slo.burn'],
    ns: deps.ns,
    logger: deps.logger,
  })) {
    burns.push({ data: r.event.data, time: r.event.time ?? r.storedAt.toISOString() });
  }
  const outbox = createOutbox({ ns: deps.ns });
  const resolved: ResolvedOrphan[] = [];
  for (const episode of openEpisodes(burns)) {
    const at = now(deps);
    const reason = await deps.db.transaction().execute(async (tx) => {
      const held = await heldAlert(tx, episode.slo, episode.severity);
      const why = orphanReason(episode, { configured: deps.slos.has(episode.slo), ...held });
      if (why === undefined || !(await claimOrphan(tx, episode, at))) return undefined;
      const data = orphanResolution(episode, why, at.getTime());
      await outbox.add(
        tx,
        createEvent('slo.burn', data, { source: SOURCE, subject: episode.slo, time: at.toISOString() }),
      );
      return why;
    });
    if (reason === undefined) continue;
    deps.logger.warn(
      { slo: episode.slo, severity: episode.severity, since: episode.last.since, reason },
      'slo.burn resolved: an alert left firing that this engine does not hold',
    );
    resolved.push({ episode, reason });
  }
  return resolved;
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

function burnEvent(slo: SloConfig, reading: SloReading, t: Transition, at: Date) {
  const data: EventData<'slo.burn'> = {
    slo: slo.name,
    service: slo.service,
    state: t.state,
    severity: t.severity,
    objective: slo.objective,
    windows: t.tiers.map((x) => ({
      long: formatDuration(x.long),
      short: formatDuration(x.short),
      burnRateLong: round(x.burnRateLong, 4),
      burnRateShort: round(x.burnRateShort, 4),
      threshold: x.burnRate,
    })),
    budgetRemaining: Math.min(1, round(reading.budget.remainingFraction, 6)),
    explanation: t.explanation,
    since: new Date(t.since).toISOString(),
    ...(t.resolvedAt === undefined ? {} : { resolvedAt: new Date(t.resolvedAt).toISOString() }),
  };
  return createEvent('slo.burn', data, { source: SOURCE, subject: slo.name, time: at.toISOString() });
}

/**
 * Evaluates at every minute boundary, `graceMs` after it so that events of the minute that just
 * ended can still arrive; once an hour prunes buckets older than twice the longest window (a
 * history of that window reads one more window before its first point). Returns stop().
 */
export function scheduleEvaluations(deps: SloEngineDeps, o: { graceMs?: number } = {}): () => Promise<void> {
  const longest = Math.max(...[...deps.slos.values()].map((s) => s.window));
  return everyMinute(
    async (end) => {
      await evaluateAt(deps, end);
      if (end.getTime() % 3_600_000 === 0) {
        const pruned = await pruneBuckets(deps.db, new Date(end.getTime() - 2 * longest - MINUTE_MS));
        if (pruned > 0) deps.logger.info({ pruned }, 'pruned buckets outside every window and history');
      }
    },
    { graceMs: o.graceMs ?? 2_000, clock: () => now(deps), logger: deps.logger, what: 'evaluation' },
  );
}

/** One SLO as `GET /slos` shows it. */
export interface SloStatus {
  name: string;
  service: string;
  description?: string | undefined;
  objective: number;
  window: string;
  /** Windows end at this time (the end of the current minute). */
  evaluatedAt: string;
  budget: {
    allowed: number;
    consumed: number;
    remaining: number;
    consumedPercent: number;
    remainingPercent: number;
  };
  burnRates: { window: string; burnRate: number; good: number; total: number }[];
  tiers: {
    severity: string;
    long: string;
    short: string;
    threshold: number;
    burnRateLong: number;
    burnRateShort: number;
    holds: boolean;
  }[];
  alerts: { severity: string; since: string; lastNotifiedAt: string }[];
  /**
   * A scraped SLI's source: when it was last read, and while scrapes fail, why (nothing is
   * counted meanwhile, so a failing endpoint never reads as good).
   */
  scrape?: { url: string; lastScrapeAt: string | null; error: string | null; errorAt: string | null };
}

/** Steps a history takes by default: the shortest giving at most 720 points. */
const historySteps = [1, 5, 15, 30, 60, 120, 360, 720, 1440].map((m) => m * MINUTE_MS);

/**
 * `slo`'s budget and burn rates over the `rangeMs` before the end of the current minute, a point
 * every `stepMs` (default: the shortest of 1m … 1d giving at most 720 points). A request too large
 * is a {@link HistoryRequestError} naming what to change.
 */
export async function sloHistoryOf(
  deps: SloEngineDeps,
  slo: SloConfig,
  o: { rangeMs?: number | undefined; stepMs?: number | undefined } = {},
): Promise<SloHistory> {
  const to = Math.floor(now(deps).getTime() / MINUTE_MS) * MINUTE_MS + MINUTE_MS;
  const rangeMs = o.rangeMs ?? slo.window;
  const stepMs = o.stepMs ?? historySteps.find((s) => rangeMs / s <= 720) ?? historySteps.at(-1)!;
  const request = { to, rangeMs, stepMs };
  const problem = checkHistoryRequest(slo, request);
  if (problem !== undefined) throw new HistoryRequestError(problem);
  const from = to - rangeMs - Math.max(...windowsOf(slo));
  const bins = await historyBins(deps.db, slo.name, new Date(from), new Date(to), resolutionOf(slo, stepMs));
  return sloHistory(slo, bins, request);
}

/** A history request that cannot be served as asked (answered 400). */
export class HistoryRequestError extends VigilError {
  readonly code = 'HISTORY_REQUEST_INVALID';
}

/** The current state of every SLO (or of `names`), counting the current minute so far. */
export async function sloStatuses(deps: SloEngineDeps, names?: readonly string[]): Promise<SloStatus[]> {
  const end = new Date(Math.floor(now(deps).getTime() / MINUTE_MS) * MINUTE_MS + MINUTE_MS);
  const alerts = await allFiring(deps.db);
  const scrapes = await scrapeStates(deps.db);
  const selected = [...deps.slos.values()].filter((s) => names === undefined || names.includes(s.name));
  return Promise.all(
    selected.map(async (slo) => {
      const counts = await windowCounts(deps.db, slo.name, evaluationWindows(slo), end);
      const r = readSlo(slo, (ms) => counts.get(ms) ?? { good: 0, total: 0 });
      return {
        name: slo.name,
        service: slo.service,
        ...(slo.description === undefined ? {} : { description: slo.description }),
        objective: slo.objective,
        window: formatDuration(slo.window),
        evaluatedAt: end.toISOString(),
        budget: {
          allowed: round(r.budget.allowed, 3),
          consumed: r.budget.consumed,
          remaining: round(r.budget.remaining, 3),
          consumedPercent: round(r.budget.consumedFraction * 100, 4),
          remainingPercent: round(r.budget.remainingFraction * 100, 4),
        },
        burnRates: r.windows.map((w) => ({
          window: formatDuration(w.windowMs),
          burnRate: round(w.burnRate, 4),
          good: w.good,
          total: w.total,
        })),
        tiers: r.tiers.map((t) => ({
          severity: t.severity,
          long: formatDuration(t.long),
          short: formatDuration(t.short),
          threshold: t.burnRate,
          burnRateLong: round(t.burnRateLong, 4),
          burnRateShort: round(t.burnRateShort, 4),
          holds: t.holds,
        })),
        alerts: alerts
          .filter((a) => a.slo === slo.name)
          .map((a) => ({
            severity: a.severity,
            since: a.since.toISOString(),
            lastNotifiedAt: a.last_notified_at.toISOString(),
          })),
        ...('prometheus' in slo.sli
          ? {
              scrape: {
                url: slo.sli.prometheus.url,
                ...(scrapes.get(slo.name) ?? { lastScrapeAt: null, error: null, errorAt: null }),
              },
            }
          : {}),
      };
    }),
  );
}
