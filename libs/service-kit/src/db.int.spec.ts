import { sql } from 'kysely';
import { describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from '@vigil/testkit';
import { createDb } from './db.js';

describe('createDb', () => {
  it('a connection the server drops while checked out fails its next statement instead of killing the process', async () => {
    await using test = await createTestDatabase(inject('databaseUrl'), 'db');
    const { db, pool } = createDb<Record<string, never>>(test.url, { max: 2 });
    try {
      // As between two statements of a transaction when PostgreSQL restarts.
      const client = await pool.connect();
      const pid = (await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
      const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
      await sql`select pg_terminate_backend(${pid})`.execute(db);
      // Without a listener of its own, the 'error' before this 'end' is an uncaught exception.
      await ended;
      await expect(client.query('select 1')).rejects.toThrow();
      client.release();
      // The pool discarded the dead connection: the next query gets a live one.
      const r = await sql<{ one: number }>`select 1 as one`.execute(db);
      expect(r.rows[0]?.one).toBe(1);
      expect(pool.totalCount).toBe(1);
    } finally {
      await db.destroy();
    }
  });
});
