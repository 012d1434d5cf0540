import { itemsOf, observedTime, valueAt, type VigilEvent } from '@vigil/events';
import type { AnomalyConfig } from '../config/anomaly.js';

/** One value of one series instance at one time. */
export interface Point {
  readonly series: string;
  readonly at: number;
  readonly value: number;
}

/** The points an event adds to the event-derived series; items without a numeric value add none. */
export function pointsOf(config: AnomalyConfig, event: VigilEvent, now: number): Point[] {
  const observed = observedTime(event);
  const at = Number.isNaN(observed) ? now : observed;
  const out: Point[] = [];
  for (const s of config.series) {
    if (!('events' in s) || s.events.type !== event.type) continue;
    for (const item of itemsOf(event, s.events.each)) {
      const value = valueAt(item, s.events.value);
      // Stryker disable next-line ConditionalExpression: equivalent, Number.isFinite is false for every non-number too; the typeof is there for the type
      if (typeof value !== 'number' || !Number.isFinite(value)) continue;
      const key = s.events.key.map((k) => {
        const v = valueAt(item, k);
        return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : '-';
      });
      out.push({ series: [s.name, ...key].join('/'), at, value });
    }
  }
  return out;
}
