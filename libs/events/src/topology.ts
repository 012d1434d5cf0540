import type { NatsConnection } from '@nats-io/nats-core';
import { nanos } from '@nats-io/nats-core';
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  jetstreamManager,
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
    if (/already in use|already exists/i.test((e as Error).message)) return ensureStream(jsm, cfg);
    throw e;
  }
}

/** Stream (10059) or consumer (10014) not found. */
export function isNotFound(e: unknown): boolean {
  if (e instanceof JetStreamApiError) {
    const code = e.apiError().err_code;
    return code === 10059 || code === 10014;
  }
  return false;
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

const consumerFields = [
  'ack_policy',
  'deliver_policy',
  'max_deliver',
  'ack_wait',
  'filter_subject',
  'filter_subjects',
  'max_ack_pending',
];

/** Creates a durable pull consumer on EVENTS when missing; reports a conflicting one. */
export async function ensureConsumer(
  nc: NatsConnection,
  spec: ConsumerSpec,
  ns: Namespace = defaultNamespace,
): Promise<'created' | 'exists'> {
  const jsm = await jetstreamManager(nc);
  const cfg = consumerConfig(nc, ns, spec);
  try {
    const info = await jsm.consumers.info(ns.stream, spec.durable);
    const have = { ...info.config } as unknown as Record<string, unknown>;
    if (
      cfg.filter_subject !== undefined &&
      have['filter_subject'] === undefined &&
      Array.isArray(have['filter_subjects']) &&
      have['filter_subjects'].length === 1
    ) {
      have['filter_subject'] = have['filter_subjects'][0];
    }
    const diff = differences(cfg, have, consumerFields);
    if (diff.length > 0) throw new TopologyConflictError('consumer', `${ns.stream}/${spec.durable}`, diff);
    return 'exists';
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
  await jsm.consumers.add(ns.stream, cfg);
  return 'created';
}
