import { resultTypes, type VigilEvent } from '@vigil/events';

/**
 * The status service's read model: what the result streams say about the system, folded event by
 * event. Every fold is idempotent and keyed on the stream sequence (arrival in the stream, never
 * the sender's clock), so an event applied twice, or history applied again over a model loaded
 * from the archive, changes nothing: the replay at start, the durable consumer and the archive
 * can overlap freely.
 */

/** The types the status service reads: what services report. */
/** The result types the page folds: what every reader of results gets. */
export const statusTypes = resultTypes;
export type StatusType = (typeof statusTypes)[number];

/** A component's health; SKIPPED components are not shown. */
export type Health = 'PASS' | 'WARN' | 'FAIL';
const rank: Record<Health, number> = { PASS: 0, WARN: 1, FAIL: 2 };
export const healthOfRank = (r: number): Health => (r >= 2 ? 'FAIL' : r === 1 ? 'WARN' : 'PASS');
// Stryker disable next-line EqualityOperator: equivalent, of two equal ranks either is the same health
export const worse = (a: Health, b: Health): Health => (rank[a] >= rank[b] ? a : b);
export const rankOf = (h: Health): number => rank[h];

/** One day of one component: the worst status of the day and its scores (UTC days). */
export interface DayCell {
  /** YYYY-MM-DD (UTC). */
  readonly day: string;
  readonly worst: Health;
  readonly minScore: number;
  readonly lastScore: number;
  /** Stream sequence of the run behind `lastScore`. */
  readonly lastSeq: number;
}

export interface ComponentState {
  readonly suite: string;
  readonly name: string;
  readonly status: Health;
  readonly score: number;
  /** When the stream stored the run that set it. */
  readonly at: string;
  readonly seq: number;
  readonly runId: string;
}

export interface SuiteState {
  readonly name: string;
  /** The latest complete run's: partial runs speak for some components only. */
  readonly status: 'PASS' | 'WARN' | 'FAIL' | 'ERROR';
  readonly score: number;
  readonly at: string;
  readonly seq: number;
  readonly runId: string;
}

export interface Incident {
  /** slo, severity and the start of the firing: one incident per alert episode. */
  readonly key: string;
  readonly slo: string;
  readonly service: string;
  readonly severity: 'page' | 'ticket';
  readonly state: 'firing' | 'resolved';
  readonly since: string;
  readonly resolvedAt?: string;
  readonly explanation: string;
  readonly budgetRemaining: number;
  readonly seq: number;
  /** Of the event that set it (the dashboard links it to Jaeger). */
  readonly traceId?: string;
}

export interface Experiment {
  readonly experimentId: string;
  readonly kind: string;
  readonly targets: readonly string[];
  readonly state: 'running' | 'completed' | 'aborted';
  readonly startedAt: string;
  readonly endedAt?: string;
  readonly recovered?: boolean;
  readonly scoreBefore?: number;
  readonly scoreAfter?: number;
  readonly dryRun?: boolean;
  /** The safety gate's checks, as chaos.started carried them. */
  readonly gate?: readonly {
    readonly check: string;
    readonly passed: boolean;
    readonly value?: number | string | boolean | null;
  }[];
  readonly injectedAt?: string;
  readonly rolledBackAt?: string;
  readonly seq: number;
  /** Of the event that set it. */
  readonly traceId?: string;
}

export interface Anomaly {
  readonly series: string;
  readonly timestamp: string;
  readonly value: number;
  readonly likelihood: number;
  readonly threshold: number;
  /** The features that set the point apart, largest contribution first. */
  readonly features: readonly { readonly name: string; readonly contribution: number }[];
  readonly seq: number;
  readonly traceId?: string;
}

export interface ModelLimits {
  /** Components tracked; results for more are counted as refused. @default 2000 */
  readonly maxComponents: number;
  /** Days of history per component. @default 90 */
  readonly days: number;
  /** Incidents kept (open ones always; the oldest resolved go first). @default 500 */
  readonly maxIncidents: number;
  /** Experiments kept (running ones always; the oldest ended go first). @default 200 */
  readonly maxExperiments: number;
  /** Anomalies kept, the latest. @default 200 */
  readonly maxAnomalies: number;
}

