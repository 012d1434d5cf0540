import { randomUUID } from 'node:crypto';
import { context as otelContext } from '@opentelemetry/api';
import { sql, type Transaction } from 'kysely';
import { DockerUnavailableError } from '@vigil/docker';
import { createEvent, consumers, type EventData, type RunningConsumer } from '@vigil/events';
import { consumeIdempotent, createOutbox } from '@vigil/outbox';
import { gate, type Candidate, type GateCheck } from './core/gate.js';
import { describeAction, planFor, PlanError, type Action, type Plan } from './core/plan.js';
import { now, SOURCE, type ChaosDeps, type SloBudgets } from './deps.js';
import type { Runner } from './runner.js';
import { busyTargets, latestValidation, type ChaosDatabase, type Target } from './store.js';

/** chaos.requested: gate, plan, start. */
export const CHAOS_REQUESTS = consumers.chaosRequests;
export const CHAOS_ABORTS = consumers.chaosAborts;
export const CHAOS_VALIDATIONS = consumers.chaosValidations;

/**
 * Who asked, as recorded: the claimed `requestedBy` without authorization; with it the NATS user
 * allowed to ask (`operator`), with the claim beside it when it differs. A request this service
 * scheduled itself keeps its `schedule:<name>`.
 */
async function recordedRequester(
  deps: ChaosDeps,
  tx: Transaction<ChaosDatabase>,
  eventId: string,
  claimed: string,
): Promise<string> {
  if (deps.authorized !== true) return claimed;
  const scheduled = await tx
    .selectFrom('chaos.schedule_runs')
    .select('schedule')
    .where('event_id', '=', eventId)
    .executeTakeFirst();
  if (scheduled !== undefined) return claimed;
  return claimed === OPERATOR ? OPERATOR : `${OPERATOR} (says ${claimed})`;
}

/** The NATS user who alone may request chaos where authorization is on. */
const OPERATOR = 'operator';

interface Prepared {
  readonly candidates: Candidate[] | { error: string };
  readonly slos: SloBudgets;
  readonly plan: Plan | { error: string };
}

/**
 * Consumes chaos.requested. The slow reads (the engine's containers, the slo-engine's budgets) run
 * before the transaction; inside it, under a lock that serialises gates, the checks that need the
 * database (latest score, targets already under an experiment) run, and either `chaos.aborted`
 * or the experiment row with `chaos.started` is written. The run itself starts after commit.
 */
export function startRequests(deps: ChaosDeps, runner: Runner): Promise<RunningConsumer> {
  return consumeIdempotent<'chaos.requested', ChaosDatabase, Prepared>({
    js: deps.js,
    db: deps.db,
    ns: deps.ns,
    spec: CHAOS_REQUESTS,
    logger: deps.logger,
    concurrency: 4,
    prepare: (event) => prepareRequest(deps, event.data),
    handler: async (tx, event, ctx, prepared) => {
      await sql`select pg_advisory_xact_lock(hashtext('vigil.chaos.gate'))`.execute(tx);
      const request = {
        ...event.data,
        requestedBy: await recordedRequester(deps, tx, event.id, event.data.requestedBy),
      };
      const validation = await latestValidation(tx, deps.config.verification.suite);
      const { checks, targets } = await gateRequest(deps, tx, event.id, request, prepared, validation);
      const reasons = checks.filter((c) => !c.passed).map((c) => `${c.check}: ${c.message}`);
      if (reasons.length > 0 || 'error' in prepared.plan) {
        ctx.logger.warn({ reasons }, `chaos request refused: ${reasons.join('; ')}`);
        deps.onOutcome?.('refused');
        await createOutbox({ ns: deps.ns }).add(
          tx,
          createEvent('chaos.aborted', { requestId: event.id, reasons, gate: checks }, { source: SOURCE }),
        );
        return;
      }
      const accepted = { requestId: event.id, request, plan: prepared.plan, targets, checks, validation };
      const id = await accept(deps, tx, runner, accepted);
      ctx.logger.info(
        { experimentId: id, kind: request.kind, targets: targets.map((t) => t.name), dryRun: request.dryRun },
        request.dryRun ? 'chaos dry run planned' : 'chaos experiment accepted',
      );
    },
    afterCommit: async (event) => {
      const row = await deps.db
        .selectFrom('chaos.experiments')
        .select('id')
        .where('request_id', '=', event.id)
        .where('phase', '=', 'accepted')
        .executeTakeFirst();
      if (row !== undefined) runner.start(row.id, otelContext.active());
    },
  });
}

