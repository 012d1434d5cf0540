import { sql, type Kysely } from 'kysely';
import { Migrator, type Migration, type MigrationProvider } from 'kysely/migration';
import { VigilError } from '@vigil/events';

/** Thrown when a schema's migrations fail; names the schema and the migration. */
export class MigrationError extends VigilError {
  readonly code = 'MIGRATION_FAILED';
}

/**
 * Runs a schema's migrations with kysely's Migrator. Each schema keeps its own migration table, so
 * services migrate independently; the Migrator's advisory lock makes concurrent starts safe.
 */
export async function migrateSchema<DB>(
  db: Kysely<DB>,
  schema: string,
  migrations: Record<string, Migration>,
): Promise<string[]> {
  await sql`create schema if not exists ${sql.id(schema)}`.execute(db).catch((e: { code?: string }) => {
    if (e.code !== '23505' && e.code !== '42P06') throw e; // created by a concurrent start
  });
  const provider: MigrationProvider = { getMigrations: async () => migrations };
  const migrator = new Migrator({
    db,
    provider,
    migrationTableSchema: schema,
    migrationTableName: 'kysely_migration',
    migrationLockTableName: 'kysely_migration_lock',
  });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error !== undefined) {
    const message = error instanceof Error ? error.message : JSON.stringify(error);
    throw new MigrationError(
      `migrations of schema '${schema}' failed${failed ? ` at '${failed.migrationName}'` : ''}: ${message}`,
      { cause: error },
    );
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
