import { namespaceIdPattern, VigilError } from '@vigil/events';
import { z } from 'zod';

/** Environment every service reads (in its main.ts only), with defaults and units. */
export const serviceEnv = z.object({
  /** One URL, or several separated by commas (cluster seeds). @default nats://127.0.0.1:4222 */
  NATS_URL: z
    .string()
    .default('nats://127.0.0.1:4222')
    .refine((v) => v.split(',').every((u) => URL.canParse(u.trim())), 'must be a URL or comma-separated URLs'),
  /** NATS user (see deploy/compose/nats-auth.conf); the inbox prefix becomes `_INBOX_<user>`. @default none */
  NATS_USER: z.string().min(1).optional(),
  /** NATS password; prefer NATS_PASSWORD_FILE. @default none */
  NATS_PASSWORD: z.string().min(1).optional(),
  /** File holding the NATS password (a Docker or Kubernetes secret). @default none */
  NATS_PASSWORD_FILE: z.string().min(1).optional(),
  /** CA bundle that signs the NATS server's certificate; also turns TLS on. @default none */
  NATS_TLS_CA_FILE: z.string().min(1).optional(),
  /** Client certificate and key, when the server verifies clients. @default none */
  NATS_TLS_CERT_FILE: z.string().min(1).optional(),
  NATS_TLS_KEY_FILE: z.string().min(1).optional(),
  /** @default postgres://postgres@127.0.0.1:5432/vigil */
  DATABASE_URL: z
    .string()
    .url()
    .default('postgres://postgres@127.0.0.1:5432/vigil')
    .refine((v) => /^postgres(ql)?:\/\//.test(v), 'must be a postgres:// or postgresql:// URL'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** OTLP/HTTP endpoint (e.g. http://jaeger:4318); traces are exported only when set. */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.string().url().optional(),
  /** Namespace id: streams EVENTS_<id> etc.; empty for the default namespace. */
  VIGIL_NAMESPACE: z
    .string()
    .optional()
    .refine(
      (v) => v === undefined || v === '' || namespaceIdPattern.test(v),
      "must be 1-32 letters, digits, '_' or '-'",
    ),
  /** Replicas of EVENTS and DEADLETTER when a service creates them. @default 1 */
  VIGIL_REPLICAS: z.coerce.number().int().min(1).max(5).default(1),
  /** Bytes EVENTS may hold (oldest dropped past it); nats-server reserves them. @default 1 GiB */
  VIGIL_EVENTS_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(1024 * 1024)
    .optional(),
  /** Bytes DEADLETTER may hold (oldest dropped past it). @default 256 MiB */
  VIGIL_DEADLETTER_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(1024 * 1024)
    .optional(),
  /** Address of /healthz, /readyz and /metrics. @default 127.0.0.1 */
  HTTP_HOST: z.string().default('127.0.0.1'),
});

/** Thrown at start for a bad environment; names every bad variable. */
export class ConfigError extends VigilError {
  readonly code = 'CONFIG_INVALID';
}

/** Parses the environment with a zod schema; the error names each variable and why. */
export function parseEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv): z.output<S> {
  const r = schema.safeParse(env);
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => `${i.path.map(String).join('.') || '(environment)'}: ${i.message}`);
  throw new ConfigError(`invalid environment: ${lines.join('; ')}`);
}
