import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { randomBytes } from 'node:crypto';
import { namespaceFor, type Namespace } from '../registry.js';
import { ensureStreams, type StreamOptions } from '../topology.js';

export interface EventsFixture {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly ns: Namespace;
  /** The id of `ns` (`VIGIL_NAMESPACE` for a service process run against it). */
  readonly namespaceId: string;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A namespace of one test: its own EVENTS and DEADLETTER streams and subjects, deleted on dispose. */
export function testNamespace(label = 't'): Namespace {
  return namespaceFor(testNamespaceId(label));
}

function testNamespaceId(label: string): string {
  return `${label.replace(/[^a-zA-Z0-9]/g, '').slice(0, 20)}${randomBytes(4).toString('hex')}`;
}

/** Connects to `url`, creates a unique namespace with its streams; disposing deletes them and closes. */
export async function eventsFixture(
  url: string,
  o: Omit<StreamOptions, 'ns'> & { label?: string } = {},
): Promise<EventsFixture> {
  const nc = await connect({ servers: url, noAsyncTraces: true });
  const namespaceId = testNamespaceId(o.label ?? 't');
  const ns = namespaceFor(namespaceId);
  // Small limits: nats-server reserves them, and many test namespaces exist at once.
  await ensureStreams(nc, { maxBytes: 64 * 1024 ** 2, deadLetterMaxBytes: 16 * 1024 ** 2, ...o, ns });
  return {
    nc,
    js: jetstream(nc),
    ns,
    namespaceId,
    async [Symbol.asyncDispose]() {
      if (nc.isClosed()) return;
      // No API check: right after a server restart JetStream may not answer it in time, and the
      // deletes below are best effort anyway.
      const jsm = await jetstreamManager(nc, { checkAPI: false });
      await jsm.streams.delete(ns.stream).catch(() => undefined);
      await jsm.streams.delete(ns.deadLetterStream).catch(() => undefined);
      await nc.close();
    },
  };
}
