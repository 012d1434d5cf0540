import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import {
  createEvent,
  encodeStructured,
  ensureConsumer,
  silentLogger,
  subjectOf,
  type EventDataInput,
  type VigilEvent,
} from '@vigil/events';
import { eventsFixture, type EventsFixture } from '@vigil/events/testing';
import { dockerTestbed, ensureChaosHelperImage, type DockerTestbed } from '@vigil/docker/testing';
import { migrateOutbox } from '@vigil/outbox';
import { createDb } from '@vigil/service-kit';
import { createTestDatabase, ServiceProcess, waitFor } from '@vigil/testkit';
import { parseChaosConfig } from '../config/chaos.js';
import { dockerEngine } from '../engine.js';
import { sloBudgetsFrom } from '../budgets.js';
import {
  CHAOS_ABORTS,
  CHAOS_REQUESTS,
  CHAOS_VALIDATIONS,
  startAborts,
  startRequests,
  startValidations,
} from '../consumers.js';
import type { ChaosDeps } from '../deps.js';
import { createRunner, type Runner } from '../runner.js';
import { migrateChaos, type ChaosDatabase } from '../store.js';

/** The suite whose scores the tests' gate reads. */
export const testSuite = 'chaos-test';

type Outcome = VigilEvent<'chaos.completed'> | VigilEvent<'chaos.aborted'>;

/**
 * Everything the chaos service needs, real: a test database, a test namespace on NATS with the
 * consumers, a Docker test bed with the helper image, and a slo-engine process answering /slos.
 */
export interface ChaosHarness extends AsyncDisposable {
  readonly db: Kysely<ChaosDatabase>;
  readonly databaseUrl: string;
  readonly f: EventsFixture;
  readonly bed: DockerTestbed;
  readonly helperImage: string;
  readonly sloUrl: string;
  readonly configFile: string;
  /** Runs the service in this process with `config` (defaults below). Stopped on dispose. */
  startService(config?: string): Promise<{ deps: ChaosDeps; runner: Runner }>;
  /** Publishes an event onto the namespace's stream; returns its id. */
  publish<T extends Parameters<typeof createEvent>[0]>(type: T, data: EventDataInput<T>): Promise<string>;
  /** A validation run of the test suite with this score, completed `ageMs` ago, with `failedChecks` FAIL checks. */
  validated(score: number, ageMs?: number, failedChecks?: number): Promise<void>;
  /** The chaos.completed or chaos.aborted for a request, from the outbox. */
  outcome(requestId: string, timeoutMs?: number): Promise<Outcome>;
  /** Every event of `type` in the outbox. */
  emitted<T extends 'chaos.started' | 'chaos.completed' | 'chaos.aborted'>(type: T): Promise<VigilEvent<T>[]>;
}

/** The policy the tests use: the seed's, with a short recovery deadline and no validation run unless asked. */
export const testConfig = (extra = '') => `
policy: { maxScoreAge: 10m }
verification: { timeout: 20s, suite: null }
${extra}`;

/**
 * A chaos service on its own database, namespace and containers, with the helpers its tests use.
 * Long because those helpers are closures over the harness's connections.
 */
