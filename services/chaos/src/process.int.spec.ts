import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ServiceProcess, waitFor } from '@vigil/testkit';
import { chaosHarness, testSuite, type ChaosHarness } from './testing/harness.js';

const cliDir = fileURLToPath(new URL('../../../cli', import.meta.url));
const natsUrl = inject('natsUrl');
const databaseUrl = inject('databaseUrl');
const optIn = { 'vigil.chaos/enabled': 'true' };

/**
 * The chaos service as its own process, with the relay and a real validator whose suite checks
 * the target container: the recovery's validation run is requested, run and awaited for real.
 */
let h: ChaosHarness;
let dir: string;
let env: Record<string, string>;
const processes: ServiceProcess[] = [];
const start = (name: string, extra: Record<string, string> = {}) => {
  const p = ServiceProcess.start(name, { ...env, ...extra });
  processes.push(p);
  return p;
};

beforeAll(async () => {
  h = await chaosHarness('chaos-proc', { natsUrl, databaseUrl });
  dir = await mkdtemp(join(tmpdir(), 'vigil-chaos-proc-'));
  await mkdir(join(dir, 'suites'));
  await h.bed.run({ name: 'app', labels: optIn, healthcheck: { shell: 'true', intervalMs: 200 } });
  await writeFile(
    join(dir, 'suites', `${testSuite}.yaml`),
    `name: ${testSuite}
components:
  - name: app
    weight: 1
    checks:
      - name: app container running and healthy
        kind: docker.container
        params: { container: { name: ${h.bed.nameOf('app')} } }
`,
  );
  await writeFile(
    join(dir, 'chaos.yaml'),
    `verification: { timeout: 20s, suite: ${testSuite}, validationTimeout: 30s }\n`,
  );
  env = {
    NATS_URL: natsUrl,
    DATABASE_URL: h.databaseUrl,
    VIGIL_NAMESPACE: h.f.namespaceId,
    ...(process.env['DOCKER_HOST'] ? { DOCKER_HOST: process.env['DOCKER_HOST'] } : {}),
  };
  await start('outbox-relay').waitReady();
  await start('validator', { VALIDATOR_SUITES_DIR: join(dir, 'suites'), VALIDATOR_SCHEDULE: 'false' }).waitReady();
  // The gate needs a fresh score of the suite: ask the validator for one.
  await h.publish('validation.requested', { suite: testSuite, requestedBy: 'test' });
}, 120_000);

afterAll(async () => {
  for (const p of processes.reverse()) await p.kill('SIGTERM');
  await h[Symbol.asyncDispose]();
  await rm(dir, { recursive: true, force: true });
});

function chaosProcess() {
  return start('chaos', {
    CHAOS_CONFIG: join(dir, 'chaos.yaml'),
    CHAOS_HELPER_IMAGE: h.helperImage,
    CHAOS_SLO_URL: h.sloUrl,
    CHAOS_LEASE_MS: '1000',
    CHAOS_SCHEDULE: 'false',
  });
}

