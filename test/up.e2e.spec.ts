import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { afterEach, describe, expect, it } from 'vitest';
import { createEvent, createPublisher, defaultNamespace, replay, type VigilEvent } from '@vigil/events';
import { samples } from '@vigil/events/testing';
import { createOutbox, type OutboxDatabase } from '@vigil/outbox';
import { createDb } from '@vigil/service-kit';
import { freePortRange, waitFor } from '@vigil/testkit';
import { cliPath as cli, runCli, startUp, type UpProcess } from './support/cli.js';

const running: UpProcess[] = [];
const dirs: string[] = [];
afterEach(async () => {
  // A failed assertion must not leave a stack running: SIGTERM stops what `vigil up` started.
  for (const u of running.splice(0)) await u.stop();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

function startStack(dataDir: string, portBase: number): UpProcess {
  const up = startUp({
    ...process.env,
    VIGIL_DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    // Never the default ports 9470-9475: a stack of `npm run up` may hold them.
    VIGIL_PORT_BASE: String(portBase),
    // Scheduled runs would add events this test cannot count on.
    VALIDATOR_SCHEDULE: 'false',
  });
  running.push(up);
  return up;
}

/**
 * Events that services emit on their own clocks (minute evaluations, the weekly chaos schedule
 * and its refusal), which a test cannot time.
 */
const timed = new Set(['slo.burn', 'anomaly.detected', 'chaos.requested', 'chaos.aborted']);

/** Ids of the stream's events in order, leaving out those emitted on a clock. */
async function history(natsUrl: string): Promise<string[]> {
  const nc = await connect({ servers: natsUrl });
  try {
    const ids: string[] = [];
    for await (const r of replay(nc, { ns: defaultNamespace, start: { from: 'beginning' } })) {
      if (!timed.has(r.event.type)) ids.push(r.event.id);
    }
    return ids;
  } finally {
    await nc.close();
  }
}

/** The request ids the stream's validation.completed events answer. */
async function completions(natsUrl: string): Promise<string[]> {
  const nc = await connect({ servers: natsUrl });
  try {
    const ids: string[] = [];
    for await (const r of replay(nc, {
      ns: defaultNamespace,
      start: { from: 'beginning' },
      types: ['validation.completed'],
    })) {
      if (r.event.type === 'validation.completed') ids.push(r.event.data.requestId);
    }
    return ids;
  } finally {
    await nc.close();
  }
}

describe('vigil up (the README quick start)', () => {
  it('brings NATS, PostgreSQL, the streams and the relay up on its own servers, stops cleanly, and keeps the data', async () => {
    expect(existsSync(cli), 'cli/dist/main.js is missing: run pnpm build (npm test does)').toBe(true);
    const dataDir = await mkdtemp(join(tmpdir(), 'vigil-up-'));
    dirs.push(dataDir);

    const portBase = await freePortRange(6);
    const relayUrl = `http://127.0.0.1:${portBase + 4}`;
    const first = startStack(dataDir, portBase);
    const { natsUrl, databaseUrl } = await first.ready(60_000);
    expect(databaseUrl).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/vigil$/);
    expect(first.output()).toContain('EVENTS (created');
    expect(first.output()).toContain(`outbox-relay  ${relayUrl}/readyz`);
    expect((await fetch(`${relayUrl}/readyz`)).status).toBe(200);
    await waitFor(
      async () => (await (await fetch(`${relayUrl}/metrics`)).text()).includes('vigil_outbox_relay_leader 1'),
      {
        message: 'the relay leads',
      },
    );

    // An event committed to the outbox of the stack's database reaches the stream through the
    // relay; an event a tool publishes goes straight in.
    const committed = createEvent('validation.completed', samples['validation.completed'], {
      source: 'vigil/e2e',
    }) as VigilEvent;
    const { db } = createDb<OutboxDatabase>(databaseUrl);
    await db.transaction().execute((tx) => createOutbox().add(tx, committed));
    await db.destroy();
    const nc = await connect({ servers: natsUrl });
    const sent = await createPublisher({ js: jetstream(nc), source: 'vigil/e2e' }).publish('validation.requested', {
      suite: 'vigil-self',
    });
    await nc.close();
    // The relayed event, the request, and the validator's answer to the request (besides any
    // slo.burn the slo-engine emits at a minute boundary: vigil-self finds services not running).
    await waitFor(async () => (await history(natsUrl)).length === 3, { message: 'three events in the stream' });
    const firstRun = await history(natsUrl);
    expect(firstRun).toHaveLength(3);
    expect(firstRun).toEqual(expect.arrayContaining([committed.id, sent.id]));
    expect(await completions(natsUrl)).toEqual(expect.arrayContaining([sent.id]));

    // The status service follows the results: the run is on the page and in `vigil status`.
    const statusUrl = `http://127.0.0.1:${portBase + 5}`;
    expect(first.output()).toContain(`status        ${statusUrl}/readyz`);
    await waitFor(async () => (await (await fetch(`${statusUrl}/`)).text()).includes('vigil-self'), {
      message: 'vigil-self on the status page',
    });
    const status = await runCli({ ...process.env, VIGIL_PORT_BASE: String(portBase) }, ['status', '--json']);
    expect(status.code, status.stderr).toBe(0);
    const overview = JSON.parse(status.stdout) as { suites: { name: string }[]; slos: unknown[] };
    expect(overview.suites.map((x) => x.name)).toContain('vigil-self');
    expect(Array.isArray(overview.slos)).toBe(true);
    const text = await runCli({ ...process.env, VIGIL_PORT_BASE: String(portBase) }, ['status']);
    expect(text.stdout).toMatch(/^SUITE +COMPONENT +STATUS +SCORE/m);
    expect(text.stdout).toMatch(/^SLO +OBJECTIVE +WINDOW +BUDGET LEFT/m);

    // `vigil slos`: the shipped SLOs, one of them in detail, and its history over the last hour.
    const cliEnv = { ...process.env, VIGIL_PORT_BASE: String(portBase) };
    const slos = await runCli(cliEnv, ['slos']);
    expect(slos.stdout).toMatch(/^availability +vigil +99\.9% +30d/m);
    const overTime = await runCli(cliEnv, ['slos', 'availability', '--history', '--window', '1h', '--step', '5m']);
    expect(overTime.code, overTime.stderr).toBe(0);
    const lines = overTime.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('availability: 99.9% over 30d, a point every 5m (UTC)');
    expect(lines[1]).toMatch(/^TIME +BUDGET LEFT +BURN 5m/);
    expect(lines).toHaveLength(2 + 13);
    const json = await runCli(cliEnv, ['slos', 'availability', '--history', '--json']);
    expect((JSON.parse(json.stdout) as { times: number[] }).times.length).toBeGreaterThan(700);
    const nope = await runCli(cliEnv, ['slos', 'nope']);
    expect(nope.code).toBe(1);
    expect(nope.stderr).toMatch(
      /^vigil: the slo-engine answered 404 at http:\/\/127\.0\.0\.1:\d+\/slos\/nope: no SLO 'nope' \(known: availability, error-rate, latency\)\n$/,
    );

    // The same SLOs as Prometheus rules, which promtool accepts; the counter they read is in the
    // slo-engine's /metrics, with the vigil-self run's checks counted.
    const exported = await runCli(cliEnv, ['slo', 'export', '--prometheus', 'availability', 'latency']);
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stdout).toMatch(/^groups:\n {2}- name: vigil-slo-availability\n/);
    const rulesFile = join(dataDir, 'rules.yml');
    await writeFile(rulesFile, exported.stdout);
    const checked = spawnSync(process.env['PROMTOOL'] ?? 'promtool', ['check', 'rules', rulesFile], {
      encoding: 'utf8',
    });
    expect(checked.status, checked.stdout + checked.stderr).toBe(0);
    const metrics = await (await fetch(`http://127.0.0.1:${portBase + 1}/metrics`)).text();
    expect(metrics).toMatch(/^vigil_slo_sli_events_total\{slo="availability",outcome="good"\} [1-9]\d*$/m);
    const badFormat = await runCli(cliEnv, ['slo', 'export']);
    expect([badFormat.code, badFormat.stderr]).toEqual([1, 'vigil: vigil slo export needs a format: --prometheus\n']);

    first.child.kill('SIGINT');
    expect(await first.exited).toBe(0);
    expect(first.output()).toContain('vigil: stopped');

    const second = startStack(dataDir, portBase);
    const { natsUrl: url2 } = await second.ready(60_000);
    const stored = Number(/EVENTS \(exists, (\d+) messages/.exec(second.output())?.[1]);
    expect(stored).toBeGreaterThanOrEqual(3);
    expect(await history(url2)).toEqual(firstRun);
    expect(await completions(url2)).toContain(sent.id);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('fails with one clear line when the environment is wrong', async () => {
    const child = spawn(process.execPath, [cli, 'up'], {
      env: { ...process.env, NATS_URL: 'not a url' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    expect(code).toBe(1);
    expect(err.trim()).toMatch(/^vigil: environment variable NATS_URL: /);
    expect(err.trim().split('\n')).toHaveLength(1);
  });
});
