import pg from 'pg';
import { waitFor } from '@vigil/embedded';

/** A database of its own for one test file; dropped on dispose. */
export async function createTestDatabase(
  serverUrl: string,
  prefix = 'vigil_test',
): Promise<{ url: string; name: string; drop(): Promise<void>; [Symbol.asyncDispose](): Promise<void> }> {
  const name = `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  const u = new URL(serverUrl);
  u.pathname = `/${name}`;
  const drop = async () => {
    const c = new pg.Client({ connectionString: serverUrl });
    await c.connect();
    try {
      // A database with a replication slot (the relay's) cannot be dropped, even with force.
      await dropReplicationSlots(c, { database: name });
      await c.query(`drop database if exists "${name}" with (force)`);
    } finally {
      await c.end();
    }
  };
  return { url: u.toString(), name, drop, [Symbol.asyncDispose]: drop };
}

/**
 * Drops replication slots of a database, or one slot by name, ending the walsender that holds
 * one first (a slot in use cannot be dropped); returns once none is left.
 */
export async function dropReplicationSlots(
  c: pg.Client,
  which: { database: string } | { slot: string },
  timeoutMs = 10_000,
): Promise<void> {
  const [column, value] = 'database' in which ? ['database', which.database] : ['slot_name', which.slot];
  await waitFor(
    async () => {
      const r = await c.query<{ dropped: boolean }>(
        `select case when active_pid is null then pg_drop_replication_slot(slot_name) is not null
                     else not pg_terminate_backend(active_pid) end as dropped
         from pg_replication_slots where ${column} = $1`,
        [value],
      );
      return r.rows.every((x) => x.dropped);
    },
    { timeoutMs, intervalMs: 1, message: `replication slots of ${value} dropped` },
  );
}
