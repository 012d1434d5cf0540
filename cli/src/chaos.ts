import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createPublisher, namespaceFor } from '@vigil/events';

export interface AbortOptions {
  readonly natsUrl: string;
  /** VIGIL_NAMESPACE of the stack; empty for the default. */
  readonly namespace: string | undefined;
  /** An experiment id, or with `byRequest` the id of the chaos.requested event. */
  readonly id: string;
  readonly byRequest: boolean;
  readonly requestedBy: string;
  readonly reason: string;
}

/** `vigil chaos abort`: publishes chaos.abort.requested; the chaos service rolls the experiment back at once. */
export async function abortExperiment(o: AbortOptions): Promise<{ eventId: string; seq: number }> {
  const nc = await connect({ servers: o.natsUrl, timeout: 3000 }).catch((e: unknown) => {
    throw new Error(`cannot reach NATS at ${o.natsUrl}: ${(e as Error).message}`);
  });
  try {
    const publisher = createPublisher({ js: jetstream(nc), ns: namespaceFor(o.namespace), source: 'vigil/cli' });
    const r = await publisher.publish('chaos.abort.requested', {
      ...(o.byRequest ? { requestId: o.id } : { experimentId: o.id }),
      requestedBy: o.requestedBy,
      reason: o.reason,
    });
    return { eventId: r.id, seq: r.seq };
  } finally {
    await nc.close();
  }
}
