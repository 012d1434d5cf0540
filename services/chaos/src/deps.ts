import type { JetStreamClient } from '@nats-io/jetstream';
import type { Kysely } from 'kysely';
import type { Logger, Namespace } from '@vigil/events';
import type { ChaosConfig } from './config/chaos.js';
import type { GateInput } from './core/gate.js';
import type { ChaosEngine } from './engine.js';
import type { ChaosDatabase, Outcome } from './store.js';

/** Every SLO's remaining budget from the slo-engine, or why it could not be read. */
export type SloBudgets = GateInput['slos'];

export interface ChaosDeps {
  readonly db: Kysely<ChaosDatabase>;
  readonly js: JetStreamClient;
  readonly ns: Namespace;
  readonly engine: ChaosEngine;
  readonly config: ChaosConfig;
  readonly budgets: () => Promise<SloBudgets>;
  readonly logger: Logger;
  /** Names this process in `chaos.experiments.owner`. @default a random id */
  readonly instanceId?: string;
  /**
   * An experiment whose owner has not renewed its lease for this long is taken over by another
   * instance (or the restarted one) and rolled back. @default 15 000 ms
   */
  readonly leaseMs?: number;
  /** How often health and the awaited validation run are looked at. @default 250 ms */
  readonly pollMs?: number;
  /** @default () => new Date() */
  readonly clock?: () => Date;
  /** Called once per experiment outcome (metrics). */
  readonly onOutcome?: (outcome: Outcome | 'refused') => void;
  /**
   * True when NATS authorization is on (the service has a NATS user): then only the `operator`
   * user may publish chaos requests and aborts (besides this service's own schedules), and that,
   * not the free-text `requestedBy`, is what is recorded. @default false
   */
  readonly authorized?: boolean;
}

export const SOURCE = 'vigil/chaos';

export const now = (deps: Pick<ChaosDeps, 'clock'>) => (deps.clock ?? (() => new Date()))();
export const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));