export const defaultLimits: ModelLimits = {
  maxComponents: 2000,
  days: 90,
  maxIncidents: 500,
  maxExperiments: 200,
  maxAnomalies: 200,
};

export interface ReadModel {
  readonly limits: ModelLimits;
  readonly suites: Map<string, SuiteState>;
  /** Key: {@link componentKey}. */
  readonly components: Map<string, ComponentState>;
  /** Per component key, its days by YYYY-MM-DD. */
  readonly days: Map<string, Map<string, DayCell>>;
  readonly incidents: Map<string, Incident>;
  readonly experiments: Map<string, Experiment>;
  /** Key: the stream sequence (one per event). */
  readonly anomalies: Map<string, Anomaly>;
  /** The highest stream sequence applied. */
  lastSeq: number;
  /** Component results not tracked because of `maxComponents`. */
  refused: number;
}

export function createModel(limits: Partial<ModelLimits> = {}): ReadModel {
  return {
    limits: { ...defaultLimits, ...limits },
    suites: new Map(),
    components: new Map(),
    days: new Map(),
    incidents: new Map(),
    experiments: new Map(),
    anomalies: new Map(),
    lastSeq: 0,
    refused: 0,
  };
}

/** One key of several names, unambiguous whatever they hold (PostgreSQL text stores it too). */
export const keyOf = (...names: readonly string[]): string => JSON.stringify(names);
export const componentKey = (suite: string, name: string): string => keyOf(suite, name);
export const dayOf = (at: Date): string => at.toISOString().slice(0, 10);

/** What a fold changed, for the archive to store. */
export type Change =
  | { readonly kind: 'suite'; readonly value: SuiteState }
  | { readonly kind: 'component'; readonly value: ComponentState }
  | { readonly kind: 'day'; readonly suite: string; readonly component: string; readonly value: DayCell }
  | { readonly kind: 'incident'; readonly value: Incident }
  | { readonly kind: 'experiment'; readonly value: Experiment }
  | { readonly kind: 'anomaly'; readonly value: Anomaly };

/** An event as the stream holds it. */
export interface StoredEvent {
  readonly event: VigilEvent;
  readonly seq: number;
  readonly storedAt: Date;
}

/** Merges a day cell: worst and lowest over the day, last by stream order. */
export function mergeDay(a: DayCell | undefined, b: DayCell): DayCell {
  if (a === undefined) return b;
  // Stryker disable next-line EqualityOperator: equivalent, one sequence is one run, with one score
  const later = b.lastSeq > a.lastSeq ? b : a;
  return {
    day: a.day,
    worst: worse(a.worst, b.worst),
    minScore: Math.min(a.minScore, b.minScore),
    lastScore: later.lastScore,
    lastSeq: later.lastSeq,
  };
}

const sameDay = (a: DayCell | undefined, b: DayCell) =>
  a !== undefined && a.worst === b.worst && a.minScore === b.minScore && a.lastSeq === b.lastSeq;

/** Puts a day cell into the model (from a run or from the archive); true when it changed. */
export function putDay(
  m: ReadModel,
  suite: string,
  component: string,
  cell: DayCell,
  key = componentKey(suite, component),
): boolean {
  let days = m.days.get(key);
  if (days === undefined) m.days.set(key, (days = new Map<string, DayCell>()));
  const before = days.get(cell.day);
  const merged = mergeDay(before, cell);
  if (sameDay(before, merged)) return false;
  days.set(cell.day, merged);
  return true;
}

/** Puts a value keyed by stream sequence: kept when newer than what the map holds. */
function putNewer<V extends { readonly seq: number }>(map: Map<string, V>, key: string, v: V): boolean {
  const before = map.get(key);
  if (before !== undefined && before.seq >= v.seq) return false;
  map.set(key, v);
  return true;
}

export function putSuite(m: ReadModel, s: SuiteState): boolean {
  return putNewer(m.suites, s.name, s);
}

export function putComponent(m: ReadModel, c: ComponentState, key = componentKey(c.suite, c.name)): boolean {
  if (!m.components.has(key) && m.components.size >= m.limits.maxComponents) {
    m.refused++;
    return false;
  }
  return putNewer(m.components, key, c);
}

