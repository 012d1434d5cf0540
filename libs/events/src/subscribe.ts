import { createHmac } from 'node:crypto';
import type { NatsConnection } from '@nats-io/nats-core';
import { jetstream } from '@nats-io/jetstream';
import { consume, type RetryDelayOptions, type RunningConsumer } from './consume.js';
import type { VigilEvent } from './envelope.js';
import type { Logger } from './logger.js';
import { defaultNamespace, type EventType, type Namespace } from './registry.js';
import { replay } from './replay.js';
import { ensureConsumer, type ConsumerSpec } from './topology.js';

export interface SubscribeOptions {
  /**
   * A durable consumer name: the subscription survives restarts and resumes where it stopped
   * (events published meanwhile are delivered). Without it, only events published from now on.
   * Readers cannot list consumers, so a durable is private to whoever knows its name: where
   * several users share a server, derive it with {@link privateDurableName}.
   */
  readonly durable?: string;
  /** Durable only: deliveries before dead-lettering an event whose loop body threw. @default 5 */
  readonly maxDeliver?: number;
  /** Durable only: redelivery delays. */
  readonly retry?: RetryDelayOptions;
  /** @default defaultNamespace */
  readonly ns?: Namespace;
  /** @default silent */
  readonly logger?: Logger;
}

/**
 * A subscription for other tools: an async iterable of typed, validated events. With a durable
 * name, an event is acked when the loop asks for the next one; the event in hand when the loop
 * ends by `break`, a throw or a dying process is delivered again (at least once).
 */
export interface Subscription<T extends EventType> extends AsyncIterable<VigilEvent<T>> {
  close(): Promise<void>;
}

/**
 * The name of a durable that only `user`, holding `secret` (its NATS password), can find again:
 * `name` followed by 132 bits of an HMAC of the user and name. Readers may not list consumers
 * (see permissionsFor), so another user, even one of the same role, can neither pull from, ack
 * for nor delete it. The same user and name always give the same durable.
 */
export function privateDurableName(name: string, user: string, secret: string): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) {
    throw new Error(`durable name ${JSON.stringify(name)} must be 1-64 letters, digits, "-" or "_"`);
  }
  const mac = createHmac('sha256', secret).update(`vigil durable\0${user}\0${name}`).digest('base64url');
  return `${name}-${mac.slice(0, 22)}`;
}

// Over 60 lines: one closure over the tail's consumer and its iterator; its steps are the inner functions.
export function subscribe<T extends EventType>(
  nc: NatsConnection,
  types: readonly T[],
  o: SubscribeOptions = {},
): Subscription<T> {
  const ns = o.ns ?? defaultNamespace;
  if (o.durable === undefined) {
    const closing = new AbortController();
    const gen = replay<T>(nc, {
      start: { from: 'new' },
      types,
      ns,
      signal: closing.signal,
      ...(o.logger ? { logger: o.logger } : {}),
    });
    return {
      async *[Symbol.asyncIterator]() {
        for await (const r of gen) yield r.event;
      },
      async close() {
        closing.abort();
        await gen.return(undefined);
      },
    };
  }
  const spec: ConsumerSpec & { types: readonly T[] } = {
    durable: o.durable,
    types,
    ...(o.maxDeliver === undefined ? {} : { maxDeliver: o.maxDeliver }),
  };
  let running: RunningConsumer | undefined;
  let closed = false;
  // Hand-off between the consume handler and the iterator: the handler resolves when the
  // iterator asks for the next event (ack) or rejects when the loop body threw (nak).
  const waiting: { event: VigilEvent<T>; done: (err?: Error) => void }[] = [];
  let wake: (() => void) | undefined;

  return {
    async *[Symbol.asyncIterator]() {
      await ensureConsumer(nc, spec, ns);
      running = await consume<T>({
        js: jetstream(nc),
        ns,
        spec,
        ...(o.logger ? { logger: o.logger } : {}),
        ...(o.retry ? { retry: o.retry } : {}),
        handler: (event) =>
          new Promise<void>((resolve, reject) => {
            waiting.push({ event, done: (err) => (err ? reject(err) : resolve()) });
            wake?.();
          }),
      });
      void running.done.then(() => wake?.());
      let current: (typeof waiting)[number] | undefined;
      try {
        while (!closed) {
          const next = waiting.shift();
          if (next === undefined) {
            await new Promise<void>((r) => {
              wake = r;
            });
            wake = undefined;
            continue;
          }
          current = next;
          yield next.event;
          current = undefined;
          next.done();
        }
      } finally {
        // The loop ended (break, throw or close) while holding an event: it was not acked and
        // comes again, as does everything pulled behind it.
        current?.done(new Error('subscription ended before the loop finished with this event'));
        for (const w of waiting.splice(0)) w.done(new Error('subscription closed'));
        await running.stop(1000);
      }
    },
    async close() {
      closed = true;
      wake?.();
      await running?.stop(1000);
    },
  };
}
