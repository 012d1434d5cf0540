export { migrateSchema, MigrationError } from './migrate.js';
export { migrateOutbox, OUTBOX_CHANNEL, OUTBOX_PUBLICATION } from './migrations.js';
export { createOutbox, type Outbox, type OutboxOptions } from './outbox.js';
export {
  consumeIdempotent,
  perTransaction,
  pruneInbox,
  type IdempotentHandler,
  type ConsumeIdempotentOptions,
  type GroupCommitOptions,
} from './inbox.js';
export type {
  OutboxDatabase,
  OutboxEventsTable,
  InboxTable,
  RelayCursorTable,
  RelaySlotTable,
  FailuresTable,
  PublishedTable,
  DeliveryView,
} from './schema.js';
export { isDatabaseUnavailable } from './unavailable.js';