export async function chaosHarness(
  label: string,
  urls: { natsUrl: string; databaseUrl: string },
): Promise<ChaosHarness> {
  const database = await createTestDatabase(urls.databaseUrl, label);
  const f = await eventsFixture(urls.natsUrl, { label });
  const { db } = createDb<ChaosDatabase>(database.url);
  await migrateOutbox(db);
  await migrateChaos(db);
  for (const spec of [CHAOS_REQUESTS, CHAOS_ABORTS, CHAOS_VALIDATIONS]) await ensureConsumer(f.nc, spec, f.ns);
  const bed = await dockerTestbed(label);
  const helperImage = await ensureChaosHelperImage(bed.docker);
  const dir = await mkdtemp(join(tmpdir(), 'vigil-chaos-'));
  const configFile = join(dir, 'chaos.yaml');
  await writeFile(configFile, testConfig());
  // An SLO of the harness's own over the checks it publishes: the shipped ones count vigil-self only.
  await mkdir(join(dir, 'slos'));
  await writeFile(
    join(dir, 'slos', 'availability.yaml'),
    `name: availability
service: test
sli: { events: { type: validation.completed, each: check, where: { suite: ${testSuite} }, good: { status: [PASS, WARN] } } }
objective: 99.9
`,
  );
  const slo = ServiceProcess.start('slo-engine', {
    NATS_URL: urls.natsUrl,
    DATABASE_URL: database.url,
    VIGIL_NAMESPACE: f.namespaceId,
    SLO_DIR: join(dir, 'slos'),
  });
  const sloUrl = `http://127.0.0.1:${(await slo.waitReady()).port}`;
  const stops: (() => Promise<void>)[] = [];

  const publish: ChaosHarness['publish'] = async (type, data) => {
    const event = createEvent(type, data, { source: 'vigil/test' }) as VigilEvent;
    const { data: body, headers } = encodeStructured(event);
    await f.js.publish(subjectOf(f.ns, event.type), body, { headers, msgID: event.id });
    return event.id;
  };

  const emitted: ChaosHarness['emitted'] = async (type) => {
    const rows = await db
      .selectFrom('outbox.events')
      .select('payload')
      .where('subject', '=', subjectOf(f.ns, type))
      .orderBy('seq')
      .execute();
    return rows.map((r) => JSON.parse(Buffer.from(r.payload).toString('utf8')) as VigilEvent<typeof type>);
  };

  return {
    db,
    databaseUrl: database.url,
    f,
    bed,
    helperImage,
    sloUrl,
    configFile,
    async startService(config = testConfig()) {
      const deps: ChaosDeps = {
        db,
        js: f.js,
        ns: f.ns,
        engine: dockerEngine(bed.docker, { helperImage, stopTimeoutSeconds: 2 }),
        config: parseChaosConfig(config, 'chaos.yaml'),
        budgets: sloBudgetsFrom(sloUrl),
        logger: silentLogger,
        leaseMs: 2000,
        pollMs: 100,
      };
      const runner = createRunner(deps);
      const stopSweeping = runner.startSweeping();
      const consumers = [
        await startValidations(deps),
        await startRequests(deps, runner),
        await startAborts(deps, runner),
      ];
      stops.push(async () => {
        for (const c of consumers) await c.stop();
        await runner.stopAll('test over');
        await stopSweeping();
      });
      return { deps, runner };
    },
    publish,
    async validated(score, ageMs = 0, failedChecks = 0) {
      const at = new Date(Date.now() - ageMs).toISOString();
      await publish('validation.completed', {
        requestId: randomUUID(),
        runId: randomUUID(),
        suite: testSuite,
        startedAt: at,
        completedAt: at,
        durationMs: 1,
        score,
        status: score >= 8 ? 'PASS' : 'FAIL',
        components:
          failedChecks === 0
            ? []
            : [
                {
                  name: 'app',
                  weight: 1,
                  score,
                  status: 'FAIL',
                  checks: Array.from({ length: failedChecks }, (_, i) => ({
                    name: `check ${i}`,
                    kind: 'http',
                    status: 'FAIL' as const,
                    durationMs: 1,
                  })),
                },
              ],
      });
      await waitFor(
        async () =>
          (await db.selectFrom('chaos.validations').select('run_id').where('completed_at', '=', new Date(at)).execute())
            .length > 0,
        { timeoutMs: 10_000, message: 'the validation run to be stored' },
      );
    },
    async outcome(requestId, timeoutMs = 60_000) {
      return waitFor(
        async () => {
          const all = [...(await emitted('chaos.completed')), ...(await emitted('chaos.aborted'))] as Outcome[];
          return all.find((e) => e.data.requestId === requestId);
        },
        { timeoutMs, message: `the outcome of chaos request ${requestId}` },
      );
    },
    emitted,
    async [Symbol.asyncDispose]() {
      for (const stop of stops.reverse()) await stop();
      await slo.kill('SIGTERM');
      await bed[Symbol.asyncDispose]();
      await rm(dir, { recursive: true, force: true });
      await db.destroy();
      await f[Symbol.asyncDispose]();
      await database[Symbol.asyncDispose]();
    },
  };
}
