import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import { migrateSchema } from '@vigil/outbox';
import {
  componentKey,
  healthOfRank,
  keyOf,
  putComponent,
  putDay,
  putAnomaly,
  putExperiment,
  putIncident,
  putSuite,
  rankOf,
  type Anomaly,
  type Change,
  type ComponentState,
  type Experiment,
  type Incident,
  type ReadModel,
  type SuiteState,
} from './core/model.js';

/**
 * The archive of the read model. JetStream keeps 7 days of events; the status page shows 90 days,
 * so the days (and the latest result of what has not run for a week) live here as well. Every
 * write merges as the model does (worst and lowest over a day, newest by stream sequence), so
 * replays and redeliveries write the same rows again and change nothing.
 */
export interface DaysTable {
  suite: string;
  component: string;
  day: string;
  /** 0 PASS, 1 WARN, 2 FAIL: `greatest` merges. */
  worst: number;
  min_score: number;
  last_score: number;
  last_seq: string;
}
export interface EntriesTable {
  /** suite, component, incident, experiment or anomaly. */
  kind: string;
  key: string;
  seq: string;
  doc: unknown;
}
export interface StatusDatabase {
  'status.days': DaysTable;
  'status.entries': EntriesTable;
}

const migrations: Record<string, Migration> = {
  '0001_days_entries': {
    async up(db: Kysely<unknown>) {
      await sql`
        create table status.days (
          suite text not null,
          component text not null,
          day date not null,
          worst smallint not null check (worst between 0 and 2),
          min_score real not null,
          last_score real not null,
          last_seq bigint not null,
          primary key (suite, component, day)
        )`.execute(db);
      await sql`
        create table status.entries (
          kind text not null check (kind in ('suite', 'component', 'incident', 'experiment')),
          key text not null,
          seq bigint not null,
          doc jsonb not null,
          primary key (kind, key)
        )`.execute(db);
    },
  },
  '0002_anomalies': {
    async up(db: Kysely<unknown>) {
      await sql`alter table status.entries drop constraint entries_kind_check`.execute(db);
      await sql`alter table status.entries add constraint entries_kind_check
                check (kind in ('suite', 'component', 'incident', 'experiment', 'anomaly'))`.execute(db);
    },
  },
};

export function migrateStatus<DB>(db: Kysely<DB>): Promise<string[]> {
  return migrateSchema(db, 'status', migrations);
}

const keyWithinKind = (c: Change): string => {
  switch (c.kind) {
    case 'suite':
      return c.value.name;
    case 'component':
      return componentKey(c.value.suite, c.value.name);
    case 'incident':
      return c.value.key;
    case 'experiment':
      return c.value.experimentId;
    case 'anomaly':
      return String(c.value.seq);
    case 'day':
      return keyOf(c.suite, c.component, c.value.day);
  }
};

/** What a change is to: a later change with the same key replaces it. */
export const changeKey = (c: Change): string => keyOf(c.kind, keyWithinKind(c));

/** Writes changes, merged with what the archive holds; the last of several for one key wins. */
export async function saveChanges(db: Kysely<StatusDatabase>, changes: readonly Change[]): Promise<void> {
  if (changes.length === 0) return;
  const last = new Map<string, Change>();
  for (const c of changes) last.set(changeKey(c), c);
  const days = [...last.values()].flatMap((c) => (c.kind === 'day' ? [c] : []));
  const entries = [...last.values()].flatMap((c) => (c.kind === 'day' ? [] : [c]));
  for (let i = 0; i < days.length; i += 1000) {
    await db
      .insertInto('status.days')
      .values(
        days.slice(i, i + 1000).map((c) => ({
          suite: c.suite,
          component: c.component,
          day: c.value.day,
          worst: rankOf(c.value.worst),
          min_score: c.value.minScore,
          last_score: c.value.lastScore,
          last_seq: String(c.value.lastSeq),
        })),
      )
      .onConflict((oc) =>
        oc.columns(['suite', 'component', 'day']).doUpdateSet({
          worst: sql`greatest(status.days.worst, excluded.worst)`,
          min_score: sql`least(status.days.min_score, excluded.min_score)`,
          last_score: sql`case when excluded.last_seq > status.days.last_seq then excluded.last_score else status.days.last_score end`,
          last_seq: sql`greatest(status.days.last_seq, excluded.last_seq)`,
        }),
      )
      .execute();
  }
  for (let i = 0; i < entries.length; i += 1000) {
    await db
      .insertInto('status.entries')
      .values(
        entries.slice(i, i + 1000).map((c) => ({
          kind: c.kind,
          key: keyWithinKind(c),
          seq: String(c.value.seq),
          doc: JSON.stringify(c.value),
        })),
      )
      .onConflict((oc) =>
        oc
          .columns(['kind', 'key'])
          .doUpdateSet({ seq: sql`excluded.seq`, doc: sql`excluded.doc` })
          .where(sql<boolean>`excluded.seq > status.entries.seq`),
      )
      .execute();
  }
}

/** Loads the archive into `m` (days from `since` on); returns how many rows it read. */
export async function loadArchive(db: Kysely<StatusDatabase>, m: ReadModel, since: string): Promise<number> {
  const days = await db
    .selectFrom('status.days')
    .select([
      'suite',
      'component',
      sql<string>`to_char(day, 'YYYY-MM-DD')`.as('day'),
      'worst',
      'min_score',
      'last_score',
      'last_seq',
    ])
    .where('day', '>=', since)
    .execute();
  const entries = await db.selectFrom('status.entries').select(['kind', 'doc']).orderBy('seq').execute();
  // Components first: a day of a component the model cannot take is left out with it.
  for (const e of entries) {
    m.lastSeq = Math.max(m.lastSeq, Number((e.doc as { seq: number }).seq));
    switch (e.kind) {
      case 'suite':
        putSuite(m, e.doc as SuiteState);
        break;
      case 'component':
        putComponent(m, e.doc as ComponentState);
        break;
      case 'incident':
        putIncident(m, e.doc as Incident);
        break;
      case 'experiment':
        putExperiment(m, e.doc as Experiment);
        break;
      case 'anomaly':
        putAnomaly(m, e.doc as Anomaly);
        break;
    }
  }
  for (const d of days) {
    if (!m.components.has(componentKey(d.suite, d.component))) continue;
    putDay(m, d.suite, d.component, {
      day: d.day,
      worst: healthOfRank(d.worst),
      minScore: d.min_score,
      lastScore: d.last_score,
      lastSeq: Number(d.last_seq),
    });
  }
  return days.length + entries.length;
}

/** Drops days before `before` (YYYY-MM-DD), and incidents, experiments and anomalies that ended before it. */
export async function pruneArchive(db: Kysely<StatusDatabase>, before: string): Promise<void> {
  await db.deleteFrom('status.days').where('day', '<', before).execute();
  await sql`delete from status.entries
            where (kind = 'incident' and doc->>'state' = 'resolved' and doc->>'resolvedAt' < ${before})
               or (kind = 'experiment' and doc->>'state' <> 'running' and doc->>'endedAt' < ${before})
               or (kind = 'anomaly' and doc->>'timestamp' < ${before})`.execute(db);
}
