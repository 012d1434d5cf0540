import { z } from 'zod';
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { JetStreamClient } from '@nats-io/jetstream';
import { context as otelContext, SpanStatusCode, trace, type Context } from '@opentelemetry/api';
import { sql, type Kysely, type Transaction } from 'kysely';
import { DockerUnavailableError } from '@vigil/docker';
import { createEvent, consumers, type Logger, type Namespace, type RunningConsumer } from '@vigil/events';
import { consumeIdempotent, createOutbox } from '@vigil/outbox';
import { everyMinute } from '@vigil/service-kit';
import type { ChaosConfig } from './config/chaos.js';
import { cronMatches } from './core/cron.js';
import { gate, type Candidate, type GateCheck, type GateInput } from './core/gate.js';
import { describeAction, planFor, PlanError, type Action, type Plan } from './core/plan.js';
import { ActionError, type ChaosEngine } from './engine.js';
import {
  busyTargets,
  journal,
  journalOf,
  latestValidation,
  settleStep,
  type ChaosDatabase,
  type ExperimentsTable,
  type Outcome,
  type Phase,
  type Target,
} from './store.js';

/** chaos.requested: gate, plan, start. */
export const CHAOS_REQUESTS = consumers.chaosRequests;
export const CHAOS_ABORTS = consumers.chaosAborts;
export const CHAOS_VALIDATIONS = consumers.chaosValidations;

const SOURCE = 'vigil/chaos';

/** Every SLO's remaining budget from the slo-engine, or why it could not be read. */
export type SloBudgets = GateInput['slos'];

export interface ChaosDeps {
  readonly db: Kysely<ChaosDatabase>;
  readonly js: JetStreamClient;
  readonly ns: Namespace;
  readonly engine: ChaosEngine;
  readonly config: ChaosConfig;
  readonly budgets: () => Promise<SloBudgets>;
  readonly logger: Logger;
  /** Names this process in `chaos.experiments.owner`. @default a random id */
  readonly instanceId?: string;
  /**
   * An experiment whose owner has not renewed its lease for this long is taken over by another
   * instance (or the restarted one) and rolled back. @default 15 000 ms
   */
  readonly leaseMs?: number;
  /** How often health and the awaited validation run are looked at. @default 250 ms */
  readonly pollMs?: number;
  /** @default () => new Date() */
  readonly clock?: () => Date;
  /** Called once per experiment outcome (metrics). */
  readonly onOutcome?: (outcome: Outcome | 'refused') => void;
  /**
   * True when NATS authorization is on (the service has a NATS user): then only the `operator`
   * user may publish chaos requests and aborts (besides this service's own schedules), and that,
   * not the free-text `requestedBy`, is what is recorded. @default false
   */
  readonly authorized?: boolean;
}

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

