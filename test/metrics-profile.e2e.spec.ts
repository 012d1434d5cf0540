import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { freePort, waitFor } from '@vigil/testkit';
import { startTestStack } from './support/cli.js';

/**
 * The compose `metrics` profile's Prometheus configuration, run by Debian's prometheus against
 * `vigil up`: the same scrape job (its targets moved from the compose network to this machine's
 * ports) and the same rule file. Every service is scraped, and every SLO's rules load and evaluate.
 */
const compose = join(dirname(fileURLToPath(import.meta.url)), '..', 'deploy', 'compose', 'prometheus');
const ports: Record<string, number> = {
  validator: 0,
  'slo-engine': 1,
  chaos: 2,
  anomaly: 3,
  'outbox-relay': 4,
  status: 5,
};

const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

interface Config {
  global: Record<string, unknown>;
  rule_files: string[];
  scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
}

describe('the compose metrics profile', () => {
  it("Debian's prometheus with the profile's configuration scrapes every service of vigil up and loads every SLO's rules", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vigil-metrics-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const { portBase } = await startTestStack(cleanup, 'metrics-up');

    const config = parse(await readFile(join(compose, 'prometheus.yml'), 'utf8')) as Config;
    const targets = config.scrape_configs.flatMap((c) => c.static_configs.flatMap((s) => s.targets));
    expect(targets.map((t) => t.split(':')[0]).sort()).toEqual(Object.keys(ports).sort());
    for (const c of config.scrape_configs) {
      for (const s of c.static_configs) {
        s.targets = s.targets.map((t) => `127.0.0.1:${portBase + ports[t.split(':')[0]!]!}`);
      }
    }
    config.global = { ...config.global, scrape_interval: '1s', evaluation_interval: '1s' };
    config.rule_files = [join(compose, 'vigil-slos.yml')];
    await writeFile(join(dir, 'prometheus.yml'), stringify(config));
    const port = await freePort();
    const prometheus = spawn(
      process.env['PROMETHEUS'] ?? '/usr/bin/prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let log = '';
    prometheus.stderr.on('data', (d: Buffer) => (log += d.toString()));
    cleanup.push(
      () =>
        new Promise<void>((resolve) => {
          if (prometheus.exitCode !== null) return resolve();
          prometheus.once('exit', () => resolve());
          prometheus.kill('SIGTERM');
        }),
    );
    const api = async <T>(path: string): Promise<T> =>
      ((await (await fetch(`http://127.0.0.1:${port}/api/v1/${path}`)).json()) as { data: T }).data;

    await waitFor(
      async () => {
        const t = await api<{ activeTargets: { health: string }[] }>('targets');
        return t.activeTargets.length === 6 && t.activeTargets.every((x) => x.health === 'up');
      },
      { timeoutMs: 30_000, message: `every service scraped (prometheus: ${log.slice(-500)})` },
    );
    const rules = await waitFor(
      async () => {
        const r = await api<{ groups: { name: string; rules: { health: string; lastEvaluation: string }[] }[] }>(
          'rules',
        );
        const evaluated = r.groups.every((g) => g.rules.every((x) => !x.lastEvaluation.startsWith('0001')));
        return r.groups.length === 3 && evaluated ? r.groups : undefined;
      },
      { timeoutMs: 30_000, message: 'the rule groups loaded and evaluated' },
    );
    expect(rules.map((g) => g.name).sort()).toEqual([
      'vigil-slo-availability',
      'vigil-slo-error-rate',
      'vigil-slo-latency',
    ]);
    expect(rules.flatMap((g) => g.rules).every((r) => r.health === 'ok')).toBe(true);
    // The counter the rules read, from the slo-engine, and a recorded value.
    const counted = await api<{ result: { metric: Record<string, string> }[] }>(
      `query?query=${encodeURIComponent('vigil_slo_sli_events_total{outcome="good"}')}`,
    );
    expect(counted.result.map((r) => r.metric['slo']).sort()).toEqual(['availability', 'error-rate', 'latency']);
    const objective = await api<{ result: { value: [number, string] }[] }>(
      `query?query=${encodeURIComponent('vigil_slo:objective:ratio{slo="availability"}')}`,
    );
    expect(objective.result[0]?.value[1]).toBe('0.999');
  }, 120_000);
});
