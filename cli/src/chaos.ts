import { createPublisher } from '@vigil/events';
import type { Bus } from './bus.js';

export interface AbortOptions {
  /** An experiment id, or with `byRequest` the id of the chaos.requested event. */
  readonly id: string;
  readonly byRequest: boolean;
  readonly requestedBy: string;
  readonly reason: string;
}

/** `vigil chaos abort`: publishes chaos.abort.requested; the chaos service rolls the experiment back at once. */
export async function abortExperiment(bus: Bus, o: AbortOptions): Promise<{ eventId: string; seq: number }> {
  const r = await createPublisher({ js: bus.js, ns: bus.ns, source: 'vigil/cli' }).publish('chaos.abort.requested', {
    ...(o.byRequest ? { requestId: o.id } : { experimentId: o.id }),
    requestedBy: o.requestedBy,
    reason: o.reason,
  });
  return { eventId: r.id, seq: r.seq };
}
