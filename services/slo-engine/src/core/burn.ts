import { formatDuration } from '@vigil/service-kit';
import type { AlertTier, Severity, SloConfig } from '../config/slo.js';

export interface Counts {
  readonly good: number;
  readonly total: number;
}

/** Good/total over the `windowMs` before the evaluation time. */
export type WindowCounts = (windowMs: number) => Counts;

/** Bad events allowed per event: 1 − objective, rounded so that 99.9 gives exactly 0.001. */
export function allowedErrorRate(objectivePercent: number): number {
  return Math.round((100 - objectivePercent) * 1e9) / 1e11;
}

/**
 * How many times faster than sustainable the budget is being spent: the error rate divided by
 * the allowed error rate. 1 spends exactly the whole budget over the SLO window; no events is 0.
 */
export function burnRate(c: Counts, objectivePercent: number): number {
  if (c.total <= 0) return 0;
  return (c.total - c.good) / c.total / allowedErrorRate(objectivePercent);
}

/**
 * Whether a burn rate is over a threshold: strictly above it, as the SRE Workbook's alert
 * expressions, Sloth and Pyrra compare (`>`), so that vigil's alerts and the Prometheus rules it
 * exports fire in the same minute (docs/decisions.md). With a relative tolerance, so that a rate
 * whose arithmetic gives exactly the threshold (216 minutes of 1 % errors over 6h: 6×) is not
 * over it by a rounding error.
 */
export function exceeds(value: number, threshold: number): boolean {
  // Stryker disable next-line EqualityOperator: equivalent, `>=` differs only at exactly threshold × (1 + 1e-9), which no count of events gives
  return value > threshold * (1 + 1e-9);
}

export interface Budget {
  /** Bad events the window's traffic allows. */
  readonly allowed: number;
  /** Bad events in the window. */
  readonly consumed: number;
  /** allowed − consumed (negative when overspent). */
  readonly remaining: number;
  /** consumed / allowed; 0 with no traffic. */
  readonly consumedFraction: number;
  /** 1 − consumedFraction: negative once the budget is overspent. */
  readonly remainingFraction: number;
}

/** The error budget of the SLO window's counts. */
export function errorBudget(c: Counts, objectivePercent: number): Budget {
  const allowed = c.total * allowedErrorRate(objectivePercent);
  const consumed = c.total - c.good;
  // Over the whole window the consumed share is the burn rate of that window.
  const consumedFraction = burnRate(c, objectivePercent);
  return {
    allowed,
    consumed,
    remaining: allowed - consumed,
    consumedFraction,
    remainingFraction: 1 - consumedFraction,
  };
}

export interface TierReading extends AlertTier {
  readonly burnRateLong: number;
  readonly burnRateShort: number;
  /**
   * Both windows over the tier's burn rate, and the long one still would be with one bad event
   * fewer: a single failure is an event, not a burn (see {@link singleEventExcluded}).
   */
  readonly holds: boolean;
}

export interface WindowReading extends Counts {
  readonly windowMs: number;
  readonly burnRate: number;
}

export interface SloReading {
  readonly budget: Budget;
  /** Every window the SLO uses, shortest first (the SLO window last). */
  readonly windows: readonly WindowReading[];
  readonly tiers: readonly TierReading[];
  /**
   * The burn rate now: of the last minute, or of the shortest window with events when the last
   * minute had none. What the budget's time left is reckoned from: a tier's long window lags an
   * outage (at a total outage the 1h window reads 14× in the minute the page fires, the last
   * minute 1000×), so it would promise the budget for days when it lasts minutes.
   */
  readonly current: WindowReading;
}

/** The window of {@link SloReading.current}: one minute, the width of a bucket. */
export const CURRENT_WINDOW_MS = 60_000;

/** The windows an evaluation reads: the SLO's ({@link windowsOf}) and the last minute. */
export function evaluationWindows(slo: SloConfig): number[] {
  // Stryker disable next-line MethodExpression,ArrowFunction,ArithmeticOperator: equivalent, windowsOf is sorted and the minute is shorter than any window
  return [...new Set([CURRENT_WINDOW_MS, ...windowsOf(slo)])].sort((a, b) => a - b);
}

const windowsBySlo = new WeakMap<SloConfig, readonly number[]>();

/**
 * The windows an SLO needs counts for: its own and each alert tier's long and short window.
 * Worked out once per configuration: a history reads them at every one of its points.
 */
export function windowsOf(slo: SloConfig): readonly number[] {
  let windows = windowsBySlo.get(slo);
  // Stryker disable next-line ConditionalExpression: equivalent, working the windows out again gives the same list
  if (windows === undefined) {
    const all = new Set<number>([slo.window]);
    for (const t of slo.alerting.tiers) {
      all.add(t.long);
      all.add(t.short);
    }
    windows = Object.freeze([...all].sort((a, b) => a - b));
    windowsBySlo.set(slo, windows);
  }
  return windows;
}

