import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import { migrateSchema, type OutboxDatabase } from '@vigil/outbox';
import type { EventData } from '@vigil/events';

export interface RunsTable {
  id: string;
  request_id: string;
  suite: string;
  status: string;
  score: number;
  started_at: Date;
  completed_at: Date;
  duration_ms: number;
  error: string | null;
  /** The `validation.completed` data, as emitted. */
  result: EventData<'validation.completed'>;
}

/** One row per scheduled run requested: makes the request once across instances and restarts. */
export interface ScheduleRunsTable {
  suite: string;
  every_ms: number;
  slot: number;
  event_id: string;
}

export interface ValidatorDatabase extends OutboxDatabase {
  'validator.runs': RunsTable;
  'validator.schedule_runs': ScheduleRunsTable;
}

const migrations: Record<string, Migration> = {
  '0001_runs': {
    async up(db: Kysely<unknown>) {
      await sql`
        create table validator.runs (
          id text primary key,
          request_id text not null,
          suite text not null,
          status text not null check (status in ('PASS', 'WARN', 'FAIL', 'ERROR')),
          score double precision not null,
          started_at timestamptz not null,
          completed_at timestamptz not null,
          duration_ms double precision not null,
          error text,
          result jsonb not null
        )`.execute(db);
      await sql`create index runs_suite_completed on validator.runs (suite, completed_at desc)`.execute(db);
      await sql`create index runs_completed on validator.runs (completed_at desc)`.execute(db);
    },
  },
  // Scheduled requests had ids derived from suite and time, so anyone could publish the next one
  // first and JetStream dropped the real request as a duplicate. Ids are random now; this table
  // keeps a run requested once.
  '0002_schedule_runs': {
    async up(db: Kysely<unknown>) {
      await sql`
        create table validator.schedule_runs (
          suite text not null,
          every_ms bigint not null,
          slot bigint not null,
          event_id text not null,
          requested_at timestamptz not null default now(),
          primary key (suite, every_ms, slot)
        )`.execute(db);
    },
  },
};

export function migrateValidator<DB>(db: Kysely<DB>): Promise<string[]> {
  return migrateSchema(db, 'validator', migrations);
}

export interface RunSummary {
  id: string;
  requestId: string;
  suite: string;
  status: string;
  score: number;
  completedAt: string;
  durationMs: number;
  error: string | null;
}

export async function listRuns(
  db: Kysely<ValidatorDatabase>,
  o: { suite?: string | undefined; limit: number },
): Promise<RunSummary[]> {
  let q = db
    .selectFrom('validator.runs')
    .select(['id', 'request_id', 'suite', 'status', 'score', 'completed_at', 'duration_ms', 'error'])
    .orderBy('completed_at', 'desc')
    .limit(o.limit);
  if (o.suite !== undefined) q = q.where('suite', '=', o.suite);
  const rows = await q.execute();
  return rows.map((r) => ({
    id: r.id,
    requestId: r.request_id,
    suite: r.suite,
    status: r.status,
    score: r.score,
    completedAt: r.completed_at.toISOString(),
    durationMs: r.duration_ms,
    error: r.error,
  }));
}

export async function getRun(
  db: Kysely<ValidatorDatabase>,
  id: string,
): Promise<EventData<'validation.completed'> | undefined> {
  const r = await db.selectFrom('validator.runs').select('result').where('id', '=', id).executeTakeFirst();
  return r?.result;
}
