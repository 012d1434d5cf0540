import { itemsOf, observedTime, valueAt, type VigilEvent } from '@vigil/events';
import type { Conditions, Match, SloConfig } from '../config/slo.js';

export const MINUTE_MS = 60_000;

/** Good and total events in one SLO's minute. */
export interface Observation {
  readonly slo: string;
  /** Start of the minute (ms since the epoch). */
  readonly minute: number;
  readonly good: number;
  readonly total: number;
}

/** Whether one field's value satisfies a condition; a missing field satisfies only `ne` / `notIn`. */
export function matches(value: unknown, m: Match): boolean {
  if (m === null || typeof m !== 'object') return value === m;
  if (Array.isArray(m)) return m.includes(value as never);
  // NaN for anything but a number: every comparison with NaN is false, so a missing field or a
  // string never meets a bound.
  const num = typeof value === 'number' ? value : Number.NaN;
  return (
    (m.eq === undefined || value === m.eq) &&
    (m.ne === undefined || value !== m.ne) &&
    (m.in === undefined || m.in.includes(value as never)) &&
    (m.notIn === undefined || !m.notIn.includes(value as never)) &&
    (m.lt === undefined || num < m.lt) &&
    (m.lte === undefined || num <= m.lte) &&
    (m.gt === undefined || num > m.gt) &&
    (m.gte === undefined || num >= m.gte)
  );
}

function holds(obj: unknown, conditions: Conditions): boolean {
  return Object.entries(conditions).every(([path, m]) => matches(valueAt(obj, path), m));
}

/**
 * Good/total counts that `event` adds to `slo`, or undefined when the event does not feed it.
 * Pure: the caller decides the minute (it clamps times in the future and drops expired ones).
 */
export function countsFor(slo: SloConfig, event: VigilEvent): { good: number; total: number } | undefined {
  if ('observed' in slo.sli) {
    // Stryker disable next-line ConditionalExpression: equivalent, no other event type carries an `sli` field, so the next line returns undefined for them too
    if (event.type !== 'sli.observed') return undefined;
    const d = event.data;
    if (d.sli !== slo.sli.observed.sli) return undefined;
    if (slo.sli.observed.service !== undefined && d.service !== slo.sli.observed.service) return undefined;
    if ('good' in d) return d.total === 0 ? undefined : { good: Math.min(d.good, d.total), total: d.total };
    return { good: d.value <= d.threshold ? 1 : 0, total: 1 };
  }
  // Scraped SLIs are counted by the scraper, not from events.
  if ('prometheus' in slo.sli) return undefined;
  const spec = slo.sli.events;
  if (event.type !== spec.type) return undefined;
  let good = 0;
  let total = 0;
  for (const item of itemsOf(event, spec.each)) {
    if (!holds(item, spec.where)) continue;
    total++;
    if (holds(item, spec.good)) good++;
  }
  return total === 0 ? undefined : { good, total };
}

/**
 * The observations one event adds, across every SLO. An event from the future (clock skew) counts
 * in the current minute; one older than its SLO's window no longer matters and counts nowhere.
 */
export function observe(slos: Iterable<SloConfig>, event: VigilEvent, now: number): Observation[] {
  const at = observedTime(event);
  const when = Number.isNaN(at) ? now : Math.min(at, now);
  const minute = Math.floor(when / MINUTE_MS) * MINUTE_MS;
  const out: Observation[] = [];
  for (const slo of slos) {
    if (minute < now - slo.window) continue;
    const c = countsFor(slo, event);
    if (c !== undefined) out.push({ slo: slo.name, minute, ...c });
  }
  return out;
}
