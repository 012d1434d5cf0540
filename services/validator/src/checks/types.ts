import type { ConnectionOptions } from '@nats-io/transport-node';
import type { DockerClient } from '@vigil/docker';
import type { CheckKind, CheckConfig } from '../config/suite.js';
import type { CheckStatus } from '../core/scoring.js';
import { VigilError } from '@vigil/events';

/**
 * What a check found. `observed` holds measurements (latency, counts), never secrets. SKIPPED: the
 * check does not apply where it runs, and `message` says why.
 */
export interface CheckOutcome {
  readonly status: Exclude<CheckStatus, 'ERROR'>;
  readonly message: string;
  readonly observed?: Record<string, number | string | boolean>;
}

/** A check could not run (target unreachable, bad response): reported as ERROR, counted as failed. */
export class CheckError extends VigilError {
  readonly code = 'CHECK_ERROR';
}

/** What checks may use; injected, never read from the environment by a check. */
export interface CheckContext {
  readonly signal: AbortSignal;
  /** For `nats` / `jetstream.durability` checks without their own url. */
  readonly natsUrl: string;
  /** Credentials and TLS for `natsUrl` (the service's own). @default none */
  readonly natsOptions?: Partial<ConnectionOptions>;
  /** For `postgres` checks without their own url. */
  readonly databaseUrl: string;
  /** Base of relative paths (`file`, `secrets`, `command`). */
  readonly cwd: string;
  /** For `docker.container` / `docker.hardening` checks. */
  readonly docker: DockerClient;
  /**
   * Whether a Docker engine must answer (DOCKER_HOST was set). When it need not and none answers,
   * Docker checks are SKIPPED instead of ERROR: they do not apply where no engine runs. @default false
   */
  readonly dockerRequired?: boolean;
  /** Where this validator runs (VIGIL_DEPLOYMENT), matched against a check's `deployments`. @default local */
  readonly deployment?: string;
}

export type CheckRunner<K extends CheckKind> = (
  params: Extract<CheckConfig, { kind: K }>['params'],
  ctx: CheckContext,
) => Promise<CheckOutcome>;
