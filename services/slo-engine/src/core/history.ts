import { formatDuration } from '@vigil/service-kit';
import type { SloConfig } from '../config/slo.js';
import { readSlo, windowsOf } from './burn.js';

/** Good and total of one bin: `[start, start + resolution)`. */
export interface Bin {
  readonly start: number;
  readonly good: number;
  readonly total: number;
}

export interface HistoryRequest {
  /** The last point (a minute boundary: windows end there, as in an evaluation). */
  readonly to: number;
  /** How far back the first point is. */
  readonly rangeMs: number;
  /** Between points. */
  readonly stepMs: number;
}

/**
 * Budget and burn rates over time, in columns (one array per series, as chart libraries take
 * them): `times[i]` is a point, `budgetRemaining[i]` the budget left over the SLO window ending
 * there, `burnRates[w][i]` each window's burn rate, `firing[i]` the tiers whose two windows held.
 */
export interface SloHistory {
  readonly slo: string;
  readonly objective: number;
  readonly window: string;
  readonly step: string;
  readonly times: readonly number[];
  readonly budgetRemaining: readonly number[];
  readonly burnRates: Readonly<Record<string, readonly number[]>>;
  readonly tiers: readonly { severity: string; long: string; short: string; threshold: number }[];
  readonly firing: readonly (readonly string[])[];
}

/** Points at most; a request for more is refused. */
export const MAX_HISTORY_POINTS = 2000;
/** Bins read at most for one request (e.g. 60 days of 1-minute bins is 86 400). */
export const MAX_HISTORY_BINS = 200_000;

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/**
 * The coarsest bin that still gives every window exactly at every point: the greatest common
 * divisor of the step and the SLO's windows (5 minutes for the default tiers and a step of an
 * hour), never below the minute the buckets are kept in.
 */
export function resolutionOf(slo: SloConfig, stepMs: number): number {
  return Math.max(60_000, windowsOf(slo).reduce(gcd, stepMs));
}

/** Why a history request cannot be served as asked, or undefined. */
export function checkHistoryRequest(slo: SloConfig, r: HistoryRequest): string | undefined {
  if (r.stepMs < 60_000 || r.stepMs % 60_000 !== 0)
    return `step must be whole minutes, got ${formatDuration(r.stepMs)}`;
  if (r.rangeMs < r.stepMs)
    return `window (${formatDuration(r.rangeMs)}) must be at least one step (${formatDuration(r.stepMs)})`;
  const points = Math.floor(r.rangeMs / r.stepMs) + 1;
  if (points > MAX_HISTORY_POINTS)
    return `${points} points asked (window ${formatDuration(r.rangeMs)} / step ${formatDuration(r.stepMs)}); at most ${MAX_HISTORY_POINTS}: take a longer step`;
  const bins = (r.rangeMs + Math.max(...windowsOf(slo))) / resolutionOf(slo, r.stepMs);
  if (bins > MAX_HISTORY_BINS)
    return `window ${formatDuration(r.rangeMs)} at step ${formatDuration(r.stepMs)} reads ${bins} bins of ${formatDuration(resolutionOf(slo, r.stepMs))}; at most ${MAX_HISTORY_BINS}: take a step that is a multiple of the SLO's windows`;
  return undefined;
}

/**
 * The SLO's reading at each point, from bins of {@link resolutionOf} aligned to `to` (bins outside
 * the span are ignored). Prefix sums make each window two lookups, so a point costs the same
 * whatever its windows' lengths.
 */
export function sloHistory(slo: SloConfig, bins: readonly Bin[], r: HistoryRequest): SloHistory {
  const res = resolutionOf(slo, r.stepMs);
  const longest = Math.max(...windowsOf(slo));
  const first = r.to - r.rangeMs - longest;
  const n = Math.ceil((r.to - first) / res);
  const good = new Float64Array(n + 1);
  const total = new Float64Array(n + 1);
  for (const b of bins) {
    const i = Math.floor((b.start - first) / res);
    if (i < 0 || i >= n) continue;
    good[i + 1] = (good[i + 1] ?? 0) + b.good;
    total[i + 1] = (total[i + 1] ?? 0) + b.total;
  }
  for (let i = 1; i <= n; i++) {
    good[i] = (good[i] ?? 0) + (good[i - 1] ?? 0);
    total[i] = (total[i] ?? 0) + (total[i - 1] ?? 0);
  }
  const at = (t: number) => Math.min(n, Math.max(0, Math.round((t - first) / res)));
  const windows = windowsOf(slo);
  const times: number[] = [];
  const budgetRemaining: number[] = [];
  const burnRates: Record<string, number[]> = Object.fromEntries(windows.map((w) => [formatDuration(w), []]));
  const firing: string[][] = [];
  for (let t = r.to - Math.floor(r.rangeMs / r.stepMs) * r.stepMs; t <= r.to; t += r.stepMs) {
    const end = at(t);
    const reading = readSlo(slo, (w) => {
      const start = at(t - w);
      return { good: (good[end] ?? 0) - (good[start] ?? 0), total: (total[end] ?? 0) - (total[start] ?? 0) };
    });
    times.push(t);
    budgetRemaining.push(reading.budget.remainingFraction);
    for (const w of reading.windows) burnRates[formatDuration(w.windowMs)]?.push(w.burnRate);
    firing.push([...new Set(reading.tiers.filter((x) => x.holds).map((x) => x.severity))]);
  }
  return {
    slo: slo.name,
    objective: slo.objective,
    window: formatDuration(slo.window),
    step: formatDuration(r.stepMs),
    times,
    budgetRemaining,
    burnRates,
    tiers: slo.alerting.tiers.map((x) => ({
      severity: x.severity,
      long: formatDuration(x.long),
      short: formatDuration(x.short),
      threshold: x.burnRate,
    })),
    firing,
  };
}
