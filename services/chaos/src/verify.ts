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

/** Targets running and healthy again, then (when configured) a validation run requested and awaited. */
export async function verify(
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
