import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createEvent, type VigilEvent } from '@vigil/events';
import { samples } from '@vigil/events/testing';
import { countsFor } from '../core/sli.js';
import { Simulation } from '../testing/simulation.js';
import { loadSlos } from './slo.js';

const examples = join(dirname(fileURLToPath(import.meta.url)), '../../../../config/slos/examples');
const MIN = 60_000;

/** An SLO folder holding one file with `text`; the test's own, removed after. */
async function folderWith(text: string): Promise<{ dir: string; [Symbol.asyncDispose](): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'vigil-openslo-'));
  await writeFile(join(dir, 'slos.yaml'), text);
  return { dir, [Symbol.asyncDispose]: () => rm(dir, { recursive: true, force: true }) };
}

const header = (kind: string, name: string) => `apiVersion: openslo/v1\nkind: ${kind}\nmetadata: { name: ${name} }\n`;
const ratioSli = `spec:
  ratioMetric:
    counter: true
    bad: { metricSource: { type: Prometheus, spec: { url: 'http://a/metrics', query: 'x{code="500"}' } } }
    total: { metricSource: { type: Prometheus, spec: { url: 'http://a/metrics', query: x } } }
`;
const slo = (extra = '', objective = 'target: 0.99') => `${header('SLO', 'api')}spec:
  service: shop
  indicatorRef: errors
  objectives: [{ ${objective} }]
${extra}`;

describe('OpenSLO v1 in', () => {
  it('imports the example: SLIs and alert policies by reference and inline, into vigil SLOs with the same tiers', async () => {
    const slos = await loadSlos(examples);
    expect([...slos.keys()]).toEqual(['checkout-availability', 'http-latency']);
    const checkout = slos.get('checkout-availability')!;
    expect(checkout).toMatchObject({
      service: 'checkout',
      objective: 99.9,
      window: 30 * 1440 * MIN,
      sli: {
        prometheus: {
          url: 'http://checkout:8080/metrics',
          total: { metric: 'http_requests_total', matchers: [] },
          errors: { metric: 'http_requests_total', matchers: [{ label: 'code', op: '=~', value: '5..' }] },
        },
      },
    });
    // A lookback window long, a twelfth of it short: the SRE Workbook's table.
    expect(checkout.alerting.tiers).toEqual([
      { severity: 'page', long: 60 * MIN, short: 5 * MIN, burnRate: 14.4 },
      { severity: 'page', long: 360 * MIN, short: 30 * MIN, burnRate: 6 },
      { severity: 'ticket', long: 4320 * MIN, short: 360 * MIN, burnRate: 1 },
    ]);
    // No alert policy: vigil's default tiers.
    expect(slos.get('http-latency')!.alerting.tiers).toHaveLength(4);
  });

  it('evaluates: the threshold SLI counts checks from events, and the imported tiers page at 2 % errors in minute 44', async () => {
    const slos = await loadSlos(examples);
    const latency = slos.get('http-latency')!;
    const run = createEvent(
      'validation.completed',
      {
        ...samples['validation.completed'],
        suite: 'vigil-self',
        components: [
          {
            name: 'api',
            weight: 1,
            status: 'PASS',
            score: 10,
            checks: [
              { name: 'fast', kind: 'http', status: 'PASS', durationMs: 40, message: 'ok' },
              { name: 'slow', kind: 'http', status: 'PASS', durationMs: 180, message: 'ok' },
              { name: 'down', kind: 'http', status: 'ERROR', durationMs: 5, message: 'refused' },
              { name: 'db', kind: 'postgres', status: 'PASS', durationMs: 400, message: 'ok' },
            ],
          },
        ],
      },
      { source: 'vigil/test' },
    ) as VigilEvent;
    expect(countsFor(latency, run)).toEqual({ good: 1, total: 2 });
    const sim = new Simulation(slos.get('checkout-availability')!);
    sim.run(44, 20);
    expect(sim.first('firing', 'page')).toBe(44);
  });

  it('refuses what vigil cannot do the same way, naming the document and the field', async () => {
    const cases: [string, string][] = [
      [
        `${header('SLI', 'errors')}${ratioSli}---\n${slo('', 'target: 0.99 }, { target: 0.95')}`,
        'spec.objectives: one objective per SLO',
      ],
      [
        `${header('SLI', 'errors')}${ratioSli}---\n${slo('  budgetingMethod: Timeslices\n')}`,
        'spec.budgetingMethod: must be Occurrences',
      ],
      [
        `${header('SLI', 'errors')}${ratioSli}---\n${slo('  timeWindow: [{ duration: 1w, isRolling: false }]\n')}`,
        'spec.timeWindow[0]: calendar windows are not supported',
      ],
      [`${slo()}`, "spec.indicatorRef: no SLI named 'errors' among the OpenSLO documents"],
      [
        `${header('SLI', 'errors')}${ratioSli.replace('type: Prometheus, spec: { url', 'type: Datadog, spec: { url')}---\n${slo()}`,
        "must be the same as total's (Prometheus)",
      ],
      [
        `${header('SLI', 'errors')}${ratioSli}---\n${slo(`  alertPolicies:
    - kind: AlertPolicy
      metadata: { name: p }
      spec:
        conditions:
          - kind: AlertCondition
            spec: { severity: page, condition: { kind: burnrate, op: gt, threshold: 14.4, lookbackWindow: 1h, alertAfter: 5m } }
`)}`,
        'spec.alertPolicies[0].conditions[0].condition.alertAfter: is not supported',
      ],
      [
        `${header('SLI', 'errors')}${ratioSli}---\n${slo(`  alertPolicies:
    - kind: AlertPolicy
      metadata: { name: p }
      spec:
        conditions:
          - kind: AlertCondition
            spec: { severity: critical, condition: { kind: burnrate, op: gt, threshold: 14.4, lookbackWindow: 1h } }
`)}`,
        "spec.alertPolicies[0].conditions[0].severity: must be page or ticket, got 'critical'",
      ],
      [
        `${header('Dashboard', 'd')}spec: {}\n`,
        "kind: must be SLO, SLI, AlertPolicy or AlertCondition, got 'Dashboard'",
      ],
      [
        `${header('SLI', 'errors')}${ratioSli}---\n${header('SLI', 'errors')}${ratioSli}`,
        "SLI 'errors' is also defined in",
      ],
    ];
    for (const [text, message] of cases) {
      await using folder = await folderWith(text);
      const error = await loadSlos(folder.dir).then(
        () => undefined,
        (e: unknown) => (e as Error).message,
      );
      expect(error, message).toContain(message);
      expect(error, message).toMatch(/slos\.yaml \(document \d+/);
    }
  });
});
