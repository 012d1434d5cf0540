/**
 * vigil's errors. Each has a stable `code` from {@link errorCodes} and its class's name as `name`
 * (so logs say `PlanError`, not `Error`). For @vigil/events' own errors the consume wrapper decides
 * from the class whether a message is acked, retried (nak) or dead-lettered. Guards use a brand
 * property rather than `instanceof` so that they survive two copies of this package in one process.
 */

const brand = Symbol.for('vigil.events.error');
const vigilBrand = Symbol.for('vigil.error');

/**
 * Every code a vigil error carries, and what it means. Logs, HTTP answers and dead letters show
 * the code; this table is where a reader looks it up.
 */
export const errorCodes = {
  // Events: decoding, publishing, topology, handlers (@vigil/events)
  NOT_A_CLOUDEVENT: 'the message is not a CloudEvent (wrong content type, unreadable body)',
  INVALID_ENVELOPE: 'a CloudEvents context attribute is missing or invalid',
  UNKNOWN_EVENT_TYPE: "the event's type is not in the registry",
  TYPE_SUBJECT_MISMATCH: "the event arrived on another type's subject",
  EVENT_TIME_OUT_OF_RANGE: 'a time in the event lies too far in the future or the past',
  INVALID_EVENT_DATA: "the event's data does not match its type's schema",
  EVENT_TOO_LARGE: 'the event body is over the size limit',
  TOPOLOGY_CONFLICT: 'a stream or consumer exists with a configuration vigil does not change',
  PUBLISH_FAILED: 'JetStream did not acknowledge a publish',
  PERMANENT: 'a handler failed in a way no retry fixes: dead-lettered',
  TRANSIENT: 'a handler asked for a retry',
  // Configuration and start (@vigil/service-kit, @vigil/outbox)
  CONFIG_INVALID: 'the environment has bad or missing variables',
  CONFIG_FILE_INVALID: 'a configuration file cannot be used',
  MIGRATION_FAILED: "a schema's migrations failed",
  BAD_REQUEST: 'an HTTP request cannot be served as sent (400)',
  // Docker Engine API (@vigil/docker)
  DOCKER_UNAVAILABLE: 'the Docker engine could not be reached, or did not answer in time',
  // Validator
  CHECK_ERROR: 'a check could not run (reported as ERROR)',
  NOTHING_TO_SCORE: 'no check of the run applied where it ran',
  UNKNOWN_SUITE: 'validation.requested names no configured suite',
  UNKNOWN_COMPONENT: 'validation.requested names a component its suite does not have',
  RATE_LIMITED: 'validation.requested came over the per-suite rate limit',
  // Chaos
  CHAOS_ACTION_FAILED: 'the engine refused or failed a fault or rollback step',
  CHAOS_TRANSITION: 'an experiment was given an input its phase has no transition for (a bug)',
  PLAN_INVALID: "a chaos request's parameters do not fit its kind",
  CRON_INVALID: 'a cron expression of a chaos schedule cannot be parsed',
  // SLO engine
  HISTORY_REQUEST_INVALID: 'an SLO history request cannot be served as asked (400)',
  SCRAPE_FAILED: 'a scraped SLI gave no reading; nothing was counted',
  SELECTOR_INVALID: 'a PromQL selector of a scraped SLI cannot be parsed',
  // Anomaly
  MODEL_FORMAT: 'a saved isolation forest cannot be loaded',
  CSV_INVALID: 'a backtest CSV file cannot be read',
  // Outbox relay
  PUBLISH_REJECTED: 'JetStream refused a message with an API error',
  CONSUME_TIMEOUT: 'a consumer did not process up to a sequence, or become idle, in time',
  PUBLISH_UNANSWERED: 'no stream answered a publish, or no acknowledgement came in time',
  PUBLISH_ACK_INVALID: 'JetStream answered a publish with something that is not a PubAck; retried',
  PUBLISH_BATCH_TRANSIENT: 'rows of a batch were not acknowledged this round; retried',
} as const;

export type ErrorCode = keyof typeof errorCodes;

/** The base of every vigil error: a `code` from {@link errorCodes}, and `name` set to the class's. */
export abstract class VigilError extends Error {
  readonly [vigilBrand] = true;
  abstract readonly code: ErrorCode;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export function isVigilError(e: unknown): e is VigilError {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[vigilBrand] === true;
}

/** A consumer did not reach the state `whenProcessed` or `whenIdle` waited for in time. */
export class ConsumeTimeoutError extends VigilError {
  readonly code = 'CONSUME_TIMEOUT';
}

/** How the consume wrapper treats a failure. */
export type Disposition = 'retry' | 'dead-letter';

export abstract class VigilEventsError extends VigilError {
  readonly [brand] = true;
  abstract readonly disposition: Disposition;
}

export function isVigilEventsError(e: unknown): e is VigilEventsError {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[brand] === true;
}

/** The message is not a CloudEvent at all (wrong content type, unreadable body). */
export class NotACloudEventError extends VigilEventsError {
  readonly code = 'NOT_A_CLOUDEVENT';
  readonly disposition = 'dead-letter';
}

/** A CloudEvents context attribute is missing or invalid; `attribute` names it. */
export class InvalidEnvelopeError extends VigilEventsError {
  readonly code = 'INVALID_ENVELOPE';
  readonly disposition = 'dead-letter';
  constructor(
    readonly attribute: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`invalid CloudEvent attribute '${attribute}': ${reason}`, options);
  }
}

