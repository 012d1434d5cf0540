import type { TestProject } from 'vitest/node';
import { resolveNats, resolvePostgres } from './servers.js';

declare module 'vitest' {
  export interface ProvidedContext {
    natsUrl: string;
    databaseUrl: string;
  }
}

/** Resolves NATS and Postgres once per test run (env, local, spawned, container) and hands their URLs to the tests. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const [nats, postgres] = await Promise.all([resolveNats(), resolvePostgres()]);
  process.stderr.write(
    `vigil tests: NATS ${nats.url} (${nats.source}), Postgres ${postgres.url} (${postgres.source})\n`,
  );
  project.provide('natsUrl', nats.url);
  project.provide('databaseUrl', postgres.url);
  return async () => {
    await Promise.all([nats.stop(), postgres.stop()]);
  };
}
