import { randomBytes } from 'node:crypto';
import { errors, nanos, type NatsConnection } from '@nats-io/nats-core';
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  type ConsumerConfig,
  type JsMsg,
} from '@nats-io/jetstream';
import { decodeStreamMessage } from './binding.js';
import type { VigilEvent } from './envelope.js';
import { silentLogger, type Logger } from './logger.js';
import { defaultNamespace, subjectOf, type EventType, type Namespace } from './registry.js';
import { filterFor } from './topology.js';

/** Where a replay starts. */
export type ReplayStart =
  | { readonly since: Date }
  | { readonly fromSeq: number }
  | { readonly last: number }
  | { readonly from: 'beginning' | 'new' };

export interface ReplayOptions<T extends EventType> {
  readonly start: ReplayStart;
  /** Only these types. @default all */
  readonly types?: readonly T[];
  /** Stop before the first event after this time or sequence (inclusive bound). */
  readonly until?: { readonly time: Date } | { readonly seq: number };
  /**
   * Keep waiting for new events instead of ending at the last message present when the replay
   * began. Implied by `{ from: 'new' }`. @default false
   */
  readonly follow?: boolean;
  /** @default defaultNamespace */
  readonly ns?: Namespace;
  /** @default silent */
  readonly logger?: Logger;
  /** Ends the replay, also while it waits for new events (follow mode). */
  readonly signal?: AbortSignal;
  /** Called for a stored message that is not a valid event; replay skips it. */
  readonly onInvalid?: (error: Error, at: { seq: number; subject: string }) => void;
}

export interface ReplayedEvent<T extends EventType = EventType> {
  readonly event: VigilEvent<T>;
  readonly seq: number;
  /** When JetStream stored the message. */
  readonly storedAt: Date;
  readonly subject: string;
}

function deliverFrom(start: ReplayStart): Partial<ConsumerConfig> {
  if ('since' in start) return { deliver_policy: DeliverPolicy.StartTime, opt_start_time: start.since.toISOString() };
  if ('fromSeq' in start)
    return { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: Math.max(1, start.fromSeq) };
  if ('from' in start && start.from === 'new') return { deliver_policy: DeliverPolicy.New };
  return { deliver_policy: DeliverPolicy.All };
}

export interface ReadOptions {
  readonly start: ReplayStart;
  /** Server-side subject filter. @default every event subject of the namespace */
  readonly filter?: { readonly filter_subject?: string; readonly filter_subjects?: string[] };
  readonly until?: ReplayOptions<EventType>['until'];
  readonly follow?: boolean;
  /** Deliver headers only (for lookups by `Nats-Msg-Id`). @default false */
  readonly headersOnly?: boolean;
  /** Ends the iteration, also while it waits for new messages. */
  readonly signal?: AbortSignal;
  /** @default defaultNamespace */
  readonly ns?: Namespace;
}

/** Tries at creating the replay consumer when the JetStream API times out. */
const createAttempts = 4;

/**
 * The raw messages of EVENTS in stream order, through an ephemeral, memory-backed consumer that
 * is deleted when iteration ends. Without `follow` it ends at the last message present when it
 * began (the consumer's pending count at creation says how many that is).
 */
export async function* readMessages(nc: NatsConnection, o: ReadOptions): AsyncGenerator<JsMsg, void, undefined> {
  const ns = o.ns ?? defaultNamespace;
  const follow = o.follow === true || ('from' in o.start && o.start.from === 'new');
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  // A cluster that has just lost a node may still place this R1 consumer on it, and the request
  // times out: another try, under a fresh name, lands on a live peer once the loss is known.
  let lastSeq = 0;
  let name = '';
  for (let attempt = 1; ; attempt++) {
    // 128 random bits: readers cannot list consumers, so a name no one can guess is private.
    name = `replay_${randomBytes(16).toString('base64url')}`;
    try {
      lastSeq = (await jsm.streams.info(ns.stream)).state.last_seq;
      await jsm.consumers.add(ns.stream, {
        name,
        ack_policy: AckPolicy.None,
        inactive_threshold: nanos(60_000),
        mem_storage: true,
        num_replicas: 1,
        headers_only: o.headersOnly === true,
        ...(o.filter ?? { filter_subject: `${ns.subjectPrefix}.>` }),
        ...deliverFrom(o.start),
      });
      break;
    } catch (e) {
      if (!(e instanceof errors.TimeoutError) || attempt >= createAttempts) throw e;
      // The abandoned consumer, if it was made at all, would otherwise live until its inactive threshold.
      void jsm.consumers.delete(ns.stream, name).catch(() => undefined);
    }
  }
  try {
    const pending = (await jsm.consumers.info(ns.stream, name)).num_pending;
    if (!follow && pending === 0) return;
    // "Last N" of a filtered set: skip what comes before them (the server only counts them).
    let skip = 'last' in o.start ? Math.max(0, pending - o.start.last) : 0;
    const consumer = await js.consumers.get(ns.stream, name);
    const messages = await consumer.consume({ max_messages: 256 });
    // A generator cannot be returned while it awaits the next message; stopping the consumer ends that wait.
    const onAbort = () => messages.stop();
    o.signal?.addEventListener('abort', onAbort, { once: true });
    if (o.signal?.aborted) messages.stop();
    let seen = 0;
    try {
      for await (const m of messages) {
        seen++;
        if (!follow && m.seq > lastSeq) break;
        if (o.until !== undefined && ('seq' in o.until ? m.seq > o.until.seq : m.time > o.until.time)) break;
        if (skip > 0) skip--;
        else yield m;
        if (!follow && (seen >= pending || m.seq >= lastSeq)) break;
      }
    } finally {
      o.signal?.removeEventListener('abort', onAbort);
      messages.stop();
    }
  } finally {
    await jsm.consumers.delete(ns.stream, name).catch(() => undefined);
  }
}

/**
 * Reads history from EVENTS in stream order through an ephemeral consumer. Without `follow` it
 * ends at the last message present when it began; with `follow` it goes on with new events until
 * the caller stops iterating. The consumer is deleted when iteration ends.
 */
export async function* replay<T extends EventType = EventType>(
  nc: NatsConnection,
  o: ReplayOptions<T>,
): AsyncGenerator<ReplayedEvent<T>, void, undefined> {
  const ns = o.ns ?? defaultNamespace;
  const logger = o.logger ?? silentLogger;
  const types = o.types === undefined || o.types.length === 0 ? undefined : new Set<string>(o.types);
  // Where the server cannot filter several types (nats-server < 2.10) every event of the
  // namespace comes: those on other types' subjects are passed over before decoding.
  const subjects = types === undefined ? undefined : new Set([...types].map((t) => subjectOf(ns, t as EventType)));
  for await (const m of readMessages(nc, {
    ns,
    start: o.start,
    filter: filterFor(nc, ns, o.types),
    ...(o.until === undefined ? {} : { until: o.until }),
    ...(o.follow === undefined ? {} : { follow: o.follow }),
    ...(o.signal === undefined ? {} : { signal: o.signal }),
  })) {
    if (subjects !== undefined && !subjects.has(m.subject)) continue;
    try {
      const event = decodeStreamMessage(ns, m, m.time);
      if (types === undefined || types.has(event.type)) {
        yield { event: event as VigilEvent<T>, seq: m.seq, storedAt: m.time, subject: m.subject };
      }
    } catch (e) {
      logger.warn({ err: e, seq: m.seq, subject: m.subject }, 'replay skipped a message that is not a valid event');
      o.onInvalid?.(e as Error, { seq: m.seq, subject: m.subject });
    }
  }
}
