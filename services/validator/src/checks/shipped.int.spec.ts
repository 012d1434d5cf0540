import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { expect, inject, it } from 'vitest';
import { migrateOutbox, type OutboxDatabase } from '@vigil/outbox';
import { createDb } from '@vigil/service-kit';
import { createTestDatabase } from '@vigil/testkit';
import { connectDocker } from '@vigil/docker';
import { loadSuites } from '../config/suite.js';
import { runCheck } from './run.js';

const databaseUrl = inject('databaseUrl');
const natsUrl = inject('natsUrl');
const shipped = join(dirname(fileURLToPath(import.meta.url)), '../../../../config/suites');

it("the shipped 'relay lag under a minute' asks outbox.delivery: a row left unpublished FAILs, one logical mode recorded in a range PASSes", async () => {
  const lag = (await loadSuites(shipped))
    .get('vigil-self')
    ?.components.flatMap((c) => c.checks)
    .find((c) => c.name === 'relay lag under a minute');
  expect(lag).toBeDefined();
  await using database = await createTestDatabase(databaseUrl, 'shipped');
  const { db } = createDb<OutboxDatabase>(database.url);
  try {
    await migrateOutbox(db);
    const ctx = { natsUrl, databaseUrl: database.url, cwd: shipped, docker: connectDocker() };
    expect(await runCheck(lag!, ctx)).toMatchObject({ status: 'PASS' });
    // Two rows committed two minutes ago; the relay published the first in logical mode (a range,
    // its own state left pending) and not the second.
    await sql`insert into outbox.events (event_id, subject, payload, created_at)
              select 'e' || i, 'vigil.test', '\\x7b7d'::bytea, now() - interval '2 minutes' from generate_series(1, 2) i`.execute(
      db,
    );
    const [first, second] = (await db.selectFrom('outbox.events').select('seq').orderBy('seq').execute()).map(
      (r) => r.seq,
    );
    await db.insertInto('outbox.published').values({ lo: first!, hi: first! }).execute();
    expect(await runCheck(lag!, ctx)).toMatchObject({ status: 'FAIL', observed: { value: false } });
    await db.insertInto('outbox.published').values({ lo: second!, hi: second! }).execute();
    expect(await runCheck(lag!, ctx)).toMatchObject({ status: 'PASS', observed: { value: true } });
  } finally {
    await db.destroy();
  }
});
