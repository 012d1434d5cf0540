import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { defaultDockerHost } from '@vigil/docker';
import { serviceEnv } from '@vigil/service-kit';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** The chaos service's environment (read in main.ts only). */
export const chaosEnv = serviceEnv.extend({
  /** /healthz, /readyz, /metrics, /experiments. @default 9472 */
  PORT: z.coerce.number().int().min(0).max(65535).default(9472),
  /** @default config/chaos.yaml of this checkout */
  CHAOS_CONFIG: z.string().min(1).default(`${repoRoot}config/chaos.yaml`),
  /** The Docker engine experiments act on (unix:///path, tcp://host:port). @default unix:///var/run/docker.sock */
  DOCKER_HOST: z.string().min(1).default(defaultDockerHost),
  /** Image of the netem and stress helper containers (services/chaos/helper). @default vigil/chaos-helper:1 */
  CHAOS_HELPER_IMAGE: z.string().min(1).default('vigil/chaos-helper:1'),
  /** The slo-engine, whose /slos gives every SLO's remaining budget. @default http://127.0.0.1:9471 */
  CHAOS_SLO_URL: z.url().default('http://127.0.0.1:9471'),
  /** After this long without a lease renewal, a running experiment is taken over and rolled back. @default 15000 */
  CHAOS_LEASE_MS: z.coerce.number().int().min(500).max(600_000).default(15_000),
  /** Set to false to not request the schedules of chaos.yaml. @default true */
  CHAOS_SCHEDULE: z.stringbool().default(true),
});