/**
 * Whether the long window's burn rate is more than one event's doing. While a window holds few
 * events (a fresh stack, a low-traffic SLI), one bad event alone is a burn rate of many times any
 * threshold: at 99.9 % one failed check among the first 13 reads as 77×. The SRE workbook's
 * low-traffic chapter names the problem. Where a single event can exceed `threshold` on its own,
 * the threshold must be exceeded without the last bad event too; where it cannot (from 70 events
 * for a 14.4× tier at 99.9 %), nothing changes.
 */
export function singleEventExcluded(c: Counts, objectivePercent: number, threshold: number): boolean {
  if (!exceeds(burnRate({ good: c.total - 1, total: c.total }, objectivePercent), threshold)) return true;
  return exceeds(burnRate({ good: c.good + 1, total: c.total }, objectivePercent), threshold);
}

/** Burn rates and budget of one SLO from its window counts. */
export function readSlo(slo: SloConfig, counts: WindowCounts): SloReading {
  const windows = windowsOf(slo).map((windowMs) => {
    const c = counts(windowMs);
    return { windowMs, good: c.good, total: c.total, burnRate: burnRate(c, slo.objective) };
  });
  const reading = (ms: number) => windows.find((w) => w.windowMs === ms);
  const tiers = slo.alerting.tiers.map((t) => {
    const long = reading(t.long);
    // Stryker disable next-line OptionalChaining: equivalent, windowsOf holds every tier's windows, so `long` is always found
    const burnRateLong = long?.burnRate ?? 0;
    // Stryker disable next-line OptionalChaining: equivalent, as above for the short window
    const burnRateShort = reading(t.short)?.burnRate ?? 0;
    // Field by field, not a spread: a history reads every tier at each of its 721 points.
    return {
      severity: t.severity,
      long: t.long,
      short: t.short,
      burnRate: t.burnRate,
      burnRateLong,
      burnRateShort,
      holds:
        exceeds(burnRateLong, t.burnRate) &&
        exceeds(burnRateShort, t.burnRate) &&
        // Stryker disable next-line ConditionalExpression: equivalent, `long` is always found (see above)
        long !== undefined &&
        singleEventExcluded(long, slo.objective, t.burnRate),
    };
  });
  const latest = counts(CURRENT_WINDOW_MS);
  const current =
    latest.total > 0
      ? { windowMs: CURRENT_WINDOW_MS, ...latest, burnRate: burnRate(latest, slo.objective) }
      : (windows.find((w) => w.total > 0) ?? { windowMs: CURRENT_WINDOW_MS, ...latest, burnRate: 0 });
  return { budget: errorBudget(counts(slo.window), slo.objective), windows, tiers, current };
}

/** A firing alert of one SLO and severity, as stored between evaluations. */
export interface FiringAlert {
  readonly severity: Severity;
  /** When it started firing (ms). */
  readonly since: number;
  /** When an event about it was last emitted (ms). */
  readonly lastNotifiedAt: number;
}

export interface Transition {
  readonly state: 'firing' | 'resolved';
  readonly severity: Severity;
  /** A repeat of a firing alert (re-notify interval), not a new one. */
  readonly repeat: boolean;
  readonly since: number;
  readonly resolvedAt?: number;
  /** The severity's tiers with their burn rates. */
  readonly tiers: readonly TierReading[];
  readonly explanation: string;
}

export interface Decision {
  readonly transitions: readonly Transition[];
  /** The alerts firing after this evaluation. */
  readonly firing: ReadonlyMap<Severity, FiringAlert>;
}

/**
 * One evaluation of one SLO at `now`: an alert of a severity fires when any of its tiers holds
 * (burn rate over both the long and the short window strictly above the tier's factor), and
 * resolves when none holds. A firing alert is not repeated unless the SLO sets `renotify`.
 */