/** The slow reads, before the transaction: the plan, the engine's containers, the SLO budgets. */
async function prepareRequest(deps: ChaosDeps, request: EventData<'chaos.requested'>): Promise<Prepared> {
  let plan: Prepared['plan'];
  try {
    plan = planFor(request);
  } catch (e) {
    if (!(e instanceof PlanError)) throw e;
    plan = { error: e.message };
  }
  const [candidates, slos] = await Promise.all([
    deps.engine.candidates().catch((e: unknown) => {
      if (e instanceof DockerUnavailableError) return { error: e.message };
      throw e;
    }),
    deps.budgets(),
  ]);
  return { candidates, slos, plan };
}

type Validation = Awaited<ReturnType<typeof latestValidation>>;

/** The gate's checks (with an unreadable engine or an unplannable request as failed ones) and its targets. */
async function gateRequest(
  deps: ChaosDeps,
  tx: Transaction<ChaosDatabase>,
  requestId: string,
  request: EventData<'chaos.requested'>,
  prepared: Prepared,
  validation: Validation,
): Promise<{ checks: GateCheck[]; targets: Target[] }> {
  const result = gate({
    request,
    policy: deps.config.policy,
    candidates: 'error' in prepared.candidates ? [] : prepared.candidates,
    validation,
    slos: prepared.slos,
    busy: await busyTargets(tx),
    now: now(deps),
    seed: requestId,
    ...('error' in prepared.plan ? {} : { plan: prepared.plan }),
  });
  const checks: GateCheck[] = [...result.checks];
  if ('error' in prepared.candidates) {
    checks.push({ check: 'docker', passed: false, value: null, message: prepared.candidates.error });
  }
  if ('error' in prepared.plan) {
    checks.push({ check: 'plan', passed: false, value: null, message: prepared.plan.error });
  }
  return { checks, targets: result.targets.map((t) => ({ id: t.id, name: t.name })) };
}

interface Accepted {
  readonly requestId: string;
  readonly request: EventData<'chaos.requested'>;
  readonly plan: Plan;
  readonly targets: Target[];
  readonly checks: GateCheck[];
  readonly validation: Validation;
}

/**
 * The experiment row and `chaos.started`, owned by this instance with a fresh lease; a dry run is
 * `done` at once with its `chaos.completed`. Returns the experiment's id.
 */
