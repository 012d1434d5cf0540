import type { EventType } from './registry.js';
import type { ConsumerSpec } from './topology.js';

/** What services report; tools may read these and nothing else (and the status page shows them). */
export const resultTypes = [
  'validation.completed',
  'slo.burn',
  'chaos.started',
  'chaos.completed',
  'chaos.aborted',
  'anomaly.detected',
] as const satisfies readonly EventType[];

/**
 * Every durable consumer of vigil's services, declared once: each service consumes with its
 * spec, and the NATS permissions (permissions.ts) are derived from these, so a consumer added
 * here is one its service may pull from and no one else may.
 */
export const consumers = {
  /** validation.requested; a run takes up to a minute. */
  validator: { durable: 'validator', types: ['validation.requested'], ackWaitMs: 60_000 },
  /** Every type, so that an SLO file naming a new type needs no change to the consumer. */
  sloEngine: { durable: 'slo-engine', ackWaitMs: 30_000 },
  /** Every type: the series of the configuration name them. */
  anomaly: { durable: 'anomaly', ackWaitMs: 30_000 },
  /** chaos.requested; an experiment's start (gate, plan, first step) within a minute. */
  chaosRequests: { durable: 'chaos', types: ['chaos.requested'], ackWaitMs: 60_000 },
  /** chaos.abort.requested, on its own consumer so an abort never waits behind a request. */
  chaosAborts: { durable: 'chaos-aborts', types: ['chaos.abort.requested'] },
  /** validation.completed: the scores the gate reads and recovery awaits. */
  chaosValidations: { durable: 'chaos-validations', types: ['validation.completed'] },
  /** The result streams, after the status page's replay at start. */
  status: { durable: 'status', types: resultTypes, ackWaitMs: 30_000 },
} as const satisfies Record<string, ConsumerSpec>;

/** The durable consumers each service pulls from; no other user may pull from, ack for, or change them. */
export const serviceConsumers = {
  validator: [consumers.validator.durable],
  'slo-engine': [consumers.sloEngine.durable],
  anomaly: [consumers.anomaly.durable],
  chaos: [consumers.chaosRequests.durable, consumers.chaosAborts.durable, consumers.chaosValidations.durable],
} as const;

/**
 * Durables of services that read as any tool reads (ephemeral replay consumers besides); like the
 * ones above, no other user may pull from, ack for, or change them.
 */
export const readerConsumers = {
  status: [consumers.status.durable],
} as const;
