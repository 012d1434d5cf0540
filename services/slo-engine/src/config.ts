import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { serviceEnv } from '@vigil/service-kit';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** The slo-engine's environment (read in main.ts only). */
export const sloEngineEnv = serviceEnv.extend({
  /** /healthz, /readyz, /metrics, /slos. @default 9471 */
  PORT: z.coerce.number().int().min(0).max(65535).default(9471),
  /** @default config/slos of this checkout */
  SLO_DIR: z.string().min(1).default(`${repoRoot}config/slos`),
  /** How long after a minute ends it is evaluated, for late events. @default 2000 */
  SLO_EVALUATION_GRACE_MS: z.coerce.number().int().min(0).max(50_000).default(2_000),
  /** Events taken at once; those waiting for a commit share the next one (group commit). @default 64 */
  SLO_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(64),
});