/** The event's `type` is not in the registry. */
export class UnknownEventTypeError extends VigilEventsError {
  readonly code = 'UNKNOWN_EVENT_TYPE';
  readonly disposition = 'dead-letter';
  constructor(readonly type: string) {
    super(`unknown event type '${type}': not in the vigil event registry`);
  }
}

/**
 * The event arrived on a subject that is not its type's: a body of one type published on another
 * type's subject (where a publisher may publish) would otherwise be applied as if it were allowed.
 */
export class TypeSubjectMismatchError extends VigilEventsError {
  readonly code = 'TYPE_SUBJECT_MISMATCH';
  readonly disposition = 'dead-letter';
  constructor(
    readonly type: string,
    readonly subject: string,
    expected: string,
  ) {
    super(`event type '${type}' arrived on subject '${subject}'; its subject is '${expected}'`);
  }
}

/**
 * A time in the event (its `time`, or a time in its data such as `completedAt`) lies further in
 * the future than clock skew explains, or further in the past than anything vigil keeps, measured
 * from when the stream stored it: a forged "latest" would otherwise stay latest for ever.
 */
export class EventTimeOutOfRangeError extends VigilEventsError {
  readonly code = 'EVENT_TIME_OUT_OF_RANGE';
  readonly disposition = 'dead-letter';
  constructor(
    readonly field: string,
    readonly value: string,
    why: string,
  ) {
    super(`${field} ${JSON.stringify(value)} ${why}`);
  }
}

/** One problem found in an event's `data`; `path` is like `components[0].score` (empty for the root). */
export interface DataIssue {
  readonly path: string;
  readonly message: string;
}

/** The event's `data` does not match the registry schema for its type. */
export class InvalidEventDataError extends VigilEventsError {
  readonly code = 'INVALID_EVENT_DATA';
  readonly disposition = 'dead-letter';
  constructor(
    readonly type: string,
    readonly issues: readonly DataIssue[],
  ) {
    const first = issues
      .slice(0, 5)
      .map((i) => `${i.path === '' ? '(data)' : `data.${i.path}`}: ${i.message}`)
      .join('; ');
    const more = issues.length > 5 ? ` (and ${issues.length - 5} more)` : '';
    super(`invalid data for '${type}': ${first}${more}`);
  }
}

/** A stream or consumer exists with a configuration that differs from the one vigil needs. */
export class TopologyConflictError extends VigilEventsError {
  readonly code = 'TOPOLOGY_CONFLICT';
  readonly disposition = 'retry';
  constructor(
    readonly kind: 'stream' | 'consumer',
    readonly resource: string,
    readonly differences: readonly { field: string; expected: unknown; actual: unknown }[],
  ) {
    const diff = differences
      .map((d) => `${d.field}: expected ${JSON.stringify(d.expected)}, found ${JSON.stringify(d.actual)}`)
      .join('; ');
    super(
      `${kind} '${resource}' exists with a conflicting configuration (${diff}); vigil does not change it: ` +
        `fix or delete it by hand`,
    );
  }
}

/**
 * Thrown by a handler for a failure that retrying cannot fix (a request that can never succeed).
 * The message is dead-lettered at once with this error's message as the reason.
 */
export class PermanentError extends VigilEventsError {
  readonly code: ErrorCode = 'PERMANENT';
  readonly disposition = 'dead-letter';
}

/** Thrown by a handler to ask for a retry explicitly; any unclassified error is treated the same. */
export class TransientError extends VigilEventsError {
  readonly code: ErrorCode = 'TRANSIENT';
  readonly disposition = 'retry';
}

/** A publish was not acknowledged by JetStream (no stream, timeout, rejected). */
export class PublishError extends VigilEventsError {
  readonly code = 'PUBLISH_FAILED';
  readonly disposition = 'retry';
}

/**
 * A message body over {@link MAX_EVENT_BYTES}: refused when encoding (producers learn at once) and
 * dead-lettered when consuming (a larger body could only come from a foreign publisher).
 */
export class EventTooLargeError extends VigilEventsError {
  readonly code = 'EVENT_TOO_LARGE';
  readonly disposition = 'dead-letter';
  constructor(
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(`event body is ${bytes} bytes, over the limit of ${limit} bytes`);
  }
}

/** The largest event body vigil publishes or accepts: 256 KiB (JetStream's own limit is 1 MiB). */
export const MAX_EVENT_BYTES = 256 * 1024;

/** Decode errors: the message can never become a valid event. */
export type DecodeError =
  | NotACloudEventError
  | InvalidEnvelopeError
  | UnknownEventTypeError
  | InvalidEventDataError
  | EventTooLargeError
  | EventTimeOutOfRangeError;

export function isDecodeError(e: unknown): e is DecodeError {
  return (
    isVigilEventsError(e) &&
    (e.code === 'NOT_A_CLOUDEVENT' ||
      e.code === 'INVALID_ENVELOPE' ||
      e.code === 'UNKNOWN_EVENT_TYPE' ||
      e.code === 'INVALID_EVENT_DATA' ||
      e.code === 'EVENT_TOO_LARGE' ||
      e.code === 'EVENT_TIME_OUT_OF_RANGE')
  );
}

/** Where a failure goes: decode and permanent errors are dead-lettered, everything else retried. */
export function dispositionOf(e: unknown): Disposition {
  return isVigilEventsError(e) ? e.disposition : 'retry';
}
