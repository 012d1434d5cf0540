import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { sql, type Kysely } from 'kysely';
import {
  createEvent,
  encodeStructured,
  replay,
  silentLogger,
  subjectOf,
  type EventType,
  type Namespace,
  type VigilEvent,
} from '@vigil/events';
import { eventsFixture, samples, type EventsFixture } from '@vigil/events/testing';
import { createOutbox, migrateOutbox, type Outbox, type OutboxDatabase } from '@vigil/outbox';
import { createDb } from '@vigil/service-kit';
import { afterAll } from 'vitest';
import { createTestDatabase, PrivatePostgres } from '@vigil/testkit';
import { createRelayMetrics, type RelayMetrics } from '../metrics.js';
import { createRelay, relayConnectionSettings, type Relay, type RelayOptions } from '../relay.js';

export interface RelayFixture {
  readonly db: Kysely<OutboxDatabase>;
  readonly databaseUrl: string;
  readonly events: EventsFixture;
  readonly ns: Namespace;
  readonly outbox: Outbox;
  /** A relay in this process (stopped on dispose), on the fixture's connection or `nc`. */
  startRelay(options?: RelayOptions, nc?: NatsConnection): Promise<{ relay: Relay; metrics: RelayMetrics }>;
  /** Commits `n` events, `perTx` to a transaction; returns their ids in commit order. */
  commit(n: number, perTx?: number, type?: EventType): Promise<string[]>;
  /** Commits `n` events fast (multi-row inserts of `perTx`); returns their ids in commit order. */
  commitBulk(n: number, perTx?: number): Promise<string[]>;
  /** Event ids in the stream, in stream order. */
  streamIds(): Promise<string[]>;
  /** Rows not yet published, whichever mode recorded the others (`outbox.delivery`). */
  pendingCount(): Promise<number>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * A database with the outbox schema and a namespace with its streams, both removed on dispose.
 * Long because the fixture's methods are closures over its connections.
 */
export async function relayFixture(
  natsUrl: string,
  databaseUrl: string,
  label: string,
  stream: {
    duplicateWindowMs?: number;
    /** The relays' mode unless `startRelay` names one. @default auto */ mode?: RelayOptions['mode'];
  } = {},
): Promise<RelayFixture> {
  const database = await createTestDatabase(databaseUrl, 'relay');
  const { db } = createDb<OutboxDatabase>(database.url, { max: 8, settings: relayConnectionSettings });
  await migrateOutbox(db);
  const events = await eventsFixture(natsUrl, {
    label,
    ...(stream.duplicateWindowMs === undefined ? {} : { duplicateWindowMs: stream.duplicateWindowMs }),
  });
  const outbox = createOutbox({ ns: events.ns });
  const relays: Relay[] = [];
  let disposed = false;
  return {
    db,
    databaseUrl: database.url,
    events,
    ns: events.ns,
    outbox,
    async startRelay(options = {}, nc = events.nc) {
      const metrics = createRelayMetrics(db);
      const relay = createRelay(
        {
          db,
          databaseUrl: database.url,
          nc,
          jsm: await jetstreamManager(nc),
          ns: events.ns,
          logger: silentLogger,
          metrics,
        },
        {
          ...(stream.mode === undefined ? {} : { mode: stream.mode }),
          pollIntervalMs: 100,
          standbyRetryMs: 100,
          breakerProbeMs: 200,
          retry: { initialDelayMs: 20, maxDelayMs: 100, publishTimeoutMs: 2000 },
          ...options,
        },
      );
      await relay.start();
      relays.push(relay);
      return { relay, metrics };
    },
    async commit(n, perTx = 100, type = 'sli.observed') {
      const ids: string[] = [];
      for (let i = 0; i < n; i += perTx) {
        await db.transaction().execute(async (tx) => {
          for (let j = i; j < Math.min(n, i + perTx); j++) {
            const e = createEvent(type, samples[type] as never, { source: 'vigil/test' }) as VigilEvent;
            await outbox.add(tx, e);
            ids.push(e.id);
          }
        });
      }
      return ids;
    },
    async commitBulk(n, perTx = 1000) {
      const ids: string[] = [];
      const subject = subjectOf(events.ns, 'sli.observed');
      for (let i = 0; i < n; i += perTx) {
        const rows = [];
        for (let j = i; j < Math.min(n, i + perTx); j++) {
          const e = createEvent(
            'sli.observed',
            { sli: 'bulk', service: 'test', good: j, total: j + 1 },
            { source: 'vigil/test' },
          ) as VigilEvent;
          const { data, headers } = encodeStructured(e);
          rows.push({
            event_id: e.id,
            subject,
            headers: JSON.stringify({ 'content-type': headers.get('content-type') }),
            payload: Buffer.from(data),
          });
          ids.push(e.id);
        }
        await db.insertInto('outbox.events').values(rows).execute();
      }
      return ids;
    },
    async streamIds() {
      const out: string[] = [];
      for await (const r of replay(events.nc, { ns: events.ns, start: { from: 'beginning' } })) out.push(r.event.id);
      return out;
    },
    async pendingCount() {
      const r = await sql<{ n: string }>`select count(*) as n from outbox.delivery where state = 'pending'`.execute(db);
      return Number(r.rows[0]?.n ?? 0);
    },
    async [Symbol.asyncDispose]() {
      if (disposed) return;
      disposed = true;
      for (const r of relays) await r.stop();
      await events[Symbol.asyncDispose]();
      await db.destroy();
      await database.drop();
    },
  };
}

/**
 * The PostgreSQL server for a test file's relays in `mode`. The xmin mode waits for every
 * transaction that holds an id anywhere on its server, so on the server all test files share,
 * another file's transaction holds its rows back for as long as it stays open (past a test's
 * deadline on a busy run). Its tests get a server of their own: started on first use, stopped
 * after the file. Logical mode is not held back by other transactions and keeps the shared one.
 */
export function serverPerMode(sharedUrl: string): (mode: 'logical' | 'xmin') => Promise<string> {
  let own: Promise<PrivatePostgres> | undefined;
  afterAll(async () => {
    await (await own)?.stop();
  });
  return async (mode) => {
    if (mode === 'logical') return sharedUrl;
    own ??= PrivatePostgres.start();
    return (await own).url;
  };
}
