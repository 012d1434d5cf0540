import {
  resolveNats as resolveEmbeddedNats,
  resolvePostgres as resolveEmbeddedPostgres,
  type ResolvedServer,
  type ServerFallback,
} from '@vigil/embedded';

type NatsOptions = Parameters<typeof resolveEmbeddedNats>[0];
type PostgresOptions = Parameters<typeof resolveEmbeddedPostgres>[0];

/** NATS for tests: as `vigil up` resolves it, with a testcontainer when no binary is installed. */
export function resolveNats(o: NatsOptions = {}): Promise<ResolvedServer> {
  return resolveEmbeddedNats({ fallback: container('nats:2.11-alpine', 4222, ['-js'], {}, 'nats'), ...o });
}

/** PostgreSQL for tests: as `vigil up` resolves it, with a testcontainer when no binary is installed. */
export function resolvePostgres(o: PostgresOptions = {}): Promise<ResolvedServer> {
  return resolveEmbeddedPostgres({
    fallback: container('postgres:15-alpine', 5432, [], { POSTGRES_HOST_AUTH_METHOD: 'trust' }, 'postgres'),
    ...o,
  });
}

/** A testcontainer of `image`, or undefined when no engine answers or the image cannot be pulled. */
function container(
  image: string,
  port: number,
  command: string[],
  environment: Record<string, string>,
  scheme: 'nats' | 'postgres',
): ServerFallback {
  return async () => {
    try {
      const { GenericContainer, Wait } = await import('testcontainers');
      let g = new GenericContainer(image)
        .withExposedPorts(port)
        .withEnvironment(environment)
        .withWaitStrategy(Wait.forListeningPorts());
      if (command.length > 0) g = g.withCommand(command);
      const started = await g.start();
      const at = `${started.getHost()}:${started.getMappedPort(port)}`;
      return {
        url: scheme === 'nats' ? `nats://${at}` : `postgres://postgres@${at}/postgres`,
        stop: async () => void (await started.stop()),
      };
    } catch {
      return undefined;
    }
  };
}
