import type { ColumnType, Generated } from 'kysely';

/** `outbox.events`: events committed by a service, waiting for the relay. */
export interface OutboxEventsTable {
  /** bigserial; the order of rows within one transaction. */
  seq: Generated<string>;
  /** The CloudEvent id, also the `Nats-Msg-Id`. */
  event_id: string;
  /** `pg_current_xact_id()` of the writing transaction (xid8, as text). */
  txid: Generated<string>;
  subject: string;
  /** NATS headers to publish with (content type and the trace context captured at insert). */
  headers: ColumnType<Record<string, string>, string, string>;
  /** The exact bytes to publish (structured CloudEvent JSON). */
  payload: Buffer;
  created_at: Generated<Date>;
  /** Set with `state` (xmin mode); see `outbox.delivery`. */
  published_at: Date | null;
  attempts: Generated<number>;
  /** When a publish of this row was first tried; with `last_attempt_at` it bounds when a copy may have landed. */
  first_attempt_at: Date | null;
  last_attempt_at: Date | null;
  last_error: string | null;
  /**
   * Set per row by xmin mode and for failures; logical mode records publication in
   * `outbox.published` instead and leaves `pending` here. `outbox.delivery` reads both.
   */
  state: Generated<'pending' | 'published' | 'failed'>;
}

/** `outbox.inbox`: ids of events a consumer has processed, written with the consumer's effects. */
export interface InboxTable {
  consumer: string;
  event_id: string;
  processed_at: Generated<Date>;
}

/** `outbox.relay_cursor`: one row, the relay's low-water mark. */
export interface RelayCursorTable {
  id: Generated<number>;
  txid: string;
  seq: string;
  updated_at: Generated<Date>;
}

/** `outbox.relay_slot`: the relay's replication slot, recorded once its catch-up finished. */
export interface RelaySlotTable {
  name: string;
  consistent_point: string;
  caught_up_at: Date;
}

/** `outbox.failures`: rows JetStream rejected for good. */
export interface FailuresTable {
  seq: string;
  event_id: string;
  subject: string;
  error: string;
  failed_at: Generated<Date>;
}

/** `outbox.published`: what logical mode published, as ranges of `seq` (both ends included). */
export interface PublishedTable {
  id: Generated<string>;
  lo: string;
  hi: string;
  published_at: Generated<Date>;
}

/** `outbox.delivery` (a view): each outbox row's state, whether its row or a range says it was published. */
export interface DeliveryView {
  seq: string;
  event_id: string;
  subject: string;
  created_at: Date;
  attempts: number;
  last_error: string | null;
  state: 'pending' | 'published' | 'failed';
  published_at: Date | null;
}

export interface OutboxDatabase {
  'outbox.events': OutboxEventsTable;
  'outbox.inbox': InboxTable;
  'outbox.relay_cursor': RelayCursorTable;
  'outbox.failures': FailuresTable;
  'outbox.relay_slot': RelaySlotTable;
  'outbox.published': PublishedTable;
  'outbox.delivery': DeliveryView;
}
