import { z } from 'zod';
import { DEFAULT_PORT_BASE } from './services.js';

/** Environment of the `vigil` command; read only by main.ts. */
export const envSchema = z.object({
  NATS_URL: z.string().url().optional().describe('NATS to use; unset: local 4222, else a spawned nats-server'),
  NATS_USER: z.string().min(1).optional().describe('NATS user (client, tool or admin; see vigil nats-auth)'),
  NATS_PASSWORD: z.string().min(1).optional().describe("that user's password"),
  NATS_PASSWORD_FILE: z.string().min(1).optional().describe('a file holding the password instead'),
  NATS_TLS_CA_FILE: z.string().min(1).optional().describe('CA of the NATS server certificate (turns TLS on)'),
  DATABASE_URL: z.string().url().optional().describe('Postgres to use; unset: local 5432, else a private cluster'),
  VIGIL_NAMESPACE: z
    .string()
    .regex(/^[A-Za-z0-9_-]{0,32}$/, "1-32 letters, digits, '_' or '-'")
    .optional()
    .describe('namespace of a side-by-side stack; unset: the default EVENTS stream'),
  VIGIL_DATA_DIR: z.string().min(1).default('.vigil').describe('where the embedded stack keeps its data'),
  VIGIL_PORT_BASE: z.coerce
    .number()
    .int()
    .min(1)
    .max(65530)
    .default(DEFAULT_PORT_BASE)
    .describe(
      "first HTTP port of vigil up's services: validator, slo-engine, chaos, anomaly, outbox-relay, status in order",
    ),
  VIGIL_STATUS_URL: z
    .string()
    .url()
    .optional()
    .describe('the status service vigil status reads; unset: 127.0.0.1 at VIGIL_PORT_BASE + 5'),
  VIGIL_SLO_ENGINE_URL: z
    .string()
    .url()
    .optional()
    .describe('the slo-engine vigil status reads the budgets from; unset: 127.0.0.1 at VIGIL_PORT_BASE + 1'),
  VIGIL_DATABASE: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a lower-case PostgreSQL identifier')
    .default('vigil')
    .describe('database vigil up creates and uses when DATABASE_URL names none'),
  VIGIL_REPLICAS: z.coerce
    .number()
    .int()
    .min(1)
    .max(5)
    .default(1)
    .describe('replicas of the EVENTS and DEADLETTER streams'),
  VIGIL_EVENTS_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(1024 * 1024)
    .optional()
    .describe('bytes EVENTS may hold, oldest dropped past it (default 1 GiB; nats-server reserves them)'),
  VIGIL_DEADLETTER_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(1024 * 1024)
    .optional()
    .describe('bytes DEADLETTER may hold, oldest dropped past it (default 256 MiB)'),
  VIGIL_JAEGER_URL: z
    .string()
    .url()
    .default('http://127.0.0.1:16686')
    .describe('the Jaeger UI that trace links point to'),
  DOCKER_HOST: z.string().min(1).optional().describe('Docker engine of vigil up --demo; unset: /var/run/docker.sock'),
  VIGIL_DEMO_IMAGE: z
    .string()
    .min(1)
    .default('busybox:stable')
    .describe('image of the demo target vigil up --demo starts (pulled when missing)'),
  USER: z.string().min(1).optional().describe('the default requestedBy of what the CLI publishes'),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.string().url().optional().describe('OTLP/HTTP endpoint the CLI exports its spans to'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type CliEnv = z.infer<typeof envSchema>;

export function readEnv(env: NodeJS.ProcessEnv): CliEnv {
  const r = envSchema.safeParse(env);
  if (!r.success) {
    const first = r.error.issues[0];
    throw new Error(`environment variable ${String(first?.path[0] ?? '?')}: ${first?.message ?? 'invalid'}`);
  }
  return r.data;
}