describe('the chaos service as a process', () => {
  it('pause → hold → unpause → healthy → a validation run requested and awaited → chaos.completed with the scores', async () => {
    const chaos = chaosProcess();
    await chaos.waitReady();
    // The score the gate reads comes from the validator's run, through the relay and the stream.
    await waitFor(async () => (await h.db.selectFrom('chaos.validations').select('score').execute()).length > 0, {
      timeoutMs: 30_000,
      message: 'a validation run of the suite',
    });
    const requestId = await h.publish('chaos.requested', {
      kind: 'container-pause',
      target: { names: [h.bed.nameOf('app')] },
      durationSeconds: 2,
      requestedBy: 'test',
      reason: 'process test',
    });
    await waitFor(async () => (await h.bed.docker.getContainer(h.bed.nameOf('app')).inspect()).State.Paused, {
      timeoutMs: 20_000,
      message: 'the target to be paused',
    });
    const o = await h.outcome(requestId, 60_000);
    expect(o.type).toBe('chaos.completed');
    expect(o.data).toMatchObject({
      scoreBefore: 10,
      scoreAfter: 10,
      recovery: {
        recovered: true,
        details: [`${h.bed.nameOf('app')}: running (healthy)`, `validation ${testSuite}: PASS, score 10`],
      },
    });
    const d = o.data as { startedAt: string; injectedAt: string; rolledBackAt: string; completedAt: string };
    expect(Date.parse(d.rolledBackAt) - Date.parse(d.injectedAt)).toBeGreaterThanOrEqual(2000);
    expect(Date.parse(d.completedAt)).toBeGreaterThanOrEqual(Date.parse(d.rolledBackAt));
    await chaos.kill('SIGTERM');
  }, 90_000);

  it('SIGKILLed mid-pause, the restarted service unpauses the container and reports the interruption', async () => {
    let chaos = chaosProcess();
    await chaos.waitReady();
    const requestId = await h.publish('chaos.requested', {
      kind: 'container-pause',
      target: { names: [h.bed.nameOf('app')] },
      durationSeconds: 300,
      requestedBy: 'test',
      reason: 'kill test',
    });
    await waitFor(async () => (await h.bed.docker.getContainer(h.bed.nameOf('app')).inspect()).State.Paused, {
      timeoutMs: 20_000,
      message: 'the target to be paused',
    });
    // Paused: the kill may land before or after the phase moved on to holding; both are covered.
    await chaos.kill('SIGKILL');
    expect((await h.bed.docker.getContainer(h.bed.nameOf('app')).inspect()).State.Paused).toBe(true);

    chaos = chaosProcess();
    await chaos.waitReady();
    await waitFor(async () => !(await h.bed.docker.getContainer(h.bed.nameOf('app')).inspect()).State.Paused, {
      timeoutMs: 20_000,
      message: 'the restarted chaos service to unpause the target',
    });
    const o = await h.outcome(requestId, 60_000);
    expect(o.type).toBe('chaos.aborted');
    expect(o.data).toMatchObject({
      reasons: [
        expect.stringMatching(
          /^the chaos service stopped during the (injecting|holding) phase; what it injected was rolled back/,
        ),
      ],
      recovery: { recovered: true },
    });
    // Exactly one outcome for the request, however many instances looked at it.
    const outcomes = [...(await h.emitted('chaos.completed')), ...(await h.emitted('chaos.aborted'))].filter(
      (e) => e.data.requestId === requestId,
    );
    expect(outcomes).toHaveLength(1);
    await chaos.kill('SIGTERM');
  }, 120_000);

  it('`vigil chaos abort` stops a running experiment; the container is rolled back at once', async () => {
    const chaos = chaosProcess();
    await chaos.waitReady();
    const requestId = await h.publish('chaos.requested', {
      kind: 'container-pause',
      target: { names: [h.bed.nameOf('app')] },
      durationSeconds: 300,
      requestedBy: 'test',
      reason: 'cli abort test',
    });
    await waitFor(async () => (await h.bed.docker.getContainer(h.bed.nameOf('app')).inspect()).State.Paused, {
      timeoutMs: 20_000,
      message: 'the target to be paused',
    });
    const cli = spawnSync(
      process.execPath,
      [
        '--conditions=vigil-source',
        '--import',
        'tsx',
        'src/main.ts',
        'chaos',
        'abort',
        requestId,
        '--request',
        '--by',
        'bob',
        '--reason',
        'enough',
      ],
      { cwd: cliDir, env: { ...process.env, NATS_URL: natsUrl, VIGIL_NAMESPACE: h.f.namespaceId }, encoding: 'utf8' },
    );
    expect(cli.stderr).toBe('');
    expect(cli.stdout).toMatch(/^abort requested: event \S+ \(stream sequence \d+\)\n$/);
    expect(cli.status).toBe(0);
    const o = await h.outcome(requestId, 30_000);
    expect(o.type).toBe('chaos.aborted');
    expect(o.data).toMatchObject({ reasons: ['aborted by bob: enough'], recovery: { recovered: true } });
    expect((await h.bed.docker.getContainer(h.bed.nameOf('app')).inspect()).State.Paused).toBe(false);
    await chaos.kill('SIGTERM');
  }, 90_000);
});