export function putIncident(m: ReadModel, i: Incident): boolean {
  const changed = putNewer(m.incidents, i.key, i);
  if (changed && m.incidents.size > m.limits.maxIncidents) evict(m.incidents, (x) => x.state === 'resolved');
  return changed;
}

export function putExperiment(m: ReadModel, e: Experiment): boolean {
  const before = m.experiments.get(e.experimentId);
  // An experiment's end outranks its start whatever the order they are seen in.
  if (before !== undefined && (before.seq >= e.seq || (before.state !== 'running' && e.state === 'running')))
    return false;
  m.experiments.set(e.experimentId, e);
  if (m.experiments.size > m.limits.maxExperiments) evict(m.experiments, (x) => x.state !== 'running');
  return true;
}

export function putAnomaly(m: ReadModel, a: Anomaly): boolean {
  const changed = putNewer(m.anomalies, String(a.seq), a);
  if (changed && m.anomalies.size > m.limits.maxAnomalies) evict(m.anomalies, () => true);
  return changed;
}

/** The gate's checks as an experiment keeps them (their messages are the chaos service's). */
function gateOf(gate: VigilEvent<'chaos.started'>['data']['gate']): Experiment['gate'] {
  return gate.map((g) => ({ check: g.check, passed: g.passed, ...(g.value === undefined ? {} : { value: g.value }) }));
}

/** The trace id in an event's `traceparent`, if it carries one. */
export function traceIdOf(e: VigilEvent): string | undefined {
  const tp = e.extensions['traceparent'];
  // Stryker disable next-line ConditionalExpression: equivalent, no number or boolean spells a traceparent
  return typeof tp === 'string' ? /^[\da-f]{2}-([\da-f]{32})-/.exec(tp)?.[1] : undefined;
}

/** Drops the entry of lowest sequence among those `may` allows (one at a time: called per insert). */
function evict<V extends { readonly seq: number }>(map: Map<string, V>, may: (v: V) => boolean): void {
  let oldest: [string, number] | undefined;
  // Stryker disable next-line EqualityOperator: equivalent, one event is one entry, so no two entries share a sequence
  for (const [k, v] of map) if (may(v) && (oldest === undefined || v.seq < oldest[1])) oldest = [k, v.seq];
  if (oldest !== undefined) map.delete(oldest[0]);
}

/** Drops days older than the model keeps, counted back from `now`'s day. */
export function pruneDays(m: ReadModel, now: Date): void {
  const first = dayOf(new Date(now.getTime() - (m.limits.days - 1) * 86_400_000));
  for (const days of m.days.values()) for (const d of days.keys()) if (d < first) days.delete(d);
}

