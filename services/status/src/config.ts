import { z } from 'zod';
import { serviceEnv } from '@vigil/service-kit';

/** The status service's environment (read in main.ts only). */
export const statusEnv = serviceEnv.extend({
  /** /, /api/status, /healthz, /readyz, /metrics. @default 9475 */
  PORT: z.coerce.number().int().min(0).max(65535).default(9475),
  /** The page's title. @default vigil status */
  STATUS_TITLE: z.string().min(1).max(200).default('vigil status'),
  /** Days of history per component on the page. @default 90 */
  STATUS_DAYS: z.coerce.number().int().min(1).max(366).default(90),
  /** The slo-engine, whose SLOs and histories the dashboard shows. @default http://127.0.0.1:9471 */
  STATUS_SLO_ENGINE_URL: z.string().url().default('http://127.0.0.1:9471'),
  /** The anomaly service, whose series the dashboard draws the anomalies on. @default http://127.0.0.1:9473 */
  STATUS_ANOMALY_URL: z.string().url().default('http://127.0.0.1:9473'),
  /** The Jaeger UI the dashboard's trace links point to. @default http://127.0.0.1:16686 */
  STATUS_JAEGER_URL: z.string().url().default('http://127.0.0.1:16686'),
  /** Components tracked; results for more are refused (counted in /metrics). @default 2000 */
  STATUS_MAX_COMPONENTS: z.coerce.number().int().min(1).max(100_000).default(2000),
});
