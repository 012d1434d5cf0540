import type { EventData } from '@vigil/events';
import type { Plan } from './plan.js';
import { wallClock } from './wallclock.js';

/** The safety policy (config/chaos.yaml `policy`), with the seed's defaults. */
export interface Policy {
  /** The latest validation score must be at least this. @default 8 */
  readonly minScore: number;
  /** …and no older than this. @default 30 minutes */
  readonly maxScoreAgeMs: number;
  /** Every SLO must have at least this share of its error budget left, in percent. @default 20 */
  readonly minBudgetPercent: number;
  /** Only containers labelled `optInLabel=true` may be targets. @default true */
  readonly requireOptIn: boolean;
  /** @default vigil.chaos/enabled */
  readonly optInLabel: string;
  /** A container labelled `protectedLabel=true` is never a target. @default vigil.chaos/protected */
  readonly protectedLabel: string;
  /** Never a container whose name contains one of these (case-insensitive). */
  readonly protectedNames: readonly string[];
  /** At most this share of the eligible containers at once (at least 1). @default 30 */
  readonly maxBlastRadiusPercent: number;
  /** Times when no experiment runs, on the clock of `timeZone`. @default none */
  readonly blackouts: readonly Blackout[];
  /** The IANA time zone of blackouts and schedules (`Europe/Berlin`). @default UTC */
  readonly timeZone: string;
  /** How hard an experiment may hit: the design's latency 100-500 ms, stress 2 CPUs / 256 MB. */
  readonly limits: Limits;
}

/** Caps on what one experiment does; a request over one is refused, naming it. */
export interface Limits {
  /** @default 300 */
  readonly maxDurationSeconds: number;
  /** @default 500 */
  readonly maxDelayMs: number;
  /** @default 500 */
  readonly maxJitterMs: number;
  /** @default 50 */
  readonly maxLossPercent: number;
  /** @default 2 */
  readonly maxCpuWorkers: number;
  /** @default 256 */
  readonly maxMemoryMb: number;
}

/**
 * A weekly window on the policy's clock: on `days`, from `from` to `to` (HH:MM; `to` before `from`
 * runs past midnight).
 */
export interface Blackout {
  readonly days: readonly Weekday[];
  readonly from: string;
  readonly to: string;
}
export type Weekday = 'sun' | 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat';
/**
 * The name of day `day` (0 Sunday, as Date#getDay). A list made at each call rather than a module
 * constant, so that mutation testing can test its entries (constants are evaluated once at import).
 */
