import type { NatsConnection } from '@nats-io/nats-core';
import { readDeadLetters } from '../deadletter.js';
import type { Namespace } from '../registry.js';

/** Everything an iterable yields, once it ends. */
export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** The namespace's dead letters, as reason, data and subject. */
export async function deadLetters(f: { nc: NatsConnection; ns: Namespace }) {
  const out = [];
  for await (const l of readDeadLetters(f.nc, { ns: f.ns })) out.push({ dl: l.why, data: l.data, subject: l.subject });
  return out;
}
