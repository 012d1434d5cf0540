import { z } from 'zod';
import { serviceEnv } from '@vigil/service-kit';

/** The relay's environment (read in main.ts only). Times in milliseconds. */
export const relayEnv = serviceEnv.extend({
  /** /healthz, /readyz, /metrics. @default 9474 */
  PORT: z.coerce.number().int().min(0).max(65535).default(9474),
  /**
   * `logical` (decode the WAL: needs wal_level = logical and a role with REPLICATION), `xmin`
   * (read the table; any open transaction on the server holds events back) or `auto` (logical
   * where the server allows it, else xmin with a warning). @default auto
   */
  RELAY_MODE: z.enum(['auto', 'logical', 'xmin']).default('auto'),
  /** The replication slot of the logical mode. @default vigil_relay_<database> */
  RELAY_SLOT: z
    .string()
    .regex(/^[a-z0-9_]{1,63}$/, 'a slot name is 1-63 characters of a-z, 0-9 and _')
    .optional(),
  /** Logical mode: rows received and not yet confirmed before the stream pauses. @default 20000 */
  RELAY_MAX_BUFFERED_ROWS: z.coerce.number().int().min(1).default(20_000),
  /** @default 1000 */
  RELAY_BATCH_SIZE: z.coerce.number().int().min(1).max(10_000).default(1000),
  /** Fallback poll when no NOTIFY arrives. @default 1000 */
  RELAY_POLL_INTERVAL_MS: z.coerce.number().int().min(10).default(1000),
  /** @default 5 */
  RELAY_RETRY_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(5),
  /** @default 100 */
  RELAY_RETRY_INITIAL_DELAY_MS: z.coerce.number().int().min(1).default(100),
  /** @default 3000 */
  RELAY_RETRY_MAX_DELAY_MS: z.coerce.number().int().min(1).default(3000),
  /** @default 5000 */
  RELAY_PUBLISH_TIMEOUT_MS: z.coerce.number().int().min(100).default(5000),
  /** @default 2000 */
  RELAY_BREAKER_PROBE_MS: z.coerce.number().int().min(10).default(2000),
  /** Published rows are deleted after this many hours. @default 24 */
  RELAY_RETENTION_HOURS: z.coerce.number().min(0).default(24),
  /** @default 1000 */
  RELAY_STANDBY_RETRY_MS: z.coerce.number().int().min(10).default(1000),
});

export type RelayEnv = z.output<typeof relayEnv>;
