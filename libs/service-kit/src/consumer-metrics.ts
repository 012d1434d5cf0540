import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ConsumerStats, Namespace, RunningConsumer } from '@vigil/events';

/** A durable consumer this instance runs, for /metrics. */
export interface ObservedConsumer {
  readonly durable: string;
  readonly running: RunningConsumer;
}

const outcomes = ['processed', 'retried', 'dead_lettered', 'skipped', 'outage_retries'] as const;
const statOf: Record<(typeof outcomes)[number], keyof ConsumerStats> = {
  processed: 'processed',
  retried: 'retried',
  dead_lettered: 'deadLettered',
  skipped: 'skipped',
  outage_retries: 'outages',
};

/**
 * Registers, on `registry`, each consumer's lag as the server sees it (shared by every instance:
 * messages not yet delivered, and delivered but not yet acknowledged) and this instance's own
 * outcomes. The server is asked at scrape time, so a consumer that has fallen behind shows it
 * even while its handler is stuck.
 */
export function observeConsumers(
  registry: Registry,
  nc: NatsConnection,
  ns: Namespace,
  consumers: readonly ObservedConsumer[],
): void {
  const info = async (durable: string) => {
    try {
      return await (await jetstreamManager(nc, { timeout: 2000 })).consumers.info(ns.stream, durable);
    } catch {
      return undefined; // NATS away: the gauges keep their last values
    }
  };
  new Gauge({
    name: 'vigil_consumer_pending_messages',
    help: 'Messages of the stream the durable consumer has not delivered yet (its lag), as the server counts them',
    labelNames: ['consumer'],
    registers: [registry],
    async collect() {
      for (const c of consumers) {
        const i = await info(c.durable);
        if (i) {
          this.set({ consumer: c.durable }, i.num_pending);
          ackPending.set({ consumer: c.durable }, i.num_ack_pending);
          redelivered.set({ consumer: c.durable }, i.num_redelivered);
        }
      }
    },
  });
  const ackPending = new Gauge({
    name: 'vigil_consumer_ack_pending_messages',
    help: 'Messages delivered to some instance of the consumer and not acknowledged yet',
    labelNames: ['consumer'],
    registers: [registry],
  });
  const redelivered = new Gauge({
    name: 'vigil_consumer_redelivered_messages',
    help: 'Messages of the consumer delivered more than once and not acknowledged yet',
    labelNames: ['consumer'],
    registers: [registry],
  });
  const seen = new Map<string, number>();
  new Counter({
    name: 'vigil_consumer_messages_total',
    help: 'Messages this instance handled, by outcome (outage_retries: attempts held through a dependency outage)',
    labelNames: ['consumer', 'outcome'],
    registers: [registry],
    collect() {
      for (const c of consumers) {
        for (const o of outcomes) {
          const key = `${c.durable}\u0000${o}`;
          const now = c.running.stats[statOf[o]];
          const delta = now - (seen.get(key) ?? 0);
          seen.set(key, now);
          this.inc({ consumer: c.durable, outcome: o }, delta);
        }
      }
    },
  });
}