/** Folds one stored event into the model; returns what changed (nothing for a repeat). */
// Over 60 lines: a reducer, one case per event type, each a few lines.
export function applyEvent(m: ReadModel, s: StoredEvent): Change[] {
  const changes: Change[] = [];
  m.lastSeq = Math.max(m.lastSeq, s.seq);
  const at = s.storedAt.toISOString();
  const e = s.event;
  const traceId = traceIdOf(e);
  const traced = traceId === undefined ? {} : { traceId };
  switch (e.type) {
    case 'validation.completed': {
      const d = e.data;
      if (d.status !== 'ERROR' && d.partial !== true) {
        const suite: SuiteState = { name: d.suite, status: d.status, score: d.score, at, seq: s.seq, runId: d.runId };
        if (putSuite(m, suite)) changes.push({ kind: 'suite', value: suite });
      }
      const day = dayOf(s.storedAt);
      for (const c of d.components) {
        // SKIPPED components are not shown. The registry gives a score to every other component, so
        // either test alone decides; both are there for the types.
        // Stryker disable next-line ConditionalExpression,LogicalOperator,StringLiteral: equivalent, see above
        if (c.status === 'SKIPPED' || c.score === undefined) continue;
        const comp: ComponentState = {
          suite: d.suite,
          name: c.name,
          status: c.status,
          score: c.score,
          at,
          seq: s.seq,
          runId: d.runId,
        };
        const key = componentKey(d.suite, c.name);
        if (putComponent(m, comp, key)) changes.push({ kind: 'component', value: comp });
        else if (!m.components.has(key)) continue; // refused: no room for another component
        const cell: DayCell = { day, worst: c.status, minScore: c.score, lastScore: c.score, lastSeq: s.seq };
        if (putDay(m, d.suite, c.name, cell, key)) {
          // Stryker disable next-line OptionalChaining: equivalent, putDay made the component's days
          const value = m.days.get(key)?.get(day) ?? cell;
          changes.push({ kind: 'day', suite: d.suite, component: c.name, value });
        }
      }
      break;
    }
    case 'slo.burn': {
      const d = e.data;
      const incident: Incident = {
        key: keyOf(d.slo, d.severity, d.since),
        slo: d.slo,
        service: d.service,
        severity: d.severity,
        state: d.state,
        since: d.since,
        ...(d.resolvedAt === undefined ? {} : { resolvedAt: d.resolvedAt }),
        explanation: d.explanation,
        budgetRemaining: d.budgetRemaining,
        seq: s.seq,
        ...traced,
      };
      if (putIncident(m, incident)) changes.push({ kind: 'incident', value: incident });
      break;
    }
    case 'chaos.started': {
      const d = e.data;
      const x: Experiment = {
        experimentId: d.experimentId,
        kind: d.kind,
        targets: d.targets.map((t) => t.name),
        state: 'running',
        startedAt: at,
        dryRun: d.dryRun,
        gate: gateOf(d.gate),
        seq: s.seq,
        ...traced,
      };
      if (putExperiment(m, x)) changes.push({ kind: 'experiment', value: x });
      break;
    }
    case 'chaos.completed': {
      const d = e.data;
      const before = m.experiments.get(d.experimentId);
      const x: Experiment = {
        experimentId: d.experimentId,
        kind: d.kind,
        targets: d.targets.map((t) => t.name),
        state: 'completed',
        startedAt: before?.startedAt ?? d.startedAt,
        endedAt: at,
        recovered: d.recovery.recovered,
        ...(d.scoreBefore === undefined ? {} : { scoreBefore: d.scoreBefore }),
        ...(d.scoreAfter === undefined ? {} : { scoreAfter: d.scoreAfter }),
        ...(d.injectedAt === undefined ? {} : { injectedAt: d.injectedAt }),
        ...(d.rolledBackAt === undefined ? {} : { rolledBackAt: d.rolledBackAt }),
        dryRun: d.dryRun,
        ...(before?.gate === undefined ? {} : { gate: before.gate }),
        seq: s.seq,
        ...traced,
      };
      if (putExperiment(m, x)) changes.push({ kind: 'experiment', value: x });
      break;
    }
    case 'chaos.aborted': {
      const d = e.data;
      // Without an experiment id the gate refused the request: nothing ran.
      if (d.experimentId === undefined) break;
      const before = m.experiments.get(d.experimentId);
      const x: Experiment = {
        experimentId: d.experimentId,
        kind: before?.kind ?? 'unknown',
        targets: d.targets?.map((t) => t.name) ?? before?.targets ?? [],
        state: 'aborted',
        startedAt: before?.startedAt ?? at,
        endedAt: at,
        ...(d.recovery === undefined ? {} : { recovered: d.recovery.recovered }),
        ...(d.rolledBackAt === undefined ? {} : { rolledBackAt: d.rolledBackAt }),
        gate: gateOf(d.gate),
        seq: s.seq,
        ...traced,
      };
      if (putExperiment(m, x)) changes.push({ kind: 'experiment', value: x });
      break;
    }
    case 'anomaly.detected': {
      const d = e.data;
      const a: Anomaly = {
        series: d.series,
        timestamp: d.timestamp,
        value: d.value,
        likelihood: d.likelihood ?? d.score,
        threshold: d.threshold,
        features: [...d.features].sort((x, y) => y.contribution - x.contribution).slice(0, 5),
        seq: s.seq,
        ...traced,
      };
      if (putAnomaly(m, a)) changes.push({ kind: 'anomaly', value: a });
      break;
    }
    // Stryker disable next-line ConditionalExpression: equivalent, every other type falls through to nothing
    default:
      break;
  }
  return changes;
}
