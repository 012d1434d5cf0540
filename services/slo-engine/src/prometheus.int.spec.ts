import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseSlo, type SloConfig } from './config/slo.js';
import { BURN_ALERT, prometheusRuleFile, prometheusRuleYaml, SLI_EVENTS_METRIC } from './core/prometheus.js';
import { Simulation } from './testing/simulation.js';

/**
 * The exported rules checked by Prometheus itself: `promtool check rules` accepts them, and
 * `promtool test rules` replays the traffic of the engine's worked examples and expects, at every
 * minute where the engine's alerts change (and the minute before), exactly the alerts the engine
 * has firing then. Prometheus evaluates at the end of each minute over samples taken every
 * minute, so its windows hold the same minutes as the engine's buckets: no rounding to allow for.
 */
const promtool = process.env['PROMTOOL'] ?? 'promtool';
const run = promisify(execFile);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-promtool-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const demo = (extra = ''): SloConfig =>
  parseSlo(
    `name: demo\nservice: api\nobjective: 99.9\nwindow: 30d\nsli: { observed: { sli: demo } }\n${extra}`,
    'demo.yaml',
  );

/** A counter's samples, one a minute from 0, as promtool's expanding notation (`a+bxn`). */
function counterValues(increments: readonly number[]): string {
  const parts = ['0'];
  let value = 0;
  for (let i = 0; i < increments.length;) {
    const d = increments[i]!;
    let n = 1;
    while (increments[i + n] === d) n++;
    parts.push(`${value + d}+${d}x${n - 1}`);
    value += d * n;
    i += n;
  }
  return parts.join(' ');
}

interface Scenario {
  readonly name: string;
  /** Bad events in each minute, of 1000. */
  readonly bad: readonly number[];
}

const minutes = (n: number, bad: number) => Array.from({ length: n }, () => bad);
const scenarios: Scenario[] = [
  { name: '2 % errors for an hour, then none', bad: [...minutes(60, 20), ...minutes(40, 0)] },
  { name: '1 % errors (the 6× page at 217, the 3× ticket at 433)', bad: minutes(440, 10) },
  { name: 'a 30-second total outage', bad: [...minutes(10, 0), 500, ...minutes(120, 0)] },
  { name: 'a 5-minute total outage, then recovery', bad: [...minutes(5, 1000), ...minutes(400, 0)] },
];

describe('the exported Prometheus rules, checked by promtool', () => {
  it('promtool check rules accepts the rule file of the shipped tiers, custom tiers and alerting off', async () => {
    const file = join(dir, 'check.yml');
    await writeFile(
      file,
      prometheusRuleYaml([
        demo(),
        { ...demo('alerting: { tiers: [{ severity: ticket, long: 2h, short: 10m, burnRate: 2 }] }'), name: 'custom' },
        { ...demo('alerting: { enabled: false }'), name: 'quiet' },
      ]),
    );
    const r = await run(promtool, ['check', 'rules', file]);
    expect(r.stdout).toMatch(/SUCCESS: 3[0-9] rules found/);
  });

  it('promtool test rules: at each minute where the engine alerts change, Prometheus has the same alerts firing', async () => {
    const slo = demo();
    const rules = prometheusRuleFile([slo]);
    await writeFile(join(dir, 'rules.yml'), prometheusRuleYaml([slo]));
    const annotations = (severity: string) =>
      rules.groups[0]!.rules.find((r) => r.alert === BURN_ALERT && r.labels?.['severity'] === severity)!.annotations;
    // Clean history as long as the longest alert window, as the engine's examples have.
    const history = Math.max(...slo.alerting.tiers.map((t) => t.long)) / 60_000;
    const tests = scenarios.map((sc) => {
      const sim = new Simulation(slo);
      for (const bad of sc.bad) sim.step(bad);
      const changes = new Set<number>([1, sc.bad.length]);
      sim.firingAfter.forEach((f, i) => {
        if (i > 0 && f.join() !== sim.firingAfter[i - 1]!.join()) {
          changes.add(i);
          changes.add(i + 1);
        }
      });
      const good = [...minutes(history, 1000), ...sim.traffic.map((t) => t.good)];
      const bad = [...minutes(history, 0), ...sim.traffic.map((t) => t.total - t.good)];
      return {
        sim,
        changes,
        test: {
          interval: '1m',
          input_series: [
            { series: `${SLI_EVENTS_METRIC}{slo="demo",outcome="good"}`, values: counterValues(good) },
            { series: `${SLI_EVENTS_METRIC}{slo="demo",outcome="bad"}`, values: counterValues(bad) },
          ],
          alert_rule_test: [...changes]
            .sort((a, b) => a - b)
            .map((minute) => ({
              // The engine's minute m ends `history + m` minutes after the first sample.
              eval_time: `${history + minute}m`,
              alertname: BURN_ALERT,
              exp_alerts: sim.firingAfter[minute - 1]!.map((severity) => ({
                exp_labels: { slo: 'demo', service: 'api', severity },
                exp_annotations: annotations(severity),
              })),
            })),
        },
      };
    });
    // The examples' figures, so that a change in the engine cannot silently reshape the test.
    const firstFiring = (i: number, severity: 'page' | 'ticket') => tests[i]!.sim.first('firing', severity);
    expect([firstFiring(0, 'page'), tests[0]!.sim.first('resolved', 'page')]).toEqual([44, 62]);
    expect([firstFiring(1, 'page'), firstFiring(1, 'ticket')]).toEqual([217, 433]);
    expect(tests[2]!.sim.log).toEqual([]);
    expect(firstFiring(3, 'page')).toBe(1);
    await writeFile(
      join(dir, 'test.yml'),
      stringify(
        { rule_files: ['rules.yml'], evaluation_interval: '1m', tests: tests.map((t) => t.test) },
        { lineWidth: 0 },
      ),
    );
    const r = await run(promtool, ['test', 'rules', join(dir, 'test.yml')], { cwd: dir }).catch(
      (e: { stdout?: string; stderr?: string; message: string }) => {
        throw new Error(`promtool test rules failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
      },
    );
    expect(r.stdout).toContain('SUCCESS');
    // Every transition was checked: pages and tickets, firing and resolved.
    const checked = tests.reduce((n, t) => n + t.changes.size, 0);
    expect(checked).toBeGreaterThan(12);
  }, 120_000);
});
