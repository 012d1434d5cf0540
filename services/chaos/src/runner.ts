import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { context as otelContext, SpanStatusCode, trace, type Context } from '@opentelemetry/api';
import { sql, type Selectable } from 'kysely';
import { DockerUnavailableError } from '@vigil/docker';
import { createEvent, type Logger } from '@vigil/events';
import { createOutbox } from '@vigil/outbox';
import { decide, initialState, type Command, type Input, type Outcome, type Phase } from './core/experiment.js';
import { describeAction, type Action, type Plan } from './core/plan.js';
import { messageOf, now, SOURCE, type ChaosDeps } from './deps.js';
import { ActionError } from './engine.js';
import { journal, journalOf, settleStep, type ExperimentsTable, type Target } from './store.js';
import { verify, type Recovery } from './verify.js';

const tracer = () => trace.getTracer('vigil-chaos');

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

// Over 60 lines: one closure over the experiments running here; each method is short.
export function createRunner(deps: ChaosDeps): Runner {
  const instanceId = deps.instanceId ?? `chaos-${randomUUID().slice(0, 8)}`;
  const leaseMs = deps.leaseMs ?? 15_000;
  const live = new Map<string, { controller: AbortController; done: Promise<void> }>();
  const state = { shuttingDown: false };

  function launch(id: string, mode: 'fresh' | 'recover', ctx: Context = otelContext.active()) {
    if (live.has(id)) return;
    const controller = new AbortController();
    const done = otelContext
      .with(ctx, () => runExperiment(deps, { instanceId, ms: leaseMs }, id, mode, controller, state))
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

type Experiment = Selectable<ExperimentsTable>;

/** What one run of an experiment knows besides the decider's state. */
interface Run {
  readonly deps: ChaosDeps;
  readonly e: Experiment;
  readonly signal: AbortSignal;
  readonly logger: Logger;
  injectedAt?: Date;
  rolledBackAt?: Date;
  rollbackErrors: string[];
  recovery?: Recovery;
}

/**
 * One experiment, from wherever it is, driven by the decider (core/experiment.ts): each command
 * is carried out here and what came of it is the next input. Every step is journalled before it
 * acts; a recovering run rolls back every target that has an injection in the journal, whether or
 * not it completed, since rollbacks are idempotent.
 */
async function runExperiment(
  deps: ChaosDeps,
  lease: { readonly instanceId: string; readonly ms: number },
  id: string,
  mode: 'fresh' | 'recover',
  controller: AbortController,
  state: { readonly shuttingDown: boolean },
): Promise<void> {
  const e = await deps.db.selectFrom('chaos.experiments').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  if (e.phase === 'done') return;
  const run: Run = {
    deps,
    e,
    signal: controller.signal,
    logger: deps.logger.child({ experimentId: id }),
    rollbackErrors: [],
    ...(e.injected_at === null ? {} : { injectedAt: e.injected_at }),
  };
  const stopRenewing = renewLease(run, lease, controller);
  return tracer().startActiveSpan(`chaos experiment ${e.kind}`, async (span) => {
    span.setAttributes({ 'vigil.chaos.experiment': id, 'vigil.chaos.kind': e.kind, 'vigil.chaos.mode': mode });
    try {
      let decision = decide(
        initialState(e.phase, e.stop_reason),
        mode === 'fresh'
          ? { type: 'run' }
          : {
              type: 'recover',
              reason: `the chaos service stopped during the ${e.phase} phase; what it injected was rolled back when it came back`,
            },
      );
      for (;;) {
        await enterPhase(run, decision.state.phase);
        const command = decision.command;
        if (command === undefined) break;
        const input = await perform(run, command, decision.state.stopReason, state.shuttingDown);
        if (input === undefined) {
          if (command.type === 'report') span.setAttribute('vigil.chaos.outcome', command.outcome);
          break;
        }
        decision = decide(decision.state, input);
      }
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: messageOf(err) });
      throw err;
    } finally {
      stopRenewing();
      span.end();
    }
  });
}

/** Renews the lease; an abort recorded by another instance stops this run at the next renewal. */
function renewLease(
  run: Run,
  lease: { readonly instanceId: string; readonly ms: number },
  controller: AbortController,
) {
  const timer = setInterval(() => {
    void run.deps.db
      .updateTable('chaos.experiments')
      .set({ heartbeat_at: sql<Date>`now()` })
      .where('id', '=', run.e.id)
      .where('owner', '=', lease.instanceId)
      .returning('stop_reason')
      .executeTakeFirst()
      .then((r) => {
        if (r?.stop_reason && !run.signal.aborted) controller.abort(r.stop_reason);
      })
      .catch((err: unknown) => run.logger.warn({ err }, 'could not renew the experiment lease'));
  }, lease.ms / 3);
  return () => clearInterval(timer);
}

/**
 * Records the phase with the times known so far. 'holding' says the fault is in place: a failed
 * or aborted injection goes straight to the rollback, so nobody watching the phase takes a
 * half-made fault for a held one. `done` is written with the outcome event, by the report.
 */
async function enterPhase(run: Run, phase: Phase): Promise<void> {
  if (phase === 'done') return;
  await run.deps.db
    .updateTable('chaos.experiments')
    .set({
      phase,
      ...(run.injectedAt === undefined ? {} : { injected_at: run.injectedAt }),
      ...(phase === 'verifying' && run.rolledBackAt !== undefined ? { rolled_back_at: run.rolledBackAt } : {}),
    })
    .where('id', '=', run.e.id)
    .execute();
}