const now = (deps: ChaosDeps) => (deps.clock ?? (() => new Date()))();
const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));
const tracer = () => trace.getTracer('vigil-chaos');

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
  const outbox = createOutbox({ ns: deps.ns });
  return consumeIdempotent<'chaos.requested', ChaosDatabase, Prepared>({
    js: deps.js,
    db: deps.db,
    ns: deps.ns,
    spec: CHAOS_REQUESTS,
    logger: deps.logger,
    concurrency: 4,
    prepare: async (event) => {
      let plan: Prepared['plan'];
      try {
        plan = planFor(event.data);
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
    },
    handler: async (tx, event, ctx, prepared) => {
      await sql`select pg_advisory_xact_lock(hashtext('vigil.chaos.gate'))`.execute(tx);
      const request = {
        ...event.data,
        requestedBy: await recordedRequester(deps, tx, event.id, event.data.requestedBy),
      };
      const validation = await latestValidation(tx, deps.config.verification.suite);
      const result = gate({
        request,
        policy: deps.config.policy,
        candidates: 'error' in prepared.candidates ? [] : prepared.candidates,
        validation,
        slos: prepared.slos,
        busy: await busyTargets(tx),
        now: now(deps),
        seed: event.id,
        ...('error' in prepared.plan ? {} : { plan: prepared.plan }),
      });
      const checks: GateCheck[] = [...result.checks];
      if ('error' in prepared.candidates) {
        checks.push({ check: 'docker', passed: false, value: null, message: prepared.candidates.error });
      }
      if ('error' in prepared.plan) {
        checks.push({ check: 'plan', passed: false, value: null, message: prepared.plan.error });
      }
      const reasons = checks.filter((c) => !c.passed).map((c) => `${c.check}: ${c.message}`);
      if (reasons.length > 0 || 'error' in prepared.plan) {
        ctx.logger.warn({ reasons }, `chaos request refused: ${reasons.join('; ')}`);
        deps.onOutcome?.('refused');
        await outbox.add(
          tx,
          createEvent('chaos.aborted', { requestId: event.id, reasons, gate: checks }, { source: SOURCE }),
        );
        return;
      }
      const plan = prepared.plan;
      const id = randomUUID();
      const targets: Target[] = result.targets.map((t) => ({ id: t.id, name: t.name }));
      const startedAt = now(deps);
      const dryRun = request.dryRun;
      await tx
        .insertInto('chaos.experiments')
        .values({
          id,
          request_id: event.id,
          kind: request.kind,
          request: JSON.stringify(request),
          plan: JSON.stringify(plan),
          targets: JSON.stringify(targets),
          gate: JSON.stringify(checks),
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
      await outbox.add(
        tx,
        createEvent(
          'chaos.started',
          {
            requestId: event.id,
            experimentId: id,
            kind: request.kind,
            targets,
            plan: {
              actions: targets.flatMap((t) => plan.inject.map((a) => `${describeAction(a)} ${t.name}`)),
              rollback: targets.flatMap((t) => plan.rollback.map((a) => `${describeAction(a)} ${t.name}`)),
            },
            gate: checks,
            dryRun,
          },
          { source: SOURCE, subject: id },
        ),
      );
      if (dryRun) {
        deps.onOutcome?.('dry-run');
        await outbox.add(
          tx,
          createEvent(
            'chaos.completed',
            {
              requestId: event.id,
              experimentId: id,
              kind: request.kind,
              targets,
              dryRun: true,
              startedAt: startedAt.toISOString(),
              completedAt: startedAt.toISOString(),
              recovery: { recovered: true, durationMs: 0, details: ['dry run: nothing was touched'] },
              ...(validation === undefined ? {} : { scoreBefore: validation.score }),
            },
            { source: SOURCE, subject: id },
          ),
        );
      }
      ctx.logger.info(
        { experimentId: id, kind: request.kind, targets: targets.map((t) => t.name), dryRun },
        dryRun ? 'chaos dry run planned' : 'chaos experiment accepted',
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

export interface Runner {
  readonly instanceId: string;
  /** Runs an accepted experiment in the background (under `ctx`, so its spans join the request's trace). */
  start(id: string, ctx?: Context): void;
  /** Stops an experiment running here and rolls it back now; false when it does not run here. */
  abort(id: string, reason: string): boolean;
  /** Takes over experiments whose owner's lease ran out, and starts own accepted ones not yet running. */
  sweep(): Promise<void>;
  /** Ids of the experiments running in this process. */
  running(): string[];
  /** Sweeps every half lease until stopped. */
  startSweeping(): () => Promise<void>;
  /** Stops every experiment here (rolled back, reported) and waits for them. */
  stopAll(reason: string): Promise<void>;
}

export function createRunner(deps: ChaosDeps): Runner {
  const instanceId = deps.instanceId ?? `chaos-${randomUUID().slice(0, 8)}`;
  const leaseMs = deps.leaseMs ?? 15_000;
  const live = new Map<string, { controller: AbortController; done: Promise<void> }>();
  const state = { shuttingDown: false };

  function launch(id: string, mode: 'fresh' | 'recover', ctx: Context = otelContext.active()) {
    if (live.has(id)) return;
    const controller = new AbortController();
    const done = otelContext
      .with(ctx, () => runExperiment(deps, instanceId, leaseMs, id, mode, controller, state))
      .catch((e: unknown) => {
        // The lease runs out and a sweep (here or elsewhere) rolls it back.
        deps.logger.error(
          { err: e, experimentId: id },
          'chaos experiment failed; it will be taken over and rolled back',
        );
      })
      .finally(() => live.delete(id));
    live.set(id, { controller, done });
  }

  const runner: Runner = {
    instanceId,
    start: (id, ctx) => launch(id, 'fresh', ctx),
    abort(id, reason) {
      const r = live.get(id);
      if (r === undefined) return false;
      r.controller.abort(reason);
      return true;
    },
    running: () => [...live.keys()],
    async sweep() {
      // Claimed in one statement, so two instances never take over the same experiment.
      const claimed = await sql<{ id: string; mine: boolean; phase: Phase }>`
        update chaos.experiments e set owner = ${instanceId}, heartbeat_at = now()
        from (select id, owner = ${instanceId} as mine from chaos.experiments
              where phase <> 'done' and not dry_run
                and (owner = ${instanceId} or heartbeat_at < now() - make_interval(secs => ${leaseMs / 1000}))
              for update skip locked) c
        where e.id = c.id
        returning e.id, c.mine, e.phase`.execute(deps.db);
      for (const r of claimed.rows) {
        if (live.has(r.id)) continue;
        if (!r.mine)
          deps.logger.warn({ experimentId: r.id, phase: r.phase }, 'taking over an experiment whose owner stopped');
        launch(r.id, r.mine && r.phase === 'accepted' ? 'fresh' : 'recover');
      }
    },
    startSweeping() {
      let stopped = false;
      let current: Promise<void> = Promise.resolve();
      const timer = setInterval(() => {
        if (stopped) return;
        current = runner.sweep().catch((e: unknown) => deps.logger.error({ err: e }, 'chaos sweep failed'));
      }, leaseMs / 2);
      current = runner.sweep().catch((e: unknown) => deps.logger.error({ err: e }, 'chaos sweep failed'));
      return async () => {
        stopped = true;
        clearInterval(timer);
        await current;
      };
    },
    async stopAll(reason) {
      state.shuttingDown = true;
      for (const r of live.values()) r.controller.abort(reason);
      await Promise.all([...live.values()].map((r) => r.done));
    },
  };
  return runner;
}

interface Recovery {
  recovered: boolean;
  durationMs: number;
  details: string[];
  scoreAfter?: number;
}

/**
 * One experiment, from wherever it is: inject (fresh only) → hold → roll back → verify → report.
 * Every step is journalled before it acts; a recovering run rolls back every target that has an
 * injection in the journal, whether or not it completed, since rollbacks are idempotent.
 */
async function runExperiment(
  deps: ChaosDeps,
  instanceId: string,
  leaseMs: number,
  id: string,
  mode: 'fresh' | 'recover',
  controller: AbortController,
  state: { readonly shuttingDown: boolean },
): Promise<void> {
  const { db, engine, logger: base } = deps;
  const logger = base.child({ experimentId: id });
  const e = await db.selectFrom('chaos.experiments').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  if (e.phase === 'done') return;
  const signal = controller.signal;
  const setPhase = (phase: Phase, extra: Partial<Pick<ExperimentsTable, 'injected_at' | 'rolled_back_at'>> = {}) =>
    db
      .updateTable('chaos.experiments')
      .set({ phase, ...extra })
      .where('id', '=', id)
      .execute();

  // Renew the lease; an abort recorded by another instance stops this run at the next renewal.
  const heartbeat = setInterval(() => {
    void db
      .updateTable('chaos.experiments')
      .set({ heartbeat_at: sql<Date>`now()` })
      .where('id', '=', id)
      .where('owner', '=', instanceId)
      .returning('stop_reason')
      .executeTakeFirst()
      .then((r) => {
        if (r?.stop_reason && !signal.aborted) controller.abort(r.stop_reason);
      })
      .catch((err: unknown) => logger.warn({ err }, 'could not renew the experiment lease'));
  }, leaseMs / 3);

  return tracer().startActiveSpan(`chaos experiment ${e.kind}`, async (span) => {
    span.setAttributes({ 'vigil.chaos.experiment': id, 'vigil.chaos.kind': e.kind, 'vigil.chaos.mode': mode });
    try {
      let outcome: Outcome = 'completed';
      let stopReason = e.stop_reason ?? undefined;
      let injectedAt = e.injected_at ?? undefined;
      if (mode === 'recover') {
        outcome = 'interrupted';
        stopReason ??= `the chaos service stopped during the ${e.phase} phase; what it injected was rolled back when it came back`;
      } else {
        await setPhase('injecting');
        logger.info({ targets: e.targets.map((t) => t.name) }, `chaos ${e.kind}: injecting`);
        inject: for (const target of e.targets) {
          for (const action of e.plan.inject) {
            if (signal.aborted) break inject;
            const detail = await engine.prepare(target, action).catch((err: unknown) => {
              if (err instanceof ActionError) return err;
              throw err;
            });
            if (detail instanceof ActionError) {
              outcome = 'failed';
              stopReason = `injection failed: ${detail.message}`;
              break inject;
            }
            const seq = await journal(db, {
              experiment_id: id,
              phase: 'inject',
              target_id: target.id,
              target_name: target.name,
              action,
              detail,
              status: 'intended',
            });
            try {
              await engine.act(id, target, action, detail);
              await settleStep(db, seq, now(deps));
            } catch (err) {
              await settleStep(db, seq, now(deps), messageOf(err));
              if (!(err instanceof ActionError) && !(err instanceof DockerUnavailableError)) throw err;
              outcome = 'failed';
              stopReason = `injection failed: ${messageOf(err)}`;
              break inject;
            }
          }
        }
        injectedAt = now(deps);
        // 'holding' says the fault is in place: a failed or aborted injection goes straight to
        // the rollback, so nobody watching the phase takes a half-made fault for a held one.
        if (outcome !== 'failed' && !signal.aborted) {
          await setPhase('holding', { injected_at: injectedAt });
          logger.info(`chaos ${e.kind}: holding for ${e.plan.holdMs} ms`);
          await delay(e.plan.holdMs, undefined, { signal }).catch(() => undefined);
        }
        if (signal.aborted && outcome !== 'failed') {
          outcome = 'aborted';
          stopReason = String(signal.reason);
        }
      }

      await setPhase('rolling-back', injectedAt === undefined ? {} : { injected_at: injectedAt });
      const rollbackErrors = await rollback(deps, id, e.plan);
      const rolledBackAt = now(deps);
      await setPhase('verifying', { rolled_back_at: rolledBackAt });
      logger.info({ errors: rollbackErrors }, `chaos ${e.kind}: rolled back${stopReason ? ` (${stopReason})` : ''}`);

      const recovery = await verify(deps, e.targets, id, state.shuttingDown);
      recovery.details.unshift(...rollbackErrors.map((m) => `rollback failed: ${m}`));
      if (rollbackErrors.length > 0) recovery.recovered = false;

      const completedAt = now(deps);
      const outbox = createOutbox({ ns: deps.ns });
      await db.transaction().execute(async (tx) => {
        const done = await tx
          .updateTable('chaos.experiments')
          .set({ phase: 'done', outcome, stop_reason: stopReason ?? null, completed_at: completedAt })
          .where('id', '=', id)
          .where('phase', '<>', 'done')
          .executeTakeFirst();
        // Someone else finished it (a takeover after this instance's lease ran out): report once.
        if (Number(done.numUpdatedRows) === 0) return;
        const { durationMs, details, recovered } = recovery;
        const event =
          outcome === 'completed'
            ? createEvent(
                'chaos.completed',
                {
                  requestId: e.request_id,
                  experimentId: id,
                  kind: e.request.kind,
                  targets: e.targets,
                  dryRun: false,
                  startedAt: e.started_at.toISOString(),
                  ...(injectedAt === undefined ? {} : { injectedAt: injectedAt.toISOString() }),
                  rolledBackAt: rolledBackAt.toISOString(),
                  completedAt: completedAt.toISOString(),
                  recovery: { recovered, durationMs, details },
                  ...(e.score_before === null ? {} : { scoreBefore: e.score_before }),
                  ...(recovery.scoreAfter === undefined ? {} : { scoreAfter: recovery.scoreAfter }),
                },
                { source: SOURCE, subject: id },
              )
            : createEvent(
                'chaos.aborted',
                {
                  requestId: e.request_id,
                  experimentId: id,
                  reasons: [stopReason ?? outcome],
                  gate: e.gate,
                  targets: e.targets,
                  rolledBackAt: rolledBackAt.toISOString(),
                  recovery: { recovered, durationMs, details },
                },
                { source: SOURCE, subject: id },
              );
        await outbox.add(tx, event);
      });
      deps.onOutcome?.(outcome);
      span.setAttribute('vigil.chaos.outcome', outcome);
      logger.info(
        { outcome, recovered: recovery.recovered, details: recovery.details },
        `chaos ${e.kind}: ${outcome}${recovery.recovered ? ', recovered' : ', NOT recovered'}`,
      );
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: messageOf(err) });
      throw err;
    } finally {
      clearInterval(heartbeat);
      span.end();
    }
  });
}

/** The rollback of each target that has an injection in the journal, in reverse order; returns what failed. */
async function rollback(deps: ChaosDeps, id: string, plan: Plan): Promise<string[]> {
  const steps = await journalOf(deps.db, id);
  const injected = steps.filter((s) => s.phase === 'inject');
  const targets = [...new Map(injected.map((s) => [s.target_id, { id: s.target_id, name: s.target_name }])).values()];
  const errors: string[] = [];
  for (const target of targets.reverse()) {
    for (const action of plan.rollback) {
      const detail = injected.find((s) => s.target_id === target.id && pairs(s.action, action))?.detail ?? undefined;
      const seq = await journal(deps.db, {
        experiment_id: id,
        phase: 'rollback',
        target_id: target.id,
        target_name: target.name,
        action,
        detail,
        status: 'intended',
      });
      const err = await undo(deps, id, target, action, detail);
      await settleStep(deps.db, seq, now(deps), err);
      if (err !== undefined) errors.push(err);
    }
  }
  return errors;
}

/** One rollback step; an unreachable engine is retried for the verification timeout, as the fault must not stay. */
async function undo(
  deps: ChaosDeps,
  id: string,
  target: Target,
  action: Action,
  detail: Record<string, unknown> | undefined,
): Promise<string | undefined> {
  const deadline = performance.now() + deps.config.verification.timeout;
  for (;;) {
    try {
      await deps.engine.act(id, target, action, detail);
      return undefined;
    } catch (e) {
      if (!(e instanceof DockerUnavailableError) || performance.now() > deadline) return messageOf(e);
      deps.logger.warn(
        { err: e, experimentId: id },
        `${describeAction(action)} on ${target.name}: engine unreachable; retrying`,
      );
      await delay(1000);
    }
  }
}

const pairs = (inject: Action, undo: Action) =>
  inject.op === 'disconnect' && undo.op === 'connect' ? inject.network === undo.network : inject.op !== 'disconnect';

/** Targets running and healthy again, then (when configured) a validation run requested and awaited. */
async function verify(
  deps: ChaosDeps,
  targets: readonly Target[],
  id: string,
  shuttingDown: boolean,
): Promise<Recovery> {
  const { verification, policy } = deps.config;
  const pollMs = deps.pollMs ?? 250;
  // Time limits run on the monotonic clock: they measure waiting, which a wall clock set back (or
  // a clock frozen by a test) would stretch without end. Timestamps come from deps.clock.
  const start = performance.now();
  const details: string[] = [];
  let recovered = true;
  for (const t of targets) {
    const deadline = start + verification.timeout;
    let last = 'unknown';
    for (;;) {
      const h = await deps.engine
        .health(t)
        .catch((e: unknown) => ({ ok: false, state: `unreadable: ${messageOf(e)}` }));
      last = h.state;
      if (h.ok || performance.now() > deadline) {
        if (!h.ok) recovered = false;
        details.push(
          h.ok ? `${t.name}: ${h.state}` : `${t.name}: not recovered within ${verification.timeout / 1000}s (${last})`,
        );
        break;
      }
      await delay(pollMs);
    }
  }
  let scoreAfter: number | undefined;
  const suite = verification.suite;
  if (suite !== null && shuttingDown) {
    details.push(`validation ${suite}: not requested, the chaos service is shutting down`);
  } else if (suite !== null) {
    const requestId = randomUUID();
    await createOutbox({ ns: deps.ns }).add(
      deps.db,
      createEvent(
        'validation.requested',
        { suite, requestedBy: 'chaos', reason: `recovery check after chaos experiment ${id}` },
        { source: SOURCE, id: requestId, subject: id },
      ),
    );
    const deadline = performance.now() + verification.validationTimeout;
    for (;;) {
      const v = await deps.db
        .selectFrom('chaos.validations')
        .select(['score', 'status'])
        .where('request_id', '=', requestId)
        .executeTakeFirst();
      if (v !== undefined) {
        scoreAfter = v.score;
        const ok = v.score >= policy.minScore;
        if (!ok) recovered = false;
        details.push(`validation ${suite}: ${v.status}, score ${v.score}${ok ? '' : ` (below ${policy.minScore})`}`);
        break;
      }
      if (performance.now() > deadline) {
        recovered = false;
        details.push(`validation ${suite}: no result within ${verification.validationTimeout / 1000}s`);
        break;
      }
      await delay(pollMs);
    }
  }
  return {
    recovered,
    durationMs: Math.round(performance.now() - start),
    details,
    ...(scoreAfter === undefined ? {} : { scoreAfter }),
  };
}

/**
 * Requests each enabled schedule's experiment in the minute its cron names, once across instances
 * (a row per schedule and minute, written with the event). Returns stop().
 */
export function scheduleExperiments(deps: ChaosDeps, o: { graceMs?: number } = {}): () => Promise<void> {
  const outbox = createOutbox({ ns: deps.ns });
  const due = deps.config.schedules.filter((s) => s.enabled);
  return everyMinute(
    async (minute) => {
      for (const s of due) {
        if (!cronMatches(s.cron, minute, deps.config.policy.timeZone)) continue;
        const event = createEvent('chaos.requested', s.request, { source: SOURCE, subject: `schedule/${s.name}` });
        const fired = await deps.db.transaction().execute(async (tx) => {
          const r = await tx
            .insertInto('chaos.schedule_runs')
            .values({ schedule: s.name, minute, event_id: event.id })
            .onConflict((oc) => oc.doNothing())
            .returning('schedule')
            .executeTakeFirst();
          if (r === undefined) return false;
          await outbox.add(tx, event);
          return true;
        });
        if (fired) deps.logger.info({ schedule: s.name, eventId: event.id }, `schedule ${s.name}: chaos requested`);
      }
    },
    { graceMs: o.graceMs ?? 0, clock: deps.clock ?? (() => new Date()), logger: deps.logger, what: 'chaos schedules' },
  );
}

/** What the gate reads of the slo-engine's `GET /slos`. */
const sloListAnswer = z.object({
  slos: z.array(z.object({ name: z.string(), budget: z.object({ remainingPercent: z.number() }) })),
});

/** `GET <slo-engine>/slos` → each SLO's remaining budget, or why it could not be read. */
export function sloBudgetsFrom(baseUrl: string, timeoutMs = 3000): () => Promise<SloBudgets> {
  const url = `${baseUrl.replace(/\/$/, '')}/slos`;
  return async () => {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
      if (!res.ok) return { error: `GET ${url} answered ${res.status}` };
      // Checked, not cast: a budget the gate cannot read must refuse the experiment, never pass it.
      const body = sloListAnswer.safeParse(await res.json());
      if (!body.success) {
        const issue = body.error.issues[0];
        return {
          error: `GET ${url}: not an SLO list (${issue?.path.join('.') || 'answer'}: ${issue?.message ?? 'invalid'})`,
        };
      }
      return body.data.slos.map((s) => ({ name: s.name, remainingPercent: s.budget.remainingPercent }));
    } catch (e) {
      return { error: `GET ${url}: ${messageOf(e)}` };
    }
  };
}

/** Recent experiments for `GET /experiments`, newest first, and one with its journal. */
export async function listExperiments(db: Kysely<ChaosDatabase>, limit = 50) {
  const rows = await db
    .selectFrom('chaos.experiments')
    .select([
      'id',
      'request_id',
      'kind',
      'targets',
      'dry_run',
      'phase',
      'outcome',
      'stop_reason',
      'started_at',
      'completed_at',
    ])
    .orderBy('started_at', 'desc')
    .limit(limit)
    .execute();
  return rows;
}

export async function experimentWithJournal(db: Kysely<ChaosDatabase>, id: string) {
  const e = await db.selectFrom('chaos.experiments').selectAll().where('id', '=', id).executeTakeFirst();
  if (e === undefined) return undefined;
  return { ...e, journal: await journalOf(db, id) };
}
