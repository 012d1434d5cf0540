import { Counter, type Registry } from 'prom-client';
import { SLI_EVENTS_METRIC } from './core/prometheus.js';
import type { Observation } from './core/sli.js';

/**
 * `vigil_slo_sli_events_total{slo,outcome}` in `registry` (none: a counter no one scrapes, as
 * the benchmark keeps one), with both outcomes of every SLO present from the start (a ratio
 * over a missing series would be no value); returns what `onCounted` feeds it.
 */
export function sliEventsCounter(
  registry: Registry | undefined,
  slos: Iterable<string>,
): (observations: readonly Observation[]) => void {
  const counted = new Counter({
    name: SLI_EVENTS_METRIC,
    help: 'Events (or checks) counted for an SLO, by outcome: what the exported Prometheus rules compute error ratios from',
    labelNames: ['slo', 'outcome'],
    registers: registry === undefined ? [] : [registry],
  });
  for (const slo of slos) for (const outcome of ['good', 'bad']) counted.inc({ slo, outcome }, 0);
  return (observations) => {
    for (const o of observations) {
      if (o.good > 0) counted.inc({ slo: o.slo, outcome: 'good' }, o.good);
      if (o.total > o.good) counted.inc({ slo: o.slo, outcome: 'bad' }, o.total - o.good);
    }
  };
}
