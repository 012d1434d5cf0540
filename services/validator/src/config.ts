import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { duration, serviceEnv } from '@vigil/service-kit';
import { DEFAULT_DEPLOYMENT } from './checks/run.js';
import { deploymentName } from './config/suite.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** The validator's environment (read in main.ts only). */
export const validatorEnv = serviceEnv.extend({
  /** /healthz, /readyz, /metrics, /runs. @default 9470 */
  PORT: z.coerce.number().int().min(0).max(65535).default(9470),
  /** @default config/suites of this checkout */
  VALIDATOR_SUITES_DIR: z.string().min(1).default(`${repoRoot}config/suites`),
  /** Base of relative paths in file, secrets and command checks. @default this checkout */
  VALIDATOR_WORKDIR: z.string().min(1).default(repoRoot),
  /**
   * The Docker engine for docker.* checks (unix:///path, tcp://host:port). When set, an engine must
   * answer (else the checks are ERROR); when not, the default socket is tried and, without an
   * engine there, docker.* checks are SKIPPED. @default unix:///var/run/docker.sock
   */
  DOCKER_HOST: z.string().min(1).optional(),
  /**
   * Where this validator runs, matched against a check's `deployments` (`compose` under
   * deploy/compose). @default local
   */
  VIGIL_DEPLOYMENT: deploymentName.default(DEFAULT_DEPLOYMENT),
  /**
   * Requests a minute one requester (`requestedBy`) may send to this instance; past it they are
   * refused (dead-lettered as RATE_LIMITED). 0 turns the limit off. @default 60
   */
  VALIDATOR_RATE_LIMIT: z.coerce.number().int().min(0).default(60),
  /** Requests one requester may send at once before the per-minute rate applies. @default 20 */
  VALIDATOR_RATE_BURST: z.coerce.number().int().min(1).default(20),
  /** Requests handled at once by this instance. @default 4 */
  VALIDATOR_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
  /**
   * Request every scheduled suite this often instead of the interval its file gives (for demos and
   * tests that cannot wait 5 minutes; what a run checks is unchanged). @default each suite's interval
   */
  VALIDATOR_SCHEDULE_INTERVAL: duration.optional(),
  /** Set to false to not request suites on their intervals. @default true */
  VALIDATOR_SCHEDULE: z.stringbool().default(true),
});