/** Carries out one command; what came of it, or nothing once the outcome is reported. */
async function perform(
  run: Run,
  command: Command,
  stopReason: string | undefined,
  shuttingDown: boolean,
): Promise<Input | undefined> {
  const { e, logger } = run;
  switch (command.type) {
    case 'inject': {
      logger.info({ targets: e.targets.map((t) => t.name) }, `chaos ${e.kind}: injecting`);
      const input = await injectAll(run);
      run.injectedAt = now(run.deps);
      return input;
    }
    case 'hold':
      logger.info(`chaos ${e.kind}: holding for ${e.plan.holdMs} ms`);
      await delay(e.plan.holdMs, undefined, { signal: run.signal }).catch(() => undefined);
      return run.signal.aborted ? { type: 'stopped', reason: String(run.signal.reason) } : { type: 'held' };
    case 'roll-back': {
      run.rollbackErrors = await rollback(run.deps, e.id, e.plan);
      run.rolledBackAt = now(run.deps);
      logger.info(
        { errors: run.rollbackErrors },
        `chaos ${e.kind}: rolled back${stopReason ? ` (${stopReason})` : ''}`,
      );
      return { type: 'rolled-back' };
    }
    case 'verify': {
      const recovery = await verify(run.deps, e.targets, e.id, shuttingDown);
      recovery.details.unshift(...run.rollbackErrors.map((m) => `rollback failed: ${m}`));
      if (run.rollbackErrors.length > 0) recovery.recovered = false;
      run.recovery = recovery;
      return { type: 'verified' };
    }
    case 'report':
      await report(run, command.outcome, command.stopReason);
      return undefined;
  }
}

/** Each action on each target, journalled before it acts; stops at the first failure or an abort. */
async function injectAll(run: Run): Promise<Input> {
  const { deps, e, signal } = run;
  for (const target of e.targets) {
    for (const action of e.plan.inject) {
      if (signal.aborted) return { type: 'stopped', reason: String(signal.reason) };
      const detail = await deps.engine.prepare(target, action).catch((err: unknown) => {
        if (err instanceof ActionError) return err;
        throw err;
      });
      if (detail instanceof ActionError)
        return { type: 'injection-failed', reason: `injection failed: ${detail.message}` };
      const seq = await journal(deps.db, {
        experiment_id: e.id,
        phase: 'inject',
        target_id: target.id,
        target_name: target.name,
        action,
        detail,
        status: 'intended',
      });
      try {
        await deps.engine.act(e.id, target, action, detail);
        await settleStep(deps.db, seq, now(deps));
      } catch (err) {
        await settleStep(deps.db, seq, now(deps), messageOf(err));
        if (!(err instanceof ActionError) && !(err instanceof DockerUnavailableError)) throw err;
        return { type: 'injection-failed', reason: `injection failed: ${messageOf(err)}` };
      }
    }
  }
  return signal.aborted ? { type: 'stopped', reason: String(signal.reason) } : { type: 'injected' };
}

/** Phase `done` and the outcome event in one transaction, once across instances. */
async function report(run: Run, outcome: Outcome, stopReason: string | undefined): Promise<void> {
  const { deps, e, logger } = run;
  const recovery = run.recovery ?? { recovered: false, durationMs: 0, details: ['not verified'] };
  const rolledBackAt = run.rolledBackAt ?? now(deps);
  const completedAt = now(deps);
  const reported = await deps.db.transaction().execute(async (tx) => {
    const done = await tx
      .updateTable('chaos.experiments')
      .set({ phase: 'done', outcome, stop_reason: stopReason ?? null, completed_at: completedAt })
      .where('id', '=', e.id)
      .where('phase', '<>', 'done')
      .executeTakeFirst();
    // Someone else finished it (a takeover after this instance's lease ran out): report once.
    if (Number(done.numUpdatedRows) === 0) return false;
    await createOutbox({ ns: deps.ns }).add(
      tx,
      outcomeEvent(run, outcome, stopReason, recovery, rolledBackAt, completedAt),
    );
    return true;
  });
  if (!reported) return;
  deps.onOutcome?.(outcome);
  logger.info(
    { outcome, recovered: recovery.recovered, details: recovery.details },
    `chaos ${e.kind}: ${outcome}${recovery.recovered ? ', recovered' : ', NOT recovered'}`,
  );
}

function outcomeEvent(
  run: Run,
  outcome: Outcome,
  stopReason: string | undefined,
  recovery: Recovery,
  rolledBackAt: Date,
  completedAt: Date,
) {
  const { e, injectedAt } = run;
  const { durationMs, details, recovered } = recovery;
  if (outcome === 'completed') {
    return createEvent(
      'chaos.completed',
      {
        requestId: e.request_id,
        experimentId: e.id,
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
      { source: SOURCE, subject: e.id },
    );
  }
  return createEvent(
    'chaos.aborted',
    {
      requestId: e.request_id,
      experimentId: e.id,
      reasons: [stopReason ?? outcome],
      gate: e.gate,
      targets: e.targets,
      rolledBackAt: rolledBackAt.toISOString(),
      recovery: { recovered, durationMs, details },
    },
    { source: SOURCE, subject: e.id },
  );
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
