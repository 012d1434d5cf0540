import type { z } from 'zod';
import { parseEnv, type serviceEnv } from './env.js';
import { startHttpServer, type HttpServerOptions } from './http.js';
import { startRuntime, type RuntimeOptions, type ServiceRuntime } from './runtime.js';
import { onShutdown, type ShutdownStep } from './shutdown.js';

type ServiceEnv = z.output<typeof serviceEnv> & { readonly PORT: number };

/** What a service's `start` hands back to {@link runService}. */
export interface StartedService {
  /** Served on PORT besides /healthz: /metrics, /readyz and the service's routes. */
  readonly http: Pick<HttpServerOptions, 'metrics' | 'ready'> & Partial<Pick<HttpServerOptions, 'routes'>>;
  /** Fields of the `<name> started` log line besides the port. */
  readonly started: Record<string, unknown>;
  /** Shutdown steps run after the HTTP server closed, in order (then the runtime's own). */
  readonly stop: readonly ShutdownStep[];
  /** Shutdown steps run before the HTTP server closes (open event streams it would wait for). */
  readonly stopFirst?: readonly ShutdownStep[];
}

export interface ServiceDefinition<S extends z.ZodType<ServiceEnv>> {
  /** Logs, traces, the NATS connection and the Postgres application name. */
  readonly name: string;
  /** The environment's schema (serviceEnv extended). */
  readonly env: S;
  /**
   * Brings the service up. Whatever must hold before any connection (its config files) is loaded
   * first; then `runtime` opens NATS, Postgres and telemetry, and the service starts its parts.
   */
  start(
    env: z.output<S>,
    runtime: <DB>(o: Omit<RuntimeOptions<DB>, 'service' | 'env'>) => Promise<ServiceRuntime<DB>>,
  ): Promise<StartedService>;
}

/**
 * The one skeleton of every service's main.ts: parse the environment, start the service (its
 * runtime through the given function), serve HTTP, log `<name> started` with the port, and on
 * SIGTERM or SIGINT stop in reverse order (the service's steps, then the runtime's). A failure to
 * start prints `<name>: <message>` and exits 1.
 */
export function runService<S extends z.ZodType<ServiceEnv>>(def: ServiceDefinition<S>): void {
  const run = async () => {
    const env = parseEnv(def.env, process.env);
    let rt: ServiceRuntime<unknown> | undefined;
    const started = await def.start(env, async (o) => {
      if (rt !== undefined) throw new Error(`${def.name}: one runtime per service`);
      const r = await startRuntime({ ...o, service: def.name, env });
      rt = r as ServiceRuntime<unknown>;
      return r;
    });
    if (rt === undefined) throw new Error(`${def.name}: start() did not open its runtime`);
    const { logger, closing } = rt;
    const http = await startHttpServer({ logger, port: env.PORT, host: env.HTTP_HOST, ...started.http });
    logger.info({ port: http.port, ...started.started }, `${def.name} started`);
    onShutdown(logger, () => [...(started.stopFirst ?? []), ['http', () => http.close()], ...started.stop, ...closing]);
  };
  run().catch((e: unknown) => {
    process.stderr.write(`${def.name}: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
