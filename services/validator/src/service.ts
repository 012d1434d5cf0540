import { randomUUID } from 'node:crypto';
import type { JetStreamClient } from '@nats-io/jetstream';
import { trace } from '@opentelemetry/api';
import type { Kysely } from 'kysely';
import {
  createEvent,
  PermanentError,
  consumers,
  type EventData,
  type Logger,
  type Namespace,
  type RunningConsumer,
  type VigilEvent,
} from '@vigil/events';
import { consumeIdempotent, createOutbox } from '@vigil/outbox';
import type { SuiteConfig } from './config/suite.js';
import { runSuite } from './checks/run.js';
import { createBuckets, take, type RateLimit } from './core/ratelimit.js';
import { firstRunAt, phaseOf } from './core/schedule.js';
import { NothingToScoreError } from './core/scoring.js';
import type { CheckContext } from './checks/types.js';
import type { ValidatorDatabase } from './store.js';

/** The validator's durable consumer; renaming it would replay history. */
export const VALIDATOR_CONSUMER = consumers.validator;

const SOURCE = 'vigil/validator';

export interface ValidatorDeps {
  readonly db: Kysely<ValidatorDatabase>;
  readonly js: JetStreamClient;
  readonly ns: Namespace;
  readonly suites: ReadonlyMap<string, SuiteConfig>;
  readonly logger: Logger;
  readonly checks: Omit<CheckContext, 'signal'>;
  /** @default () => new Date() */
  readonly clock?: () => Date;
}

type Completed = EventData<'validation.completed'>;

/**
 * A request that names what does not exist is refused, not answered with an ERROR run: such a
 * run would spend the error-rate budget and read as "the system is broken" to everyone downstream
 * (the chaos gate among them). The message is dead-lettered with this reason.
 */
export class RequestRefusedError extends PermanentError {
  constructor(
    override readonly code: 'UNKNOWN_SUITE' | 'UNKNOWN_COMPONENT' | 'RATE_LIMITED',
    message: string,
  ) {
    super(message);
  }
}

/** Runs the requested suite (outside any transaction) and builds `validation.completed`. */
export async function validate(
  deps: ValidatorDeps,
  request: VigilEvent<'validation.requested'>,
  runId: string,
): Promise<Completed> {
  const clock = deps.clock ?? (() => new Date());
  const startedAt = clock();
  const suite = deps.suites.get(request.data.suite);
  const base = { requestId: request.id, runId, suite: request.data.suite, startedAt: startedAt.toISOString() };
  // A run that cannot happen is still answered, with the reason.
  const cannotRun = (error: string): Completed => ({
    ...base,
    completedAt: clock().toISOString(),
    durationMs: 0,
    score: 0,
    status: 'ERROR',
    error,
    components: [],
  });
  if (suite === undefined) {
    const known = [...deps.suites.keys()].sort().join(', ') || 'none';
    throw new RequestRefusedError('UNKNOWN_SUITE', `unknown suite '${request.data.suite}' (known: ${known})`);
  }
  const only = request.data.components;
  const unknown = only?.filter((n) => !suite.components.some((c) => c.name === n)) ?? [];
  if (unknown.length > 0) {
    const known = suite.components.map((c) => c.name).join(', ');
    throw new RequestRefusedError(
      'UNKNOWN_COMPONENT',
      `suite '${suite.name}' has no component ${listSome(unknown)} (it has: ${known})`,
    );
  }
  const selected = only ? { ...suite, components: suite.components.filter((c) => only.includes(c.name)) } : suite;
  const r = await trace.getTracer('vigil-validator').startActiveSpan(`validation run ${suite.name}`, async (span) => {
    try {
      const run = await runSuite(selected, deps.checks);
      span.setAttributes({ 'vigil.suite': suite.name, 'vigil.score': run.score, 'vigil.status': run.status });
      return run;
    } catch (e) {
      if (e instanceof NothingToScoreError) return e;
      throw e;
    } finally {
      span.end();
    }
  });
  if (r instanceof NothingToScoreError) return cannotRun(`suite '${suite.name}': ${r.message}`);
  return completedOf(base, r, selected !== suite, clock());
}

/** `validation.completed` of a run: the scores, and every check's outcome. */
function completedOf(
  base: Pick<Completed, 'requestId' | 'runId' | 'suite' | 'startedAt'>,
  r: Awaited<ReturnType<typeof runSuite>>,
  partial: boolean,
  completedAt: Date,
): Completed {
  return {
    ...base,
    completedAt: completedAt.toISOString(),
    durationMs: r.durationMs,
    score: r.score,
    status: r.status,
    ...(partial ? { partial: true } : {}),
    components: r.components.map((c) => ({
      name: c.name,
      weight: c.weight,
      ...('score' in c ? { score: c.score } : {}),
      status: c.status,
      checks: c.checks.map((k) => ({
        name: k.name,
        kind: k.kind,
        status: k.status,
        durationMs: k.durationMs,
        message: k.message,
        ...(k.weight === undefined ? {} : { weight: k.weight }),
        ...(k.observed === undefined ? {} : { observed: k.observed }),
      })),
    })),
  };
}

