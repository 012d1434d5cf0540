import type { NatsConnection } from '@nats-io/nats-core';
import { nanos, PermissionViolationError } from '@nats-io/nats-core';
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  jetstreamManager,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import { MAX_EVENT_BYTES, TopologyConflictError } from './errors.js';
import { allEventsSubject, subjectOf, type EventType, type Namespace, defaultNamespace } from './registry.js';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

export interface StreamOptions {
  /** Namespace of the streams. @default defaultNamespace (`EVENTS`, `events.>`, `DEADLETTER`, `deadletter.>`) */
  readonly ns?: Namespace;
  /** Replicas of both streams (3 in a cluster). @default 1 */
  readonly replicas?: number;
  /** How long EVENTS keeps a message; users replay within it. @default 7 days */
  readonly maxAgeMs?: number;
  /**
   * JetStream's `Nats-Msg-Id` duplicate window of EVENTS. It must cover the relay's longest retry
   * horizon (the relay checks this at start). @default 15 minutes
   */
  readonly duplicateWindowMs?: number;
  /** How long DEADLETTER keeps a message. @default 30 days */
  readonly deadLetterMaxAgeMs?: number;
  /**
   * Bytes EVENTS may hold; past it the oldest messages are dropped (`discard: old`), so new
   * events are never refused and history shrinks instead. nats-server reserves it from its
   * JetStream storage at creation (a stream that does not fit is refused). @default 1 GiB
   */
  readonly maxBytes?: number;
  /** Bytes DEADLETTER may hold, oldest dropped first; reserved likewise. @default 256 MiB */
  readonly deadLetterMaxBytes?: number;
}

/**
 * The largest message EVENTS stores: an event at the 256 KiB limit ({@link MAX_EVENT_BYTES},
 * counted on the body) and its headers. NATS counts headers too.
 */
export const MAX_STREAM_MESSAGE_BYTES = MAX_EVENT_BYTES + 16 * 1024;
/** DEADLETTER's: a message of EVENTS and the headers saying why it is there. */
export const MAX_DEAD_LETTER_MESSAGE_BYTES = MAX_STREAM_MESSAGE_BYTES + 8 * 1024;
export const DEFAULT_EVENTS_MAX_BYTES = 1024 ** 3;
export const DEFAULT_DEAD_LETTER_MAX_BYTES = 256 * 1024 ** 2;

export function eventsStreamConfig(o: StreamOptions = {}): Partial<StreamConfig> & { name: string } {
  const ns = o.ns ?? defaultNamespace;
  return {
    name: ns.stream,
    subjects: [allEventsSubject(ns)],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_age: nanos(o.maxAgeMs ?? 7 * DAY),
    max_bytes: o.maxBytes ?? DEFAULT_EVENTS_MAX_BYTES,
    max_msg_size: MAX_STREAM_MESSAGE_BYTES,
    duplicate_window: nanos(o.duplicateWindowMs ?? 15 * MINUTE),
    num_replicas: o.replicas ?? 1,
  };
}

export function deadLetterStreamConfig(o: StreamOptions = {}): Partial<StreamConfig> & { name: string } {
  const ns = o.ns ?? defaultNamespace;
  return {
    name: ns.deadLetterStream,
    subjects: [`${ns.deadLetterPrefix}.>`],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_age: nanos(o.deadLetterMaxAgeMs ?? 30 * DAY),
    max_bytes: o.deadLetterMaxBytes ?? DEFAULT_DEAD_LETTER_MAX_BYTES,
    max_msg_size: MAX_DEAD_LETTER_MESSAGE_BYTES,
    duplicate_window: nanos(2 * MINUTE),
    num_replicas: o.replicas ?? 1,
  };
}

function differences(
  want: Record<string, unknown>,
  have: Record<string, unknown>,
  fields: readonly string[],
): { field: string; expected: unknown; actual: unknown }[] {
  const out: { field: string; expected: unknown; actual: unknown }[] = [];
  for (const f of fields) {
    const w = want[f];
    if (w === undefined) continue;
    const h = have[f];
    const same =
      Array.isArray(w) && Array.isArray(h)
        ? (w as unknown[]).map(String).sort().join('\n') === (h as unknown[]).map(String).sort().join('\n')
        : w === h;
    if (!same) out.push({ field: f, expected: w, actual: h });
  }
  return out;
}

const streamFields = ['subjects', 'storage', 'retention', 'discard', 'max_age', 'duplicate_window', 'num_replicas'];
/** Limits a stream made before them gets in place: they change no message already stored. */
const limitFields = ['max_bytes', 'max_msg_size'];

