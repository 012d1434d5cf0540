import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadSlos, parseSlo } from '../config/slo.js';
import { prometheusRules, prometheusRuleYaml } from './prometheus.js';

describe('the compose metrics profile', () => {
  it('deploy/compose/prometheus/vigil-slos.yml is the export of the shipped SLOs (regenerate with vigil slo export --prometheus)', async () => {
    const shipped = await loadSlos(fileURLToPath(new URL('../../../../config/slos', import.meta.url)));
    const file = readFileSync(new URL('../../../../deploy/compose/prometheus/vigil-slos.yml', import.meta.url), 'utf8');
    expect(file).toBe(prometheusRuleYaml([...shipped.values()]));
  });
});

describe('prometheusRules', () => {
  const slo = (alerting: string) =>
    parseSlo(
      `name: checkout
service: shop
sli:
  events:
    type: validation.completed
    good: { status: [PASS, WARN] }
objective: 99
window: 7d
alerting: ${alerting}
`,
      'checkout.yaml',
    );
  const alertsOf = (alerting: string) => prometheusRules(slo(alerting)).rules.filter((r) => r.alert !== undefined);

  it('one alert per severity that has tiers: none for a severity without any, none at all with alerting off', () => {
    const pageOnly = alertsOf('{ tiers: [{ severity: page, long: 1h, short: 5m, burnRate: 14.4 }] }');
    expect(pageOnly.map((r) => r.labels?.['severity'])).toEqual(['page']);
    // 14.4 × the 1 % the objective allows, over both windows.
    expect(pageOnly[0]?.expr).toBe(
      'max by (slo, service) (vigil_slo:sli_error:ratio_rate1h{slo="checkout"} > 0.144 and vigil_slo:sli_error:ratio_rate5m{slo="checkout"} > 0.144)',
    );
    expect(
      alertsOf('{ tiers: [{ severity: ticket, long: 1d, short: 2h, burnRate: 3 }] }').map(
        (r) => r.labels?.['severity'],
      ),
    ).toEqual(['ticket']);
    expect(alertsOf('{ enabled: false }')).toEqual([]);
    // The recording rules stay: budgets are computed without alerting too.
    expect(prometheusRules(slo('{ enabled: false }')).rules.length).toBeGreaterThan(0);
  });
});
