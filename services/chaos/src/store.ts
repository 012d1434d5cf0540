import { sql, type ColumnType, type Kysely, type Transaction } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { EventData } from '@vigil/events';
import { migrateSchema, type OutboxDatabase } from '@vigil/outbox';
import type { GateCheck } from './core/gate.js';
import type { Outcome, Phase } from './core/experiment.js';
import type { Action, Plan } from './core/plan.js';

export interface Target {
  readonly id: string;
  readonly name: string;
}

export type { Outcome, Phase } from './core/experiment.js';

export interface ExperimentsTable {
  id: string;
  request_id: string;
  kind: string;
  request: ColumnType<EventData<'chaos.requested'>, string, string>;
  plan: ColumnType<Plan, string, string>;
  targets: ColumnType<Target[], string, string>;
  gate: ColumnType<GateCheck[], string, string>;
  dry_run: boolean;
  phase: Phase;
  outcome: Outcome | null;
  /** Why it is being stopped early (abort, failed injection, shutdown); set once. */
  stop_reason: string | null;
  score_before: number | null;
  owner: string | null;
  heartbeat_at: Date | null;
  started_at: Date;
  injected_at: Date | null;
  rolled_back_at: Date | null;
  completed_at: Date | null;
}

/** Each step, written before it acts: after a crash, what may have been injected is known. */
export interface JournalTable {
  seq: ColumnType<number, never, never>;
  experiment_id: string;
  phase: 'inject' | 'rollback';
  target_id: string;
  target_name: string;
  action: ColumnType<Action, string, string>;
  /** What the rollback needs to know (a network endpoint's aliases, the helper container). */
  detail: ColumnType<Record<string, unknown> | null, string | null, string | null>;
  status: 'intended' | 'done' | 'failed';
  error: string | null;
  at: ColumnType<Date, Date | undefined, Date>;
}

export interface ValidationsTable {
  run_id: string;
  request_id: string;
  suite: string;
  status: string;
  score: number;
  completed_at: Date;
  /** When the stream stored the event (null for rows from before 0002). */
  stored_at: Date | null;
  /** Its position in the stream: "latest" is the last to arrive, whatever its sender's clock said. */
  stream_seq: number | null;
}

export interface ScheduleRunsTable {
  schedule: string;
  minute: Date;
  event_id: string;
}

export interface ChaosDatabase extends OutboxDatabase {
  'chaos.experiments': ExperimentsTable;
  'chaos.journal': JournalTable;
  'chaos.validations': ValidationsTable;
  'chaos.schedule_runs': ScheduleRunsTable;
}

const migrations: Record<string, Migration> = {
  '0001_experiments': {
    async up(db: Kysely<unknown>) {
      await sql`
        create table chaos.experiments (
          id text primary key,
          request_id text not null unique,
          kind text not null,
          request jsonb not null,
          plan jsonb not null,
          targets jsonb not null,
          gate jsonb not null,
          dry_run boolean not null,
          phase text not null,
          outcome text,
          stop_reason text,
          score_before float8,
          owner text,
          heartbeat_at timestamptz,
          started_at timestamptz not null,
          injected_at timestamptz,
          rolled_back_at timestamptz,
          completed_at timestamptz
        )`.execute(db);
      await sql`create index experiments_open on chaos.experiments (started_at) where phase <> 'done'`.execute(db);
      await sql`
        create table chaos.journal (
          seq bigserial primary key,
          experiment_id text not null references chaos.experiments (id),
          phase text not null,
          target_id text not null,
          target_name text not null,
          action jsonb not null,
          detail jsonb,
          status text not null,
          error text,
          at timestamptz not null default now()
        )`.execute(db);
      await sql`create index journal_experiment on chaos.journal (experiment_id, seq)`.execute(db);
      await sql`
        create table chaos.validations (
          run_id text primary key,
          request_id text not null,
          suite text not null,
          status text not null,
          score float8 not null,
          completed_at timestamptz not null
        )`.execute(db);
      await sql`create index validations_suite on chaos.validations (suite, completed_at desc)`.execute(db);
      await sql`create index validations_request on chaos.validations (request_id)`.execute(db);
      await sql`
        create table chaos.schedule_runs (
          schedule text not null,
          minute timestamptz not null,
          event_id text not null,
          primary key (schedule, minute)
        )`.execute(db);
    },
  },
  '0002_validations_arrival': {
    async up(db: Kysely<unknown>) {
      await sql`alter table chaos.validations add column stored_at timestamptz, add column stream_seq bigint`.execute(
        db,
      );
      await sql`create index validations_suite_seq on chaos.validations (suite, stream_seq desc nulls last)`.execute(
        db,
      );
      await sql`create index validations_seq on chaos.validations (stream_seq desc nulls last)`.execute(db);
    },
  },
};

