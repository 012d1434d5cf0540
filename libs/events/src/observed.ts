import { z } from 'zod';
import type { VigilEvent } from './envelope.js';
import { registry, type EventType } from './registry.js';

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

/**
 * What one counted item of an event is: the event's data, each component or each check of a
 * validation run (with `suite`, and `component` for a check), or each window of an slo.burn (with
 * `slo`, `service`, `severity`, `state`). SLOs and anomaly series both count per item. A SKIPPED
 * component or check did not happen where the suite ran, so it is no item: it counts as neither
 * good nor bad, and has no score or duration to learn from.
 */
export type ItemKind = 'event' | 'component' | 'check' | 'window';

/** The items of `event` of kind `each`; none when `each` does not apply to its type. */
export function itemsOf(event: VigilEvent, each: ItemKind): unknown[] {
  if (each === 'event') return [event.data];
  if (event.type === 'validation.completed') {
    const d = event.data;
    const ran = d.components.filter((c) => c.status !== 'SKIPPED');
    if (each === 'component') return ran.map((c) => ({ ...c, suite: d.suite }));
    if (each === 'check') {
      return ran.flatMap((c) =>
        c.checks.filter((k) => k.status !== 'SKIPPED').map((k) => ({ ...k, component: c.name, suite: d.suite })),
      );
    }
  }
  if (event.type === 'slo.burn' && each === 'window') {
    const d = event.data;
    return d.windows.map((w) => ({ ...w, slo: d.slo, service: d.service, severity: d.severity, state: d.state }));
  }
  return [];
}

function fieldsOf(schema: z.ZodType): string[] {
  if (schema instanceof z.ZodObject) return Object.keys(schema.shape);
  if (schema instanceof z.ZodUnion) return [...new Set((schema.options as z.ZodType[]).flatMap(fieldsOf))];
  return [];
}

const completed = registry['validation.completed'].schema.shape;
const itemFieldsByKind = {
  component: [...fieldsOf(completed.components.element), 'suite'],
  check: [...fieldsOf(completed.components.element.shape.checks.element), 'component', 'suite'],
  window: [...fieldsOf(registry['slo.burn'].schema.shape.windows.element), 'slo', 'service', 'severity', 'state'],
};

/**
 * The top-level fields of one item of `type` per `each` (see {@link itemsOf}); undefined when
 * `each` does not apply to `type`. Config files check their field paths against it.
 */
export function itemFields(type: EventType, each: ItemKind): readonly string[] | undefined {
  if (each === 'event') return fieldsOf(registry[type].schema);
  if (each === 'window') return type === 'slo.burn' ? itemFieldsByKind.window : undefined;
  return type === 'validation.completed' ? itemFieldsByKind[each] : undefined;
}

/**
 * Why the dotted `path` names nothing in an item of `type` per `each`, or undefined when its first
 * field exists (deeper keys, as in `observed.latencyMs`, are free-form).
 */
export function unknownFieldPath(type: EventType, each: ItemKind, path: string): string | undefined {
  const fields = itemFields(type, each);
  if (fields === undefined) return `${each} does not apply to ${type}`;
  const first = path.split('.')[0] ?? '';
  if (fields.includes(first)) return undefined;
  const what = each === 'event' ? `the data of ${type}` : `each ${each} of ${type}`;
  return `'${first}' is not a field of ${what} (fields: ${fields.join(', ')})`;
}
