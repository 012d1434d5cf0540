import { createDb } from '@vigil/service-kit';
import { createTestDatabase } from '@vigil/testkit';
import type { Kysely } from 'kysely';
import type { OutboxDatabase } from '../schema.js';

/** A database of one test (not yet migrated) with a pool typed for the outbox and the test's own `App` tables; dropped on dispose. */
export async function testDatabase<App = object>(
  databaseUrl: string,
): Promise<{ url: string; db: Kysely<OutboxDatabase & App> } & AsyncDisposable> {
  const test = await createTestDatabase(databaseUrl);
  const { db } = createDb<OutboxDatabase & App>(test.url);
  return {
    url: test.url,
    db,
    async [Symbol.asyncDispose]() {
      await db.destroy(); // ends the pool too
      await test.drop();
    },
  };
}
