import {
  DeadLetterHeaders,
  decodeMessage,
  isEventType,
  readDeadLetters,
  type StoredDeadLetter,
  privateDurableName,
  readMessages,
  replay,
  subscribe,
  type EventType,
  type VigilEvent,
} from '@vigil/events';
import type { Bus } from '../bus.js';
import { parseSince, type Output } from '../output.js';

function typesOf(names: readonly string[]): EventType[] {
  for (const n of names) if (!isEventType(n)) throw new Error(`unknown event type '${n}'`);
  return names as EventType[];
}

function chaosAbout(d: Record<string, unknown>): string {
  const reasons = d['reasons'];
  if (Array.isArray(reasons)) return reasons.join('; ');
  const v = d['kind'] ?? d['experimentId'];
  return typeof v === 'string' ? v : '';
}

/** One line per event: time, type, id, and what it is about. */
export function eventLine(e: VigilEvent, seq?: number): string {
  const d = e.data as Record<string, unknown>;
  const about =
    e.type === 'validation.completed'
      ? `${String(d['suite'])} ${String(d['status'])} ${String(d['score'])}`
      : e.type === 'validation.requested'
        ? String(d['suite'])
        : e.type === 'slo.burn'
          ? `${String(d['slo'])} ${String(d['state'])} ${String(d['severity'])}`
          : e.type === 'anomaly.detected'
            ? `${String(d['series'])} score ${String(d['score'])}`
            : e.type.startsWith('chaos.')
              ? chaosAbout(d)
              : (e.subject ?? '');
  return `${e.time ?? ''}  ${seq === undefined ? '' : `#${seq}  `}${e.type.padEnd(21)}  ${e.id}  ${about}`.trimEnd();
}

/**
 * `vigil tail [TYPES…] [--durable NAME] [--json]`: live events until Ctrl-C. With a durable name
 * the tail is a durable consumer: stopped and started again, it resumes where it stopped.
 */
export async function tailCommand(
  bus: Bus,
  o: { types: readonly string[]; durable?: string | undefined; json: boolean; signal: AbortSignal },
  out: Output,
): Promise<number> {
  const types = typesOf(o.types);
  // Under a NATS user, the durable is that user's own: another user naming the same durable
  // gets a consumer of its own, and cannot find this one (readers may not list consumers).
  const durable =
    o.durable === undefined || bus.credentials === undefined
      ? o.durable
      : privateDurableName(o.durable, bus.credentials.user, bus.credentials.secret);
  const sub = subscribe(bus.nc, types.length > 0 ? types : [], {
    ns: bus.ns,
    ...(durable === undefined ? {} : { durable }),
  });
  o.signal.addEventListener('abort', () => void sub.close(), { once: true });
  const stop = out.progress(
    `waiting for ${types.length > 0 ? types.join(', ') : 'events'}${durable === undefined ? '' : ` (durable ${durable})`} (Ctrl-C stops)`,
  );
  let first = true;
  for await (const e of sub) {
    if (first) {
      stop();
      first = false;
    }
    if (o.json) out.json(e);
    else out.line(eventLine(e));
  }
  if (first) stop();
  return 0;
}

/**
 * `vigil replay --since 2h | --from-seq N | --last N [--until TIME|SEQ] [--type T …]`: history as
 * JSON lines (`{seq, storedAt, event}`), in stream order, ending at the last message.
 */
export async function replayCommand(
  bus: Bus,
  o: {
    since?: string | undefined;
    fromSeq?: string | undefined;
    last?: string | undefined;
    until?: string | undefined;
    types: readonly string[];
  },
  out: Output,
): Promise<number> {
  const starts = [o.since, o.fromSeq, o.last].filter((x) => x !== undefined);
  if (starts.length !== 1)
    throw new Error('vigil replay needs exactly one of --since DURATION, --from-seq N, --last N');
  const int = (flag: string, v: string) => {
    if (!/^\d+$/.test(v) || Number(v) < 1) throw new Error(`${flag} ${JSON.stringify(v)} must be a whole number ≥ 1`);
    return Number(v);
  };
  const start =
    o.since !== undefined
      ? { since: new Date(Date.now() - parseSince('--since', o.since)) }
      : o.fromSeq !== undefined
        ? { fromSeq: int('--from-seq', o.fromSeq) }
        : { last: int('--last', o.last!) };
  let until: { time: Date } | { seq: number } | undefined;
  if (o.until !== undefined) {
    if (/^\d+$/.test(o.until)) until = { seq: Number(o.until) };
    else {
      const t = Date.parse(o.until);
      if (Number.isNaN(t))
        throw new Error(`--until ${JSON.stringify(o.until)} is neither a sequence number nor an ISO time`);
      until = { time: new Date(t) };
    }
  }
  const types = typesOf(o.types);
  for await (const r of replay(bus.nc, {
    ns: bus.ns,
    start,
    ...(types.length > 0 ? { types } : {}),
    ...(until ? { until } : {}),
    onInvalid: (e, at) => process.stderr.write(`vigil: skipped #${at.seq} on ${at.subject}: ${e.message}\n`),
  })) {
    out.json({ seq: r.seq, storedAt: r.storedAt.toISOString(), event: r.event });
    // A slow reader (`| jq` on a week of history) sets the pace, not this process's memory.
    await out.drained();
  }
  return 0;
}

