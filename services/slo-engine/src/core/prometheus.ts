import { stringify } from 'yaml';
import { formatDuration } from '@vigil/service-kit';
import type { Severity, SloConfig } from '../config/slo.js';
import { allowedErrorRate, windowsOf } from './burn.js';

/**
 * The counter the slo-engine exposes in `/metrics`: every event (or check) an SLO counted, by
 * outcome. Prometheus scraping it can compute the same error ratios as the engine.
 */
export const SLI_EVENTS_METRIC = 'vigil_slo_sli_events_total';

/** The alert every exported rule file raises, one per SLO and severity (label `severity`). */
export const BURN_ALERT = 'VigilSloErrorBudgetBurn';

export interface PrometheusRule {
  readonly record?: string;
  readonly alert?: string;
  readonly expr: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface PrometheusRuleGroup {
  readonly name: string;
  readonly rules: readonly PrometheusRule[];
}

/** A threshold as Prometheus reads it: 14.4 × 0.001 is 0.0144, not 0.014400000000000001. */
const literal = (x: number) => String(Number(x.toPrecision(12)));

/** A label value in a PromQL string literal. */
const quoted = (s: string) => JSON.stringify(s);

/** The recorded error ratio of one window: `vigil_slo:sli_error:ratio_rate1h`. */
export function errorRatioRecord(windowMs: number): string {
  return `vigil_slo:sli_error:ratio_rate${formatDuration(windowMs)}`;
}

/**
 * Recording and alerting rules equivalent to the engine's evaluation of `slo`, as Sloth lays
 * them out: the error ratio over every window the SLO uses (from {@link SLI_EVENTS_METRIC},
 * summed over the engine's instances; a scraped SLI's from its own counters), the objective and the budget left, and one alert per
 * severity that holds when any of its tiers has both windows strictly above the tier's burn rate.
 *
 * At steady traffic they fire in the same minute as the engine (promtool tests that). They differ
 * where the engine is deliberately different: at low traffic one bad event alone does not fire a
 * tier in the engine (docs/decisions.md), and the engine counts an event in the minute it was
 * observed, Prometheus in the scrape after it was counted.
 */
export function prometheusRules(slo: SloConfig): PrometheusRuleGroup {
  const allowed = allowedErrorRate(slo.objective);
  const labels = { slo: slo.name, service: slo.service };
  const selector = (extra = '') => `${SLI_EVENTS_METRIC}{slo=${quoted(slo.name)}${extra}}`;
  const own = `{slo=${quoted(slo.name)}}`;
  // A scraped SLI's counters are in Prometheus already: the rules read them, as the engine does.
  const scraped = 'prometheus' in slo.sli ? slo.sli.prometheus : undefined;
  const errorRatio = (range: string) => {
    if (scraped === undefined) {
      return `sum(rate(${selector(', outcome="bad"')}${range})) / sum(rate(${selector()}${range}))`;
    }
    const total = `sum(rate(${scraped.total.text}${range}))`;
    return scraped.errors !== undefined
      ? `sum(rate(${scraped.errors.text}${range})) / ${total}`
      : `1 - sum(rate(${scraped.good!.text}${range})) / ${total}`;
  };
  const ratios: PrometheusRule[] = windowsOf(slo).map((w) => ({
    record: errorRatioRecord(w),
    expr: errorRatio(`[${formatDuration(w)}]`),
    labels,
  }));
  const meta: PrometheusRule[] = [
    { record: 'vigil_slo:objective:ratio', expr: `vector(${literal(slo.objective / 100)})`, labels },
    { record: 'vigil_slo:error_budget:ratio', expr: `vector(${literal(allowed)})`, labels },
    {
      record: 'vigil_slo:error_budget_remaining:ratio',
      expr: `1 - ${errorRatioRecord(slo.window)}${own} / ${literal(allowed)}`,
      labels,
    },
  ];
  const alerts: PrometheusRule[] = [];
  if (slo.alerting.enabled) {
    for (const severity of ['page', 'ticket'] as const satisfies readonly Severity[]) {
      const tiers = slo.alerting.tiers.filter((t) => t.severity === severity);
      if (tiers.length === 0) continue;
      // Each tier aggregated to the SLO's labels, so that `or` joins like with like and the alert
      // carries no recording rule's name.
      const expr = tiers
        .map((t) => {
          const threshold = literal(t.burnRate * allowed);
          return `max by (slo, service) (${errorRatioRecord(t.long)}${own} > ${threshold} and ${errorRatioRecord(t.short)}${own} > ${threshold})`;
        })
        .join('\nor\n');
      const described = tiers
        .map((t) => `${t.burnRate}× over ${formatDuration(t.long)} and ${formatDuration(t.short)}`)
        .join('; ');
      alerts.push({
        alert: BURN_ALERT,
        expr,
        labels: { ...labels, severity },
        annotations: {
          summary: `${slo.name} is burning its error budget too fast (${severity})`,
          description: `${slo.name} (${slo.service}, ${slo.objective} % over ${formatDuration(slo.window)}) burns its error budget faster than a ${severity} tier allows: ${described}.`,
        },
      });
    }
  }
  return { name: `vigil-slo-${slo.name}`, rules: [...ratios, ...meta, ...alerts] };
}

/** The rule file for `slos`: one group per SLO. */
export function prometheusRuleFile(slos: readonly SloConfig[]): { groups: PrometheusRuleGroup[] } {
  return { groups: slos.map(prometheusRules) };
}

/** The rule file as Prometheus reads it (YAML, no anchors, no folded lines). */
export function prometheusRuleYaml(slos: readonly SloConfig[]): string {
  return stringify(prometheusRuleFile(slos), { lineWidth: 0, aliasDuplicateObjects: false });
}
