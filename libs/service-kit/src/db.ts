import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';

/** A pg pool and a Kysely instance over it. */
export function createDb<DB>(
  url: string,
  o: {
    max?: number;
    applicationName?: string;
    /** Server settings of every connection, e.g. `{ enable_bitmapscan: 'off' }`. */ settings?: Record<string, string>;
  } = {},
): { db: Kysely<DB>; pool: pg.Pool } {
  const options = Object.entries(o.settings ?? {})
    .map(([k, v]) => `-c ${k}=${v}`)
    .join(' ');
  const pool = new pg.Pool({
    connectionString: url,
    max: o.max ?? 10,
    application_name: o.applicationName ?? 'vigil',
    ...(options ? { options } : {}),
  });
  // An idle client whose server went away emits 'error'; the pool drops it and the next query reconnects.
  pool.on('error', () => undefined);
  // A checked-out client has no pool listener: between two statements of a transaction, a server
  // restart would emit an unhandled 'error' and kill the process. The statement that follows fails
  // instead (an outage to the consumer), and the pool discards the dead client on release.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return { db: new Kysely<DB>({ dialect: new PostgresDialect({ pool }) }), pool };
}
