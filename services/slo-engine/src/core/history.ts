import { formatDuration } from '@vigil/service-kit';
import type { SloConfig } from '../config/slo.js';
import { readSlo, windowsOf } from './burn.js';

/**
 * Good and total of one bin: `[start, start + resolution)`; `tails[k]` the same over the bin's
 * last `resolution.tails[k]` ms only (the windows shorter than a bin). Without `tails`, a bin is
 * taken as finer than the resolution (a minute bucket) and falls in a tail by its start.
 */
export interface Bin {
  readonly start: number;
  readonly good: number;
  readonly total: number;
  readonly tails?: readonly { readonly good: number; readonly total: number }[];
}

/**
 * How a history reads the minute buckets: bins of `binMs` aligned to the last point, and for each
 * window shorter than a bin (`tails`, ascending), the sum over the last part of every bin.
 */
export interface HistoryResolution {
  readonly binMs: number;
  readonly tails: readonly number[];
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
 * The coarsest bins that still give every window exactly at every point. Points are bin ends, so
 * a window that is a multiple of the bin is whole bins, and one shorter than a bin is the tail of
 * the bin ending at the point; only a longer window that is not a multiple makes the bins finer.
 * For the default tiers and a step of an hour: bins of an hour, tails of 5 and 30 minutes (a
 * month's history reads 1,440 bins, not 17,280 of the windows' common 5 minutes). Never below the
 * minute the buckets are kept in.
 */
export function resolutionOf(slo: SloConfig, stepMs: number): HistoryResolution {
  const windows = windowsOf(slo);
  let binMs = stepMs;
  for (let finer = true; finer;) {
    finer = false;
    for (const w of windows) {
      if (w > binMs && w % binMs !== 0) {
        binMs = gcd(binMs, w);
        finer = true;
      }
    }
  }
  binMs = Math.max(60_000, binMs);
  return { binMs, tails: windows.filter((w) => w < binMs) };
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
  const { binMs } = resolutionOf(slo, r.stepMs);
  const bins = (r.rangeMs + Math.max(...windowsOf(slo))) / binMs;
  if (bins > MAX_HISTORY_BINS)
    return `window ${formatDuration(r.rangeMs)} at step ${formatDuration(r.stepMs)} reads ${bins} bins of ${formatDuration(binMs)}; at most ${MAX_HISTORY_BINS}: take a step that is a multiple of the SLO's windows`;
  return undefined;
}

/**
 * The SLO's reading at each point, from bins of {@link resolutionOf} aligned to `to` (bins outside
 * the span are ignored). Prefix sums make each window of whole bins two lookups, and a shorter
 * window is the tail of the bin ending at the point, so a point costs the same whatever its
 * windows' lengths.
 */
// Over 60 lines: the prefix sums are built and read in one place, so their two index conventions
// (prefix index i + 1, tail index i) can be checked side by side; mutation-tested (stryker.equivalent.md).
export function sloHistory(slo: SloConfig, bins: readonly Bin[], r: HistoryRequest): SloHistory {
  const { binMs: res, tails } = resolutionOf(slo, r.stepMs);
  const longest = Math.max(...windowsOf(slo));
  const first = r.to - r.rangeMs - longest;
  const n = Math.ceil((r.to - first) / res);
  const good = new Float64Array(n + 1);
  const total = new Float64Array(n + 1);
  // tailGood[k][i]: window tails[k] over the end of bin i (the bin ending at prefix index i + 1).
  const tailGood = tails.map(() => new Float64Array(n));
  const tailTotal = tails.map(() => new Float64Array(n));
  for (const b of bins) {
    const i = Math.floor((b.start - first) / res);
    if (i < 0 || i >= n) continue;
    good[i + 1] = (good[i + 1] ?? 0) + b.good;
    total[i + 1] = (total[i + 1] ?? 0) + b.total;
    for (let k = 0; k < tails.length; k++) {
      const g = tailGood[k];
      const tt = tailTotal[k];
      if (g === undefined || tt === undefined) continue;
      // Bins without tails are finer ones (minute buckets): in a tail when they start in it.
      const t =
        b.tails === undefined ? (b.start >= first + (i + 1) * res - (tails[k] ?? 0) ? b : undefined) : b.tails[k];
      if (t === undefined) continue;
      g[i] = (g[i] ?? 0) + t.good;
      tt[i] = (tt[i] ?? 0) + t.total;
    }
  }
  for (let i = 1; i <= n; i++) {
    good[i] = (good[i] ?? 0) + (good[i - 1] ?? 0);
    total[i] = (total[i] ?? 0) + (total[i - 1] ?? 0);
  }
  const at = (t: number) => Math.min(n, Math.max(0, Math.round((t - first) / res)));
  const tailIndex = new Map(tails.map((w, k) => [w, k]));
  const windows = windowsOf(slo);
  const times: number[] = [];
  const budgetRemaining: number[] = [];
  const burnRates: Record<string, number[]> = Object.fromEntries(windows.map((w) => [formatDuration(w), []]));
  const firing: string[][] = [];
  for (let t = r.to - Math.floor(r.rangeMs / r.stepMs) * r.stepMs; t <= r.to; t += r.stepMs) {
    const end = at(t);
    const reading = readSlo(slo, (w) => {
      const k = tailIndex.get(w);
      if (k !== undefined) {
        return { good: tailGood[k]?.[end - 1] ?? 0, total: tailTotal[k]?.[end - 1] ?? 0 };
      }
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