async function accept(deps: ChaosDeps, tx: Transaction<ChaosDatabase>, runner: Runner, a: Accepted): Promise<string> {
  const outbox = createOutbox({ ns: deps.ns });
  const { request, plan, targets, validation } = a;
  const id = randomUUID();
  const startedAt = now(deps);
  const dryRun = request.dryRun;
  await tx
    .insertInto('chaos.experiments')
    .values({
      id,
      request_id: a.requestId,
      kind: request.kind,
      request: JSON.stringify(request),
      plan: JSON.stringify(plan),
      targets: JSON.stringify(targets),
      gate: JSON.stringify(a.checks),
      dry_run: dryRun,
      phase: dryRun ? 'done' : 'accepted',
      outcome: dryRun ? 'dry-run' : null,
      stop_reason: null,
      score_before: validation?.score ?? null,
      owner: dryRun ? null : runner.instanceId,
      // The lease is kept in the database's time, which every instance shares (see the sweep).
      heartbeat_at: dryRun ? null : sql<Date>`now()`,
      started_at: startedAt,
      injected_at: null,
      rolled_back_at: null,
      completed_at: dryRun ? startedAt : null,
    })
    .execute();
  const describe = (actions: readonly Action[]) =>
    targets.flatMap((t) => actions.map((action) => `${describeAction(action)} ${t.name}`));
  const started = {
    requestId: a.requestId,
    experimentId: id,
    kind: request.kind,
    targets,
    plan: { actions: describe(plan.inject), rollback: describe(plan.rollback) },
    gate: a.checks,
    dryRun,
  };
  await outbox.add(tx, createEvent('chaos.started', started, { source: SOURCE, subject: id }));
  if (!dryRun) return id;
  deps.onOutcome?.('dry-run');
  const completed = {
    requestId: a.requestId,
    experimentId: id,
    kind: request.kind,
    targets,
    dryRun: true,
    startedAt: startedAt.toISOString(),
    completedAt: startedAt.toISOString(),
    recovery: { recovered: true, durationMs: 0, details: ['dry run: nothing was touched'] },
    ...(validation === undefined ? {} : { scoreBefore: validation.score }),
  };
  await outbox.add(tx, createEvent('chaos.completed', completed, { source: SOURCE, subject: id }));
  return id;
}

/**
 * Consumes chaos.abort.requested: marks the experiment to stop (every instance sees it at its next
 * lease renewal) and stops it at once when it runs in this process.
 */
export function startAborts(deps: ChaosDeps, runner: Runner): Promise<RunningConsumer> {
  const found = new Map<string, { id: string; reason: string }>();
  return consumeIdempotent({
    js: deps.js,
    db: deps.db,
    ns: deps.ns,
    spec: CHAOS_ABORTS,
    logger: deps.logger,
    handler: async (tx, event, ctx) => {
      const a = event.data;
      let q = tx.selectFrom('chaos.experiments').select(['id', 'phase', 'stop_reason']);
      q = a.experimentId !== undefined ? q.where('id', '=', a.experimentId) : q.where('request_id', '=', a.requestId!);
      const e = await q.forUpdate().executeTakeFirst();
      const which = a.experimentId ?? `requested by ${a.requestId}`;
      if (e === undefined) {
        ctx.logger.warn(`abort of experiment ${which}: no such experiment; nothing to stop`);
        return;
      }
      if (e.phase === 'done' || e.stop_reason !== null) {
        ctx.logger.info(`abort of experiment ${e.id}: already ${e.phase === 'done' ? 'finished' : 'stopping'}`);
        return;
      }
      const reason = `aborted by ${await recordedRequester(deps, tx, event.id, a.requestedBy)}: ${a.reason}`;
      await tx.updateTable('chaos.experiments').set({ stop_reason: reason }).where('id', '=', e.id).execute();
      found.set(event.id, { id: e.id, reason });
    },
    afterCommit: async (event) => {
      const f = found.get(event.id);
      found.delete(event.id);
      if (f !== undefined) runner.abort(f.id, f.reason);
    },
  });
}

/** Consumes validation.completed of complete runs into `chaos.validations`. */
export function startValidations(deps: ChaosDeps): Promise<RunningConsumer> {
  return consumeIdempotent({
    js: deps.js,
    db: deps.db,
    ns: deps.ns,
    spec: CHAOS_VALIDATIONS,
    logger: deps.logger,
    concurrency: 4,
    handler: async (tx, event, ctx) => {
      const v = event.data;
      // A run of some components says nothing of the suite: a database-only 10 is no gate score.
      if (v.partial === true) return;
      await tx
        .insertInto('chaos.validations')
        .values({
          run_id: v.runId,
          request_id: v.requestId,
          suite: v.suite,
          status: v.status,
          score: v.score,
          completed_at: new Date(v.completedAt),
          stored_at: ctx.storedAt,
          stream_seq: ctx.streamSequence,
        })
        .onConflict((oc) => oc.column('run_id').doNothing())
        .execute();
    },
  });
}