export function decide(
  slo: SloConfig,
  reading: SloReading,
  firing: ReadonlyMap<Severity, FiringAlert>,
  now: number,
): Decision {
  const transitions: Transition[] = [];
  const next = new Map<Severity, FiringAlert>();
  if (!slo.alerting.enabled) return { transitions, firing: next };
  for (const severity of ['page', 'ticket'] as const) {
    const tiers = reading.tiers.filter((t) => t.severity === severity);
    // Stryker disable next-line ConditionalExpression: equivalent, a severity without tiers has none that holds and no alert to resolve
    if (tiers.length === 0) continue;
    const holding = tiers.filter((t) => t.holds);
    const current = firing.get(severity);
    if (holding.length > 0) {
      if (current === undefined) {
        transitions.push({
          state: 'firing',
          severity,
          repeat: false,
          since: now,
          tiers,
          explanation: firingText(slo, reading, holding),
        });
        next.set(severity, { severity, since: now, lastNotifiedAt: now });
      } else if (now - current.lastNotifiedAt >= (slo.alerting.renotify ?? Infinity)) {
        transitions.push({
          state: 'firing',
          severity,
          repeat: true,
          since: current.since,
          tiers,
          explanation: firingText(slo, reading, holding),
        });
        next.set(severity, { ...current, lastNotifiedAt: now });
      } else {
        next.set(severity, current);
      }
    } else if (current !== undefined) {
      transitions.push({
        state: 'resolved',
        severity,
        repeat: false,
        since: current.since,
        resolvedAt: now,
        tiers,
        explanation: resolvedText(slo, reading, tiers),
      });
    }
  }
  return { transitions, firing: next };
}

/** `14.4`, `6`, `0.35`: at most two decimals, no trailing zeros. */
export function num(x: number): string {
  return String(Math.round(x * 100) / 100);
}

/** A fraction as a percent with enough decimals to tell 99.9 from 100. */
export function pct(fraction: number): string {
  const p = fraction * 100;
  // Stryker disable next-line EqualityOperator: equivalent, at exactly 10 % both roundings give 10
  return String(Math.abs(p) >= 10 ? Math.round(p * 10) / 10 : Math.round(p * 1000) / 1000);
}

/** A time left as a person says it: days from 48 hours, hours from 2, else minutes (at least 1). */
export function humanDuration(ms: number): string {
  const h = ms / 3_600_000;
  if (h >= 48) return `${num(h / 24)} days`;
  if (h >= 2) return `${num(h)} hours`;
  return `${Math.max(1, Math.round(ms / 60_000))} minutes`;
}

function firingText(slo: SloConfig, r: SloReading, holding: readonly TierReading[]): string {
  // The most urgent tier that holds explains the alert.
  const t = [...holding].sort((a, b) => b.burnRate - a.burnRate)[0]!;
  const long = r.windows.find((w) => w.windowMs === t.long);
  // Stryker disable next-line ConditionalExpression,LogicalOperator,EqualityOperator: equivalent, a holding tier's long window is found and has events
  const errorShare = long && long.total > 0 ? (long.total - long.good) / long.total : 0;
  const now = `${num(r.current.burnRate)}× over the last ${formatDuration(r.current.windowMs)}`;
  const left =
    r.budget.remainingFraction <= 0
      ? `the ${formatDuration(slo.window)} budget is already spent`
      : r.current.burnRate > 0
        ? `at the current rate (${now}) the rest of the ${formatDuration(slo.window)} budget (${pct(r.budget.remainingFraction)} %) lasts ${humanDuration((r.budget.remainingFraction * slo.window) / r.current.burnRate)}`
        : `the budget is not being spent right now (${now}), and ${pct(r.budget.remainingFraction)} % of the ${formatDuration(slo.window)} budget remains`;
  return (
    `${slo.name} is spending its error budget ${num(t.burnRateLong)}× as fast as its ${slo.objective} % objective allows over the last ` +
    `${formatDuration(t.long)} and ${num(t.burnRateShort)}× over the last ${formatDuration(t.short)} ` +
    `(${t.severity} threshold ${num(t.burnRate)}×): ${pct(errorShare)} % of events were bad in the last ${formatDuration(t.long)} ` +
    `against ${pct(allowedErrorRate(slo.objective))} % allowed, and ${left}.`
  );
}

function resolvedText(slo: SloConfig, r: SloReading, tiers: readonly TierReading[]): string {
  // The tier that came closest to holding shows why the alert no longer does.
  const closest = [...tiers].sort(
    (a, b) =>
      Math.min(b.burnRateLong, b.burnRateShort) / b.burnRate - Math.min(a.burnRateLong, a.burnRateShort) / a.burnRate,
  )[0]!;
  const below = exceeds(closest.burnRateShort, closest.burnRate)
    ? `${num(closest.burnRateLong)}× over the last ${formatDuration(closest.long)}`
    : `${num(closest.burnRateShort)}× over the last ${formatDuration(closest.short)}`;
  return (
    `${slo.name} no longer burns its error budget fast enough to ${closest.severity === 'page' ? 'page' : 'open a ticket'}: ` +
    `${below} is under the ${num(closest.burnRate)}× threshold, and ${pct(r.budget.remainingFraction)} % of the ` +
    `${formatDuration(slo.window)} budget remains.`
  );
}