export function migrateChaos<DB>(db: Kysely<DB>): Promise<string[]> {
  return migrateSchema(db, 'chaos', migrations);
}

type Db = Kysely<ChaosDatabase> | Transaction<ChaosDatabase>;

/**
 * The latest complete validation run of `suite` (of any suite when null): the last to arrive in
 * the stream. Its time is the earlier of what it says and when it arrived, so a sender's clock
 * can make it look older but never fresher.
 */
export async function latestValidation(
  db: Db,
  suite: string | null,
): Promise<{ score: number; completedAt: Date } | undefined> {
  let q = db.selectFrom('chaos.validations').select(['score', 'completed_at', 'stored_at']);
  if (suite !== null) q = q.where('suite', '=', suite);
  const row = await q
    .orderBy(sql`stream_seq desc nulls last`)
    .orderBy('completed_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (row === undefined) return undefined;
  const at = row.stored_at !== null && row.stored_at < row.completed_at ? row.stored_at : row.completed_at;
  return { score: row.score, completedAt: at };
}

/** Ids of containers an unfinished, real (not dry-run) experiment acts on. */
export async function busyTargets(db: Db): Promise<Set<string>> {
  const rows = await db
    .selectFrom('chaos.experiments')
    .select('targets')
    .where('phase', '<>', 'done')
    .where('dry_run', '=', false)
    .execute();
  return new Set(rows.flatMap((r) => r.targets.map((t) => t.id)));
}

export async function journal(
  db: Db,
  step: Omit<JournalTable, 'seq' | 'at' | 'action' | 'detail' | 'error'> & {
    action: Action;
    detail?: Record<string, unknown> | undefined;
  },
): Promise<number> {
  const row = await db
    .insertInto('chaos.journal')
    .values({
      experiment_id: step.experiment_id,
      phase: step.phase,
      target_id: step.target_id,
      target_name: step.target_name,
      action: JSON.stringify(step.action),
      detail: step.detail === undefined ? null : JSON.stringify(step.detail),
      status: step.status,
      error: null,
    })
    .returning('seq')
    .executeTakeFirstOrThrow();
  return Number(row.seq);
}

/** Marks a journal step done (or failed with `error`) at `at`. */
export async function settleStep(db: Db, seq: number, at: Date, error?: string): Promise<void> {
  await db
    .updateTable('chaos.journal')
    .set({ status: error === undefined ? 'done' : 'failed', error: error ?? null, at })
    .where('seq', '=', seq)
    .execute();
}

export async function journalOf(db: Db, experimentId: string) {
  return db.selectFrom('chaos.journal').selectAll().where('experiment_id', '=', experimentId).orderBy('seq').execute();
}

/** Recent experiments for `GET /experiments`, newest first, and one with its journal. */
export async function listExperiments(db: Db, limit = 50) {
  const rows = await db
    .selectFrom('chaos.experiments')
    .select([
      'id',
      'request_id',
      'kind',
      'targets',
      'dry_run',
      'phase',
      'outcome',
      'stop_reason',
      'started_at',
      'completed_at',
    ])
    .orderBy('started_at', 'desc')
    .limit(limit)
    .execute();
  return rows;
}

export async function experimentWithJournal(db: Db, id: string) {
  const e = await db.selectFrom('chaos.experiments').selectAll().where('id', '=', id).executeTakeFirst();
  if (e === undefined) return undefined;
  return { ...e, journal: await journalOf(db, id) };
}