interface Letter extends StoredDeadLetter {
  readonly eventId: string | undefined;
  readonly type: string | undefined;
}

async function letters(bus: Bus): Promise<Letter[]> {
  const out: Letter[] = [];
  for await (const l of readDeadLetters(bus.nc, { ns: bus.ns })) {
    let eventId: string | undefined;
    let type: string | undefined;
    try {
      const e = decodeMessage({ data: l.data, headers: l.headers });
      [eventId, type] = [e.id, e.type];
    } catch {
      // A dead letter is often not a valid event: that is why it is here.
    }
    out.push({ ...l, eventId, type });
  }
  return out;
}

/** `vigil dlq list | show SEQ | redrive SEQ… | redrive --all`. */
export async function dlqCommand(
  bus: Bus,
  o: { sub: string | undefined; seqs: readonly string[]; all: boolean; json: boolean },
  out: Output,
): Promise<number> {
  const all = await letters(bus);
  const pick = () => {
    if (o.all) return all;
    if (o.seqs.length === 0)
      throw new Error(
        `vigil dlq ${o.sub} needs dead-letter sequence numbers (see vigil dlq list)${o.sub === 'redrive' ? ' or --all' : ''}`,
      );
    return o.seqs.map((s) => {
      const l = all.find((x) => String(x.seq) === s);
      if (l === undefined) throw new Error(`no dead letter #${s} in ${bus.ns.deadLetterStream}`);
      return l;
    });
  };
  switch (o.sub) {
    case 'list':
    case undefined:
      if (o.json) for (const l of all) out.json(summary(l));
      else if (all.length === 0) out.line(`${bus.ns.deadLetterStream} is empty`);
      else
        for (const l of all)
          out.line(
            `#${l.seq}  ${l.storedAt.toISOString()}  ${l.why?.consumer ?? '?'}  ${l.why?.originalSubject ?? l.subject}  ${l.why?.code ?? ''}: ${l.why?.reason ?? '(no reason recorded)'}`,
          );
      return 0;
    case 'show':
      for (const l of pick()) {
        const text = Buffer.from(l.data).toString('utf8');
        out.json({ ...summary(l), body: jsonOrText(text) });
      }
      return 0;
    case 'redrive':
      for (const l of pick()) await redrive(bus, l, out);
      return 0;
    default:
      throw new Error(`unknown dlq command '${o.sub}'; vigil dlq list | show SEQ… | redrive SEQ… | redrive --all`);
  }
}

/** Sends one dead letter back to its original subject under a new message id, then deletes it. */
async function redrive(bus: Bus, l: Letter, out: Output): Promise<void> {
  const to = l.why?.originalSubject;
  if (to === undefined)
    throw new Error(`dead letter #${l.seq} has no ${DeadLetterHeaders.OriginalSubject} header; it cannot be re-driven`);
  if (l.why?.truncatedFrom !== undefined)
    throw new Error(
      `dead letter #${l.seq} keeps only the first ${l.data.length} of ${l.why.truncatedFrom} bytes (it was over the event size limit); it cannot be re-driven`,
    );
  const m = await bus.jsm.streams.getMessage(bus.ns.deadLetterStream, { seq: l.seq });
  if (m === null) throw new Error(`dead letter #${l.seq} is gone (removed meanwhile?)`);
  const h = m.header;
  for (const k of Object.values(DeadLetterHeaders)) h.delete(k);
  // A new message id: the original's would be dropped as a duplicate inside the window.
  // Consumers with an inbox still apply the event once.
  const ack = await bus.js.publish(to, m.data, {
    headers: h,
    msgID: `redrive:${bus.ns.deadLetterStream}:${l.seq}`,
    expect: { streamName: bus.ns.stream },
  });
  await bus.jsm.streams.deleteMessage(bus.ns.deadLetterStream, l.seq);
  out.line(`re-drove #${l.seq} to ${to} (stream ${bus.ns.stream}, sequence ${ack.seq})`);
}

function summary(l: Letter) {
  return {
    seq: l.seq,
    storedAt: l.storedAt.toISOString(),
    subject: l.subject,
    eventId: l.eventId ?? null,
    type: l.type ?? null,
    ...(l.why ?? {}),
  };
}

function jsonOrText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** `vigil trace EVENT_ID [--since 7d]`: finds the event in the stream and prints its trace. */
export async function findEvent(
  bus: Bus,
  id: string,
  sinceMs: number,
): Promise<{ seq: number; event: VigilEvent } | undefined> {
  for await (const m of readMessages(bus.nc, {
    ns: bus.ns,
    start: { since: new Date(Date.now() - sinceMs) },
    headersOnly: true,
  })) {
    if (m.headers?.get('Nats-Msg-Id') !== id) continue;
    const full = await bus.jsm.streams.getMessage(bus.ns.stream, { seq: m.seq });
    if (full === null) return undefined;
    return { seq: m.seq, event: decodeMessage({ data: full.data, headers: full.header }) };
  }
  return undefined;
}
