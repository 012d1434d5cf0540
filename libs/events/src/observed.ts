import type { VigilEvent } from './envelope.js';

/** The value at a dotted path (`observed.latencyMs`) inside event data, or undefined. */
export function valueAt(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const key of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, key)) return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

/**
 * When what an event reports happened (ms since the epoch): `observedAt` of `sli.observed` when
 * given, else the CloudEvent `time`; NaN when the event has neither.
 */
export function observedTime(event: VigilEvent): number {
  if (event.type === 'sli.observed' && event.data.observedAt !== undefined) return Date.parse(event.data.observedAt);
  return event.time === undefined ? Number.NaN : Date.parse(event.time);
}
