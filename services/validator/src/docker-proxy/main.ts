import { z } from 'zod';
import { startReadOnlyDockerProxy } from '@vigil/docker';
import { createLogger, onShutdown, parseEnv } from '@vigil/service-kit';

/**
 * The validator's read-only view of the Docker engine (deploy/compose runs it beside the
 * validator, which then needs no socket): list and inspect pass, everything else is refused.
 */
const proxyEnv = z.object({
  /** Where the proxy listens (the validator's DOCKER_HOST is tcp://<host>:<port>). @default 2375 */
  PORT: z.coerce.number().int().min(0).max(65535).default(2375),
  /** @default 127.0.0.1 */
  HTTP_HOST: z.string().default('127.0.0.1'),
  /** The engine's socket. @default /var/run/docker.sock */
  DOCKER_SOCKET: z.string().min(1).default('/var/run/docker.sock'),
  /** @default info */
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

async function main(): Promise<void> {
  const env = parseEnv(proxyEnv, process.env);
  const logger = createLogger('docker-proxy', env.LOG_LEVEL);
  const proxy = await startReadOnlyDockerProxy({ port: env.PORT, host: env.HTTP_HOST, socketPath: env.DOCKER_SOCKET });
  logger.info({ port: proxy.port, socket: env.DOCKER_SOCKET }, 'docker-proxy started (read-only)');
  onShutdown(logger, () => [['http', () => proxy.close()]]);
}

main().catch((e: unknown) => {
  process.stderr.write(`docker-proxy: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
