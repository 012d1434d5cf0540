import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { serviceEnv } from '@vigil/service-kit';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** The shipped series and detector settings. */
export const defaultConfigPath = `${repoRoot}config/anomaly.yaml`;

/** The anomaly service's environment (read in main.ts only). */
export const anomalyEnv = serviceEnv.extend({
  /** /healthz, /readyz, /metrics, /series. @default 9473 */
  PORT: z.coerce.number().int().min(0).max(65535).default(9473),
  /** @default config/anomaly.yaml of this checkout */
  ANOMALY_CONFIG: z.string().min(1).default(defaultConfigPath),
  /** How long after a minute ends its events-per-minute points are made. @default 2000 */
  ANOMALY_RATE_GRACE_MS: z.coerce.number().int().min(0).max(50_000).default(2_000),
  /**
   * Events taken at once, which share one transaction (group commit). They are still handled one
   * after another in delivery order, since a series' features (delta, rolling mean) depend on the
   * order of its points. @default 256
   */
  ANOMALY_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(256),
});
