import type { Experiment, Incident } from '../core/model.js';

const at = '2026-12-01T08:00:00.000Z';

/** An incident with plain values (a page firing since 08:00 UTC, key `k<seq>`); `over` sets what a test looks at. */
export function incidentOf(over: Partial<Incident> & Pick<Incident, 'seq'>): Incident {
  return {
    key: `k${over.seq}`,
    slo: 'availability',
    service: 'vigil',
    severity: 'page',
    state: 'firing',
    since: at,
    explanation: 'Burning.',
    budgetRemaining: 0.5,
    ...over,
  };
}

/** An experiment with plain values (a completed container-kill of a and b, started 08:00 UTC). */
export function experimentOf(over: Partial<Experiment> & Pick<Experiment, 'experimentId' | 'seq'>): Experiment {
  return { kind: 'container-kill', targets: ['a', 'b'], state: 'completed', startedAt: at, ...over };
}