const weekdayOf = (day: number): Weekday => (['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const)[day % 7]!;

export const defaultPolicy: Policy = {
  minScore: 8,
  maxScoreAgeMs: 30 * 60_000,
  minBudgetPercent: 20,
  requireOptIn: true,
  optInLabel: 'vigil.chaos/enabled',
  protectedLabel: 'vigil.chaos/protected',
  protectedNames: ['database', 'postgres', 'nats', 'registry', 'redis', 'jaeger'],
  maxBlastRadiusPercent: 30,
  blackouts: [],
  timeZone: 'UTC',
  limits: {
    maxDurationSeconds: 300,
    maxDelayMs: 500,
    maxJitterMs: 500,
    maxLossPercent: 50,
    maxCpuWorkers: 2,
    maxMemoryMb: 256,
  },
};

/** What in `plan` exceeds the policy's limits, one phrase each (empty when nothing does). */
export function overLimits(plan: Plan, l: Limits): string[] {
  const over: string[] = [];
  const cap = (what: string, value: number | undefined, max: number, name: keyof Limits) => {
    if (value === undefined || value <= max) return;
    over.push(`${what} ${value} is over ${max} (policy.limits.${name})`);
  };
  cap('durationSeconds', plan.holdMs / 1000, l.maxDurationSeconds, 'maxDurationSeconds');
  for (const a of plan.inject) {
    switch (a.op) {
      case 'netem-add':
        cap('parameters.delayMs', a.delayMs, l.maxDelayMs, 'maxDelayMs');
        cap('parameters.jitterMs', a.jitterMs, l.maxJitterMs, 'maxJitterMs');
        cap('parameters.lossPercent', a.lossPercent, l.maxLossPercent, 'maxLossPercent');
        break;
      case 'stress-start':
        cap('parameters.workers', a.cpuWorkers, l.maxCpuWorkers, 'maxCpuWorkers');
        cap('parameters.memoryMb', a.memoryMb, l.maxMemoryMb, 'maxMemoryMb');
        break;
    }
  }
  return over;
}

/** A container as the gate sees it. */
export interface Candidate {
  readonly id: string;
  /** The container's own name (what requests name it by). */
  readonly name: string;
  /**
   * Every name the engine lists for it, its own among them: a container linked to by others
   * (`--link db-1:db`) is also listed as `/app/db`, and that may come first.
   * @default [name]
   */
  readonly names?: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  readonly running: boolean;
}

export interface GateCheck {
  readonly check: string;
  readonly passed: boolean;
  readonly value?: number | string | boolean | null;
  readonly message: string;
}

export interface GateInput {
  readonly request: EventData<'chaos.requested'>;
  readonly policy: Policy;
  /** Every container the engine lists. */
  readonly candidates: readonly Candidate[];
  /** The latest validation run, if any. */
  readonly validation: { readonly score: number; readonly completedAt: Date } | undefined;
  /** Every SLO's remaining budget from the slo-engine, or why it could not be read. */
  readonly slos: readonly { readonly name: string; readonly remainingPercent: number }[] | { readonly error: string };
  /** Ids of containers an experiment is running on now. */
  readonly busy: ReadonlySet<string>;
  readonly now: Date;
  /** Seeds the random pick when the request asks for `target.count` of the matches (the request id). */
  readonly seed?: string;
  /** The request's plan, checked against `policy.limits` (no limits check without it). */
  readonly plan?: Plan;
}

export interface GateResult {
  readonly allowed: boolean;
  readonly checks: readonly GateCheck[];
  /** The containers the experiment would act on (also when refused, for the report). */
  readonly targets: readonly Candidate[];
  /** One line per failed check. */
  readonly reasons: readonly string[];
}

const minutes = (hhmm: string) => {
  const [h, m] = hhmm.split(':').map(Number) as [number, number];
  return h * 60 + m;
};

/**
 * The minutes of a day (`weekday`, 0 Sunday) a blackout covers, as [from, to) pairs. A window past
 * midnight belongs to the day it starts: its evening on a listed day, its morning on the day after.
 */
export function blackoutSpans(b: Blackout, weekday: number): Array<readonly [number, number]> {
  const from = minutes(b.from);
  const to = minutes(b.to);
  const listed = b.days.includes(weekdayOf(weekday));
  // Stryker disable next-line EqualityOperator: equivalent, the config refuses a blackout whose from equals its to
  if (from <= to) return listed ? [[from, to]] : [];
  const spans: Array<readonly [number, number]> = [];
  if (b.days.includes(weekdayOf(weekday + 6))) spans.push([0, to]);
  if (listed) spans.push([from, 24 * 60]);
  return spans;
}

/** The blackout `now` falls in on the clock of `timeZone`, if any. */
export function activeBlackout(blackouts: readonly Blackout[], now: Date, timeZone = 'UTC'): Blackout | undefined {
  const wall = wallClock(now, timeZone);
  const t = wall.hour * 60 + wall.minute;
  return blackouts.find((b) => blackoutSpans(b, wall.weekday).some(([from, to]) => t >= from && t < to));
}

export function isProtected(c: Candidate, p: Policy): string | undefined {
  if (c.labels[p.protectedLabel] === 'true') return `labelled ${p.protectedLabel}=true`;
  // Stryker disable next-line ArrayDeclaration: equivalent, a name added to an absent list is one no protected name is part of
  const others = c.names ?? [];
  for (const name of new Set([c.name, ...others])) {
    const hit = p.protectedNames.find((n) => name.toLowerCase().includes(n.toLowerCase()));
    if (hit !== undefined) return `its name ${name === c.name ? '' : `'${name}' `}contains '${hit}'`;
  }
  return undefined;
}

function matches(c: Candidate, target: EventData<'chaos.requested'>['target']): boolean {
  const byName = target.names === undefined || target.names.includes(c.name);
  const byLabels = Object.entries(target.labels ?? {}).every(([k, v]) => c.labels[k] === v);
  return byName && byLabels;
}

const check = (check: string, passed: boolean, value: GateCheck['value'], message: string): GateCheck => ({
  check,
  passed,
  value,
  message,
});

/**
 * The safety gate, a function of values and `now`: every check runs and is reported with its
 * value, so a refusal lists every reason at once.
 */
export function gate(input: GateInput): GateResult {
  const { checks: targeting, targets, selected } = targetChecks(input);
  const checks = [
    ...healthChecks(input),
    budgetCheck(input),
    ...(input.plan === undefined ? [] : [limitsCheck(input.plan, input.policy)]),
    blackoutCheck(input),
    ...targeting,
    ...exposureChecks(input, targets, selected),
  ];
  const reasons = checks.filter((c) => !c.passed).map((c) => `${c.check}: ${c.message}`);
  return { allowed: reasons.length === 0, checks, targets, reasons };
}

/** Health: the latest validation score, and how old it is. */
function healthChecks({ validation: v, policy: p, now }: GateInput): GateCheck[] {
  if (v === undefined) return [check('validation-score', false, null, 'no validation run yet')];
  const ageMin = Math.round((now.getTime() - v.completedAt.getTime()) / 6_000) / 10;
  return [
    check('validation-score', v.score >= p.minScore, v.score, `latest score ${v.score} (minimum ${p.minScore})`),
    check(
      'validation-age',
      now.getTime() - v.completedAt.getTime() <= p.maxScoreAgeMs,
      ageMin,
      `latest validation ${ageMin} min old (maximum ${p.maxScoreAgeMs / 60_000} min)`,
    ),
  ];
}

/** Error budgets: every SLO keeps at least minBudgetPercent. */
function budgetCheck({ slos, policy: p }: GateInput): GateCheck {
  if ('error' in slos) return check('error-budget', false, null, `SLO budgets unknown: ${slos.error}`);
  const low = slos.filter((s) => s.remainingPercent < p.minBudgetPercent);
  const least = slos.reduce((m, s) => Math.min(m, s.remainingPercent), 100);
  return check(
    'error-budget',
    low.length === 0,
    Math.round(least * 100) / 100,
    low.length === 0
      ? `every SLO has at least ${p.minBudgetPercent} % of its budget (lowest ${Math.round(least * 100) / 100} %)`
      : `below ${p.minBudgetPercent} % of budget: ${low.map((s) => `${s.name} ${Math.round(s.remainingPercent * 100) / 100} %`).join(', ')}`,
  );
}

function limitsCheck(plan: Plan, p: Policy): GateCheck {
  const over = overLimits(plan, p.limits);
  return check(
    'limits',
    over.length === 0,
    over.length,
    over.length === 0 ? 'within the policy limits' : over.join('; '),
  );
}

function blackoutCheck({ policy: p, now }: GateInput): GateCheck {
  const blackout = activeBlackout(p.blackouts, now, p.timeZone);
  return check(
    'blackout',
    blackout === undefined,
    blackout === undefined ? null : `${blackout.days.join(',')} ${blackout.from}-${blackout.to}`,
    blackout === undefined
      ? 'outside every blackout window'
      : `inside the blackout ${blackout.days.join(',')} ${blackout.from}-${blackout.to} ${p.timeZone}`,
  );
}

/** Whether chaos may touch a container at all under the policy. */
const isEligible = (c: Candidate, p: Policy) =>
  isProtected(c, p) === undefined && (!p.requireOptIn || c.labels[p.optInLabel] === 'true');

/**
 * Targets: what the request selects, then what may be touched. A request for `count` of the
 * matches picks only among those chaos may touch; naming a protected one outright is refused.
 */
function targetChecks(input: GateInput): { checks: GateCheck[]; targets: Candidate[]; selected: Candidate[] } {
  const { policy: p, request } = input;
  const count = request.target.count;
  const matching = input.candidates.filter((c) => matches(c, request.target));
  const selected = count === undefined ? matching : matching.filter((c) => isEligible(c, p));
  const protectedOnes = selected.flatMap((c) => {
    const why = isProtected(c, p);
    return why === undefined ? [] : [`${c.name} (${why})`];
  });
  const notOptedIn = p.requireOptIn ? selected.filter((c) => c.labels[p.optInLabel] !== 'true').map((c) => c.name) : [];
  const running = selected.filter((c) => c.running);
  const targets = count === undefined ? running : pick(running, count, input.seed ?? '');
  const checks = [
    check(
      'protected',
      protectedOnes.length === 0,
      protectedOnes.length,
      protectedOnes.length === 0
        ? 'no protected container selected'
        : `protected containers selected: ${protectedOnes.join(', ')}`,
    ),
    check(
      'opt-in',
      notOptedIn.length === 0,
      notOptedIn.length,
      !p.requireOptIn
        ? 'opt-in not required by the policy'
        : notOptedIn.length === 0
          ? `every target is labelled ${p.optInLabel}=true`
          : `not opted in (${p.optInLabel}=true): ${notOptedIn.join(', ')}`,
    ),
    check(
      'targets',
      targets.length > 0,
      targets.length,
      targets.length === 0
        ? 'no running container matches the target'
        : count === undefined
          ? `${targets.length} running target(s)`
          : `${targets.length} of ${running.length} running eligible match(es), picked at random (count ${count}; ${matching.length - selected.length} protected or not opted in left out)`,
    ),
  ];
  return { checks, targets, selected };
}

/**
 * Blast radius, over the containers chaos could touch at all, across every running experiment: a
 * container paused or stopped by one still counts as eligible, and as affected, so that
 * single-target requests one after another cannot fault more than the limit together. And no
 * target under another experiment.
 */
function exposureChecks(input: GateInput, targets: readonly Candidate[], selected: readonly Candidate[]): GateCheck[] {
  const p = input.policy;
  const eligible = input.candidates.filter((c) => isEligible(c, p) && (c.running || input.busy.has(c.id)));
  const limit = Math.max(1, Math.floor((eligible.length * p.maxBlastRadiusPercent) / 100));
  const chosen = new Set(targets.map((c) => c.id));
  const underOthers = eligible.filter((c) => input.busy.has(c.id) && !chosen.has(c.id)).length;
  // Over every match, not only running ones: a container paused or stopped by an experiment is busy.
  const busy = (input.request.target.count === undefined ? selected : targets)
    .filter((c) => input.busy.has(c.id))
    .map((c) => c.name);
  return [
    check(
      'blast-radius',
      targets.length + underOthers <= limit,
      targets.length + underOthers,
      `${targets.length} of ${eligible.length} eligible container(s)${underOthers > 0 ? `, ${underOthers} more under experiments now` : ''}; at most ${limit} (${p.maxBlastRadiusPercent} %, at least 1)`,
    ),
    check(
      'one-at-a-time',
      busy.length === 0,
      busy.length,
      busy.length === 0 ? 'no target is under another experiment' : `already under an experiment: ${busy.join(', ')}`,
    ),
  ];
}

/** `count` of `xs`, chosen by a hash of the seed and each id: random, yet the same on a redelivery. */
function pick(xs: readonly Candidate[], count: number, seed: string): Candidate[] {
  const hash = (text: string) => {
    let h = 0x811c9dc5;
    for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
    return h;
  };
  return [...xs]
    .map((c) => ({ c, k: hash(`${seed}/${c.id}`) }))
    .sort((a, b) => a.k - b.k)
    .slice(0, count)
    .map((x) => x.c);
}