async function ensureStream(
  jsm: JetStreamManager,
  cfg: Partial<StreamConfig> & { name: string },
): Promise<'created' | 'exists'> {
  try {
    const info = await jsm.streams.info(cfg.name);
    const diff = differences(cfg, info.config, streamFields);
    if (diff.length > 0) throw new TopologyConflictError('stream', cfg.name, diff);
    if (differences(cfg, info.config, limitFields).length > 0) {
      await jsm.streams.update(cfg.name, {
        ...(cfg.max_bytes === undefined ? {} : { max_bytes: cfg.max_bytes }),
        ...(cfg.max_msg_size === undefined ? {} : { max_msg_size: cfg.max_msg_size }),
      });
    }
    return 'exists';
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
  try {
    await jsm.streams.add(cfg);
    return 'created';
  } catch (e) {
    // Another service created it between our info and add: compare with what it made.
    if (jetStreamCodeOf(e) === jetStreamCodes.StreamNameInUse) return ensureStream(jsm, cfg);
    throw e;
  }
}

/**
 * JetStream API error codes vigil acts on, by name: the ones nats.js names, and those it does
 * not (the server's own names, from its errors.json).
 */
export const jetStreamCodes = {
  ...JetStreamApiCodes,
  /** JSStreamMessageExceedsMaximumErr: a message over the stream's max_msg_size. */
  StreamMessageExceedsMaximum: 10054,
  /** JSStreamNameExistErr: a stream of that name exists with another configuration. */
  StreamNameInUse: 10058,
} as const;

/** The JetStream API error code of `e`, when it is a JetStream API error. */
export function jetStreamCodeOf(e: unknown): number | undefined {
  return e instanceof JetStreamApiError ? e.apiError().err_code : undefined;
}

/**
 * The server refused a request for the user's permissions. nats.js reports it as a RequestError
 * (or another error) caused by a PermissionViolationError, so the chain of causes is searched.
 */
export function isPermissionDenied(e: unknown): boolean {
  for (let c: unknown = e, depth = 0; c instanceof Error && depth < 5; c = c.cause, depth++) {
    if (c instanceof PermissionViolationError) return true;
  }
  return false;
}

/** Stream or consumer not found. */
export function isNotFound(e: unknown): boolean {
  const code = jetStreamCodeOf(e);
  return code === jetStreamCodes.StreamNotFound || code === jetStreamCodes.ConsumerNotFound;
}

/**
 * Creates EVENTS and DEADLETTER when missing; checks them when present. A stream that exists with
 * a different configuration is reported as a {@link TopologyConflictError}, never changed.
 */
export async function ensureStreams(
  nc: NatsConnection,
  o: StreamOptions = {},
): Promise<{ events: 'created' | 'exists'; deadLetter: 'created' | 'exists' }> {
  const jsm = await jetstreamManager(nc);
  const events = await ensureStream(jsm, eventsStreamConfig(o));
  const deadLetter = await ensureStream(jsm, deadLetterStreamConfig(o));
  return { events, deadLetter };
}

/**
 * A durable consumer, declared once and shared by `ensureConsumer` (topology) and `consume` (data
 * plane). Durable names are constants: renaming one makes a new consumer that replays history.
 */
export interface ConsumerSpec {
  readonly durable: string;
  /** Event types this consumer handles. @default every type in the namespace */
  readonly types?: readonly EventType[];
  /** Deliveries before a failing message is dead-lettered. @default 5 */
  readonly maxDeliver?: number;
  /** How long the server waits for an ack before redelivering. @default 30 000 ms */
  readonly ackWaitMs?: number;
  /** Messages handed out and not yet acked, across all instances. @default 1000 */
  readonly maxAckPending?: number;
}

export const DEFAULT_MAX_DELIVER = 5;

/** True when the server supports multi-subject filters (`filter_subjects`, nats-server 2.10). */
export function supportsMultiFilter(nc: NatsConnection): boolean {
  const v = nc.info?.version ?? '0.0.0';
  const [maj = 0, min = 0] = v.split('.').map((x) => parseInt(x, 10));
  return maj > 2 || (maj === 2 && min >= 10);
}

/**
 * The server-side filter for a set of types. On servers older than 2.10 several types cannot be
 * filtered server-side; the consumer then reads the whole namespace and skips other types itself.
 */
export function filterFor(
  nc: NatsConnection,
  ns: Namespace,
  types: readonly EventType[] | undefined,
): { filter_subject?: string; filter_subjects?: string[] } {
  if (types === undefined || types.length === 0) return { filter_subject: allEventsSubject(ns) };
  if (types.length === 1) return { filter_subject: subjectOf(ns, types[0] as EventType) };
  if (supportsMultiFilter(nc)) return { filter_subjects: types.map((t) => subjectOf(ns, t)) };
  return { filter_subject: allEventsSubject(ns) };
}

export function consumerConfig(nc: NatsConnection, ns: Namespace, spec: ConsumerSpec): Partial<ConsumerConfig> {
  return {
    durable_name: spec.durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    // One delivery more than the handler gets: a message whose process died on its last attempt
    // is then dead-lettered by the next instance instead of silently dropped by the server.
    max_deliver: (spec.maxDeliver ?? DEFAULT_MAX_DELIVER) + 1,
    ack_wait: nanos(spec.ackWaitMs ?? 30_000),
    max_ack_pending: spec.maxAckPending ?? 1000,
    ...filterFor(nc, ns, spec.types),
  };
}

/** What JetStream changes on an existing consumer (nats-server 2.9+): updated in place. */
const updatableConsumerFields = ['max_deliver', 'ack_wait', 'max_ack_pending'];

/** The subjects a consumer config filters on; several on 2.10+, one before. */
function filtersOf(c: Record<string, unknown>): string[] {
  const many = c['filter_subjects'];
  if (Array.isArray(many) && many.length > 0) return many.map(String).sort();
  const one = c['filter_subject'];
  return typeof one === 'string' && one !== '' ? [one] : [];
}

/**
 * What ensureConsumer did: made the consumer, found it as the spec says, changed it in place
 * (filters, ack wait, deliveries, pending acks), or made it again from its first unacknowledged
 * message (a policy JetStream cannot change, set by hand or by another version).
 */
export type ConsumerOutcome = 'created' | 'exists' | 'updated' | 'recreated';

/**
 * Makes the durable pull consumer on EVENTS match `spec`. A deployed service whose spec changed
 * (new types, another ack wait) starts with its consumer updated in place, keeping its position.
 * A consumer whose ack or deliver policy differs cannot be changed: it is deleted and made again,
 * starting at its ack floor + 1, so nothing acknowledged is delivered again and nothing
 * unacknowledged is lost (messages delivered and not yet acked come again, which idempotent
 * handlers absorb).
 */
export async function ensureConsumer(
  nc: NatsConnection,
  spec: ConsumerSpec,
  ns: Namespace = defaultNamespace,
): Promise<ConsumerOutcome> {
  const jsm = await jetstreamManager(nc);
  const cfg = consumerConfig(nc, ns, spec);
  let info;
  try {
    info = await jsm.consumers.info(ns.stream, spec.durable);
  } catch (e) {
    if (!isNotFound(e)) throw e;
    await jsm.consumers.add(ns.stream, cfg);
    return 'created';
  }
  const have = info.config as unknown as Record<string, unknown>;
  // A consumer made again by this function starts at a sequence: that is its "all".
  const startsWell =
    have['deliver_policy'] === DeliverPolicy.All || have['deliver_policy'] === DeliverPolicy.StartSequence;
  if (have['ack_policy'] !== cfg.ack_policy || !startsWell) {
    await jsm.consumers.delete(ns.stream, spec.durable);
    await jsm.consumers.add(ns.stream, {
      ...cfg,
      deliver_policy: DeliverPolicy.StartSequence,
      // Its first unacknowledged message: past the ack floor, and not before where it started.
      opt_start_seq: Math.max(info.ack_floor.stream_seq + 1, Number(have['opt_start_seq'] ?? 0)),
    });
    return 'recreated';
  }
  const change: Partial<ConsumerConfig> = {};
  for (const d of differences(cfg, have, updatableConsumerFields)) {
    (change as Record<string, unknown>)[d.field] = d.expected;
  }
  const want = filtersOf(cfg);
  const held = filtersOf(have);
  if (want.join('\n') !== held.join('\n')) {
    if (cfg.filter_subjects !== undefined) {
      change.filter_subjects = cfg.filter_subjects;
      if (typeof have['filter_subject'] === 'string' && have['filter_subject'] !== '') change.filter_subject = '';
    } else {
      change.filter_subject = cfg.filter_subject ?? '';
      if (Array.isArray(have['filter_subjects']) && have['filter_subjects'].length > 0) change.filter_subjects = [];
    }
  }
  if (Object.keys(change).length === 0) return 'exists';
  await jsm.consumers.update(ns.stream, spec.durable, change);
  return 'updated';
}
