import { isPermissionDenied } from '@vigil/events';
import type { Bus } from '../bus.js';
import { table, type Output } from '../output.js';

const bytes = (n: number) =>
  n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`;
const time = (t: string | undefined) => (t === undefined || t.startsWith('0001') ? '-' : t.replace(/\.\d+Z$/, 'Z'));

/** `vigil streams [--json]`: every stream (messages, bytes, first and last time) and its consumers' lag. */
export async function streamsCommand(bus: Bus, o: { json: boolean }, out: Output): Promise<number> {
  const streams = await readStreams(bus);
  if (o.json) {
    for (const s of streams) out.json(s);
    return 0;
  }
  for (const l of table(
    ['STREAM', 'MESSAGES', 'BYTES', 'FIRST', 'LAST', 'REPLICAS', 'SUBJECTS'],
    streams.map((s) => [
      s.name,
      String(s.messages),
      bytes(s.bytes),
      time(s.firstTime),
      time(s.lastTime),
      String(s.replicas),
      s.subjects.join(' '),
    ]),
  ))
    out.line(l);
  const rows = streams.flatMap((s) =>
    (s.consumers ?? []).map((c) => [
      s.name,
      c.name,
      String(c.pending),
      String(c.ackPending),
      String(c.redelivered),
      c.filter,
    ]),
  );
  if (rows.length > 0) {
    out.line('');
    for (const l of table(['STREAM', 'CONSUMER', 'LAG', 'ACK PENDING', 'REDELIVERED', 'FILTER'], rows)) out.line(l);
  }
  const hidden = streams.filter((s) => s.consumers === null).map((s) => s.name);
  if (hidden.length > 0) out.line(`consumers of ${hidden.join(', ')}: not visible to this NATS user`);
  return 0;
}

/** Every stream this user can see, by name, with its consumers (null when it may not list them). */
async function readStreams(bus: Bus) {
  const streams = [];
  for await (const s of bus.jsm.streams.list()) {
    const consumers: Consumer[] = [];
    let hidden = false;
    try {
      await listConsumers(bus, s.config.name, consumers);
    } catch (e) {
      // A least-privilege user (tool) may see a stream but not who consumes it.
      if (!isPermissionDenied(e)) throw e;
      hidden = true;
    }
    streams.push({
      name: s.config.name,
      subjects: s.config.subjects ?? [],
      replicas: s.config.num_replicas,
      messages: s.state.messages,
      bytes: s.state.bytes,
      firstSeq: s.state.first_seq,
      lastSeq: s.state.last_seq,
      firstTime: s.state.first_ts,
      lastTime: s.state.last_ts,
      // null: this user may not list them.
      consumers: hidden ? null : consumers.sort((a, b) => a.name.localeCompare(b.name)),
    });
  }
  return streams.sort((a, b) => a.name.localeCompare(b.name));
}

interface Consumer {
  name: string;
  durable: boolean;
  filter: string;
  pending: number;
  ackPending: number;
  redelivered: number;
  waiting: number;
  lastDelivered: number;
  lastActive: number | null;
}

async function listConsumers(bus: Bus, stream: string, into: Consumer[]): Promise<void> {
  for await (const c of bus.jsm.consumers.list(stream)) {
    into.push({
      name: c.name,
      durable: c.config.durable_name !== undefined,
      filter: c.config.filter_subject ?? c.config.filter_subjects?.join(',') ?? '',
      pending: c.num_pending,
      ackPending: c.num_ack_pending,
      redelivered: c.num_redelivered,
      waiting: c.num_waiting,
      lastDelivered: c.delivered.stream_seq,
      lastActive: c.delivered.last_active ?? null,
    });
  }
}
