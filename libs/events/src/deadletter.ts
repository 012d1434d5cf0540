import { headers as createHeaders, type MsgHdrs, type NatsConnection } from '@nats-io/nats-core';
import type { JetStreamClient } from '@nats-io/jetstream';
import { defaultNamespace, deadLetterSubjectOf, type Namespace } from './registry.js';
import { readMessages, type ReplayStart } from './replay.js';
import { MAX_EVENT_BYTES } from './errors.js';

/** Headers vigil adds to a dead letter; the original message's headers are kept beside them. */
export const DeadLetterHeaders = {
  Reason: 'Vigil-Dlq-Reason',
  Code: 'Vigil-Dlq-Code',
  Consumer: 'Vigil-Dlq-Consumer',
  Deliveries: 'Vigil-Dlq-Deliveries',
  OriginalSubject: 'Vigil-Dlq-Original-Subject',
  OriginalStream: 'Vigil-Dlq-Original-Stream',
  OriginalSequence: 'Vigil-Dlq-Original-Sequence',
  FailedAt: 'Vigil-Dlq-Failed-At',
  /** Present when the body kept is only the start of the original: its size in bytes. */
  TruncatedFrom: 'Vigil-Dlq-Truncated-From',
} as const;

/** How much of a body over the event size limit a dead letter keeps: enough to see what it was. */
export const DEAD_LETTER_KEPT_BYTES = 4096;

export interface DeadLetter {
  readonly reason: string;
  readonly code: string;
  readonly consumer: string;
  readonly deliveries: number;
  readonly originalSubject: string;
  readonly originalStream: string;
  readonly originalSequence: number;
  readonly failedAt: string;
  /** The original body's size when only its first bytes were kept (it was over the size limit). */
  readonly truncatedFrom?: number;
}

export interface DeadLetterInput {
  readonly data: Uint8Array;
  readonly headers?: MsgHdrs | undefined;
  readonly subject: string;
  readonly stream: string;
  readonly streamSequence: number;
}

function oneLine(s: string, max = 1024): string {
  const flat = s.replace(/[\r\n]+/g, ' ');
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/**
 * Stores a message in DEADLETTER with headers that say why. The `Nats-Msg-Id` is derived from the
 * original stream position, so dead-lettering the same message twice (a crash between the publish
 * and the term) stores it once.
 */
export async function deadLetter(
  js: JetStreamClient,
  ns: Namespace,
  msg: DeadLetterInput,
  why: { consumer: string; reason: string; code: string; deliveries: number },
): Promise<{ seq: number; duplicate: boolean }> {
  const h = createHeaders();
  for (const k of msg.headers?.keys() ?? []) {
    if (k.toLowerCase().startsWith('nats-')) continue;
    for (const v of msg.headers?.values(k) ?? []) h.append(k, v);
  }
  h.set(DeadLetterHeaders.Reason, oneLine(why.reason));
  h.set(DeadLetterHeaders.Code, why.code);
  h.set(DeadLetterHeaders.Consumer, why.consumer);
  h.set(DeadLetterHeaders.Deliveries, String(why.deliveries));
  h.set(DeadLetterHeaders.OriginalSubject, msg.subject);
  h.set(DeadLetterHeaders.OriginalStream, msg.stream);
  h.set(DeadLetterHeaders.OriginalSequence, String(msg.streamSequence));
  h.set(DeadLetterHeaders.FailedAt, new Date().toISOString());
  // Each consumer dead-letters its own copy: a huge body would be stored once per consumer.
  let data = msg.data;
  if (data.length > MAX_EVENT_BYTES) {
    h.set(DeadLetterHeaders.TruncatedFrom, String(data.length));
    data = data.subarray(0, DEAD_LETTER_KEPT_BYTES);
  }
  const ack = await js.publish(deadLetterSubjectOf(ns, why.consumer), data, {
    headers: h,
    msgID: `dlq:${msg.stream}:${msg.streamSequence}:${why.consumer}`,
    expect: { streamName: ns.deadLetterStream },
  });
  return { seq: ack.seq, duplicate: ack.duplicate };
}

/** Reads vigil's dead-letter headers back; undefined when the message is not a vigil dead letter. */
export function readDeadLetter(h: MsgHdrs | undefined): DeadLetter | undefined {
  const reason = h?.get(DeadLetterHeaders.Reason);
  if (h === undefined || !reason) return undefined;
  return {
    reason,
    code: h.get(DeadLetterHeaders.Code),
    consumer: h.get(DeadLetterHeaders.Consumer),
    deliveries: Number(h.get(DeadLetterHeaders.Deliveries)),
    originalSubject: h.get(DeadLetterHeaders.OriginalSubject),
    originalStream: h.get(DeadLetterHeaders.OriginalStream),
    originalSequence: Number(h.get(DeadLetterHeaders.OriginalSequence)),
    failedAt: h.get(DeadLetterHeaders.FailedAt),
    ...(h.get(DeadLetterHeaders.TruncatedFrom)
      ? { truncatedFrom: Number(h.get(DeadLetterHeaders.TruncatedFrom)) }
      : {}),
  };
}

/** A message as stored in the dead-letter stream, with why it is there. */
export interface StoredDeadLetter {
  /** Its sequence in the dead-letter stream. */
  readonly seq: number;
  readonly subject: string;
  readonly storedAt: Date;
  /** Undefined for a message some other publisher put on a dead-letter subject. */
  readonly why: DeadLetter | undefined;
  /** The original body, unchanged (often not a valid event: that may be why it is here). */
  readonly data: Uint8Array;
  readonly headers: MsgHdrs | undefined;
}

/**
 * The messages of the namespace's dead-letter stream in order: by default every one, up to the
 * last one now; with `start` from there, and with `follow` new ones too until `signal` ends it.
 */
export async function* readDeadLetters(
  nc: NatsConnection,
  o: { ns?: Namespace; signal?: AbortSignal; start?: ReplayStart; follow?: boolean } = {},
): AsyncGenerator<StoredDeadLetter, void, undefined> {
  const ns = o.ns ?? defaultNamespace;
  for await (const m of readMessages(nc, {
    ns: { ...ns, stream: ns.deadLetterStream },
    start: o.start ?? { from: 'beginning' },
    follow: o.follow === true,
    filter: { filter_subject: `${ns.deadLetterPrefix}.>` },
    ...(o.signal === undefined ? {} : { signal: o.signal }),
  })) {
    yield {
      seq: m.seq,
      subject: m.subject,
      storedAt: new Date(Math.floor(m.info.timestampNanos / 1e6)),
      why: readDeadLetter(m.headers),
      data: m.data,
      headers: m.headers,
    };
  }
}
