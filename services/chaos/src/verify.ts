import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { createEvent } from '@vigil/events';
import { createOutbox } from '@vigil/outbox';
import { messageOf, SOURCE, type ChaosDeps } from './deps.js';
import type { Target } from './store.js';

/** What the verification found, reported in the outcome event. */
export interface Recovery {
  recovered: boolean;
  durationMs: number;
  details: string[];
  scoreAfter?: number;
}

/** A finding of the verification: one line of `details`, and whether it says recovered. */
interface Finding {
  readonly ok: boolean;
  readonly detail: string;
}

/** Targets running and healthy again, then (when configured) a validation run requested and awaited. */
export async function verify(
  deps: ChaosDeps,
  targets: readonly Target[],
  id: string,
  shuttingDown: boolean,
): Promise<Recovery> {
  // Time limits run on the monotonic clock: they measure waiting, which a wall clock set back (or
  // a clock frozen by a test) would stretch without end. Timestamps come from deps.clock.
  const start = performance.now();
  const findings: Finding[] = [];
  for (const t of targets) findings.push(await awaitHealthy(deps, t, start + deps.config.verification.timeout));
  const suite = deps.config.verification.suite;
  let scoreAfter: number | undefined;
  if (suite !== null && shuttingDown) {
    findings.push({ ok: true, detail: `validation ${suite}: not requested, the chaos service is shutting down` });
  } else if (suite !== null) {
    const v = await awaitValidation(deps, suite, id);
    findings.push(v);
    scoreAfter = v.score;
  }
  return {
    recovered: findings.every((f) => f.ok),
    durationMs: Math.round(performance.now() - start),
    details: findings.map((f) => f.detail),
    ...(scoreAfter === undefined ? {} : { scoreAfter }),
  };
}

/** Polls a target's health until it is back or the deadline passes. */
async function awaitHealthy(deps: ChaosDeps, t: Target, deadline: number): Promise<Finding> {
  const pollMs = deps.pollMs ?? 250;
  for (;;) {
    const h = await deps.engine.health(t).catch((e: unknown) => ({ ok: false, state: `unreadable: ${messageOf(e)}` }));
    if (h.ok) return { ok: true, detail: `${t.name}: ${h.state}` };
    if (performance.now() > deadline) {
      const within = deps.config.verification.timeout / 1000;
      return { ok: false, detail: `${t.name}: not recovered within ${within}s (${h.state})` };
    }
    await delay(pollMs);
  }
}

/** Requests a run of `suite` through the outbox and waits for its score. */
async function awaitValidation(
  deps: ChaosDeps,
  suite: string,
  id: string,
): Promise<Finding & { readonly score?: number }> {
  const { verification, policy } = deps.config;
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
      const ok = v.score >= policy.minScore;
      const detail = `validation ${suite}: ${v.status}, score ${v.score}${ok ? '' : ` (below ${policy.minScore})`}`;
      return { ok, detail, score: v.score };
    }
    if (performance.now() > deadline)
      return { ok: false, detail: `validation ${suite}: no result within ${verification.validationTimeout / 1000}s` };
    await delay(deps.pollMs ?? 250);
  }
}
