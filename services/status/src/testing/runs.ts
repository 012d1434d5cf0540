import { createEvent, type EventDataInput } from '@vigil/events';
import { samples } from '@vigil/events/testing';
import type { StoredEvent } from '../core/model.js';

/** A stored `validation.completed` of suite `vigil-self` (unless given) whose components are as listed. */
export function completedRun(
  seq: number,
  at: Date,
  components: { name: string; status: 'PASS' | 'WARN' | 'FAIL' | 'SKIPPED'; score?: number }[],
  o: { suite?: string; partial?: boolean; status?: 'PASS' | 'WARN' | 'FAIL' | 'ERROR'; score?: number } = {},
): StoredEvent {
  const data: EventDataInput<'validation.completed'> = {
    ...samples['validation.completed'],
    runId: `run-${seq}`,
    suite: o.suite ?? 'vigil-self',
    status: o.status ?? 'PASS',
    score: o.score ?? 9,
    ...(o.partial === undefined ? {} : { partial: o.partial }),
    components: components.map((c) => ({
      name: c.name,
      weight: c.status === 'SKIPPED' ? 0 : 1,
      status: c.status,
      ...(c.score === undefined ? {} : { score: c.score }),
      checks: [],
    })),
  };
  return {
    event: createEvent('validation.completed', data, { source: 'vigil/test' }),
    seq,
    storedAt: at,
  };
}