/** `'a', 'b' and 3 more`: a request may name thousands, a reason stays one short line. */
function listSome(names: readonly string[], max = 5): string {
  const shown = names
    .slice(0, max)
    .map((n) => `'${n}'`)
    .join(', ');
  return names.length > max ? `${shown} and ${names.length - max} more` : shown;
}

/**
 * Consumes `validation.requested`: runs the suite, then in one transaction records the request
 * in the inbox, stores the run and puts `validation.completed` in the outbox.
 */
// Over 60 lines: one closure over the suites, the rate limiter and the running runs.
export async function startValidator(
  deps: ValidatorDeps,
  o: {
    /** @default 4 */
    concurrency?: number;
    /** Requests per requester (`requestedBy`, else the event's source); none when absent. @default none */
    rateLimit?: RateLimit | undefined;
  } = {},
): Promise<RunningConsumer> {
  const outbox = createOutbox({ ns: deps.ns });
  const clock = deps.clock ?? (() => new Date());
  const buckets = createBuckets();
  const limit = o.rateLimit;
  return consumeIdempotent({
    js: deps.js,
    db: deps.db,
    ns: deps.ns,
    spec: VALIDATOR_CONSUMER,
    logger: deps.logger,
    concurrency: o.concurrency ?? 4,
    // Runs finishing while another is being stored share its next commit.
    groupCommit: true,
    prepare: async (event, ctx) => {
      const requester = event.data.requestedBy ?? event.source;
      // A redelivery was counted when it first came.
      if (limit !== undefined && ctx.deliveryCount === 1 && !take(buckets, limit, requester, clock().getTime())) {
        throw new RequestRefusedError(
          'RATE_LIMITED',
          `requester '${requester}' sent more than ${limit.burst} requests at once or ${limit.perMinute} a minute (VALIDATOR_RATE_LIMIT)`,
        );
      }
      // Long suites keep the message from being redelivered meanwhile.
      const heartbeat = setInterval(() => ctx.working(), 10_000);
      try {
        return await validate(deps, event, randomUUID());
      } finally {
        clearInterval(heartbeat);
      }
    },
    handler: async (tx, event, ctx, result) => {
      await tx
        .insertInto('validator.runs')
        .values({
          id: result.runId,
          request_id: event.id,
          suite: result.suite,
          status: result.status,
          score: result.score,
          started_at: new Date(result.startedAt),
          completed_at: new Date(result.completedAt),
          duration_ms: result.durationMs,
          error: result.error ?? null,
          result: JSON.stringify(result) as never,
        })
        .execute();
      await outbox.add(tx, createEvent('validation.completed', result, { source: SOURCE, subject: result.suite }));
      ctx.logger.info(
        { suite: result.suite, score: result.score, status: result.status, runId: result.runId },
        'validation run stored',
      );
    },
  });
}

/**
 * Requests every suite that declares an interval, through the outbox: first one interval after
 * start (the stack it checks has settled by then), then every interval, at the suite's phase
 * ({@link phaseOf}). A row per suite and run time makes several validator instances, or a
 * restart, request each run once; the request's id is random, so no one can take it first.
 */
// Over 60 lines: one closure over each suite's timer and its last request.
export function scheduleSuites(
  deps: ValidatorDeps,
  o: {
    /** Every scheduled suite this often instead of its own interval (demos, tests). @default each suite's */
    everyMs?: number | undefined;
  } = {},
): () => void {
  const outbox = createOutbox({ ns: deps.ns });
  const clock = deps.clock ?? (() => new Date());
  const timers = new Map<string, NodeJS.Timeout>();
  let stopped = false;
  for (const s of deps.suites.values()) {
    if (s.interval === undefined) continue;
    const every = o.everyMs ?? s.interval;
    const request = async (at: number) => {
      const slot = Math.floor(at / every);
      // A random id: one derived from suite and time could be published first by anyone, and
      // JetStream would drop the real request as a duplicate. The row makes it once.
      const event = createEvent(
        'validation.requested',
        { suite: s.name, requestedBy: SOURCE, reason: `every ${every / 1000} s` },
        { source: SOURCE },
      );
      try {
        await deps.db.transaction().execute(async (tx) => {
          const r = await tx
            .insertInto('validator.schedule_runs')
            .values({ suite: s.name, every_ms: every, slot, event_id: event.id })
            .onConflict((oc) => oc.doNothing())
            .returning('slot')
            .executeTakeFirst();
          if (r === undefined) return;
          await outbox.add(tx, event);
          // Rows only need to outlive the race between instances for a slot.
          await tx
            .deleteFrom('validator.schedule_runs')
            .where('suite', '=', s.name)
            .where('slot', '<', slot - 100)
            .execute();
        });
      } catch (e) {
        deps.logger.warn({ err: e, suite: s.name }, 'scheduled request failed');
      }
    };
    const runAt = (at: number) => {
      if (stopped) return;
      const timer = setTimeout(
        () => {
          void request(at);
          runAt(at + every);
        },
        Math.max(0, at - clock().getTime()),
      );
      timers.set(s.name, timer);
    };
    runAt(firstRunAt(clock().getTime(), every, phaseOf(s.name, every)));
  }
  return () => {
    stopped = true;
    timers.forEach((t) => clearTimeout(t));
  };
}
