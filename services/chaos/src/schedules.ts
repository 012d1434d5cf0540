import { createEvent } from '@vigil/events';
import { createOutbox } from '@vigil/outbox';
import { everyMinute } from '@vigil/service-kit';
import { cronMatches } from './core/cron.js';
import { SOURCE, type ChaosDeps } from './deps.js';

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
