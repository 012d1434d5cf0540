import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Kysely } from 'kysely';
import type { Logger, Namespace } from '@vigil/events';
import type { OutboxDatabase } from '@vigil/outbox';
import type { RetrySchedule } from './core.js';
import type { RelayMetrics } from './metrics.js';

/** One outbox row as the relay publishes it, whichever reader found it. */
export interface Row {
  seq: string;
  txid: string;
  event_id: string;
  subject: string;
  headers: Record<string, string>;
  payload: Buffer;
  first_attempt_at: Date | null;
  last_attempt_at: Date | null;
}

/**
 * What every part of the relay shares: the connections, where events go, how they are counted
 * and the retry schedule. Built once by `createRelay`; no part keeps state of another.
 */
export interface RelayContext {
  readonly db: Kysely<OutboxDatabase>;
  /** For dedicated connections: the leader lock, LISTEN, the replication stream. */
  readonly databaseUrl: string;
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  readonly ns: Namespace;
  readonly logger: Logger;
  readonly metrics: RelayMetrics;
  readonly clock: () => Date;
  readonly schedule: RetrySchedule;
  /** Rows read and published per round. */
  readonly batchSize: number;
  /** Wakes whichever reader waits for work (NOTIFY, a committed transaction, stop). */
  readonly wake: Waiter;
}

export interface Waiter {
  wake(): void;
  /** Sleeps until `ms` pass, `wake()` is called (also before the call), or `signal` aborts. */
  wait(ms: number, signal: AbortSignal): Promise<void>;
}

export function waiter(): Waiter {
  let wakeUp: (() => void) | undefined;
  let pending = false;
  return {
    wake() {
      pending = true;
      wakeUp?.();
    },
    async wait(ms, signal) {
      if (pending || signal.aborted) {
        pending = false;
        return;
      }
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          wakeUp = undefined;
          resolve();
        };
        const timer = setTimeout(done, ms);
        signal.addEventListener('abort', done, { once: true });
        wakeUp = done;
      });
      pending = false;
    },
  };
}
