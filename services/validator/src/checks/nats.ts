import { connect, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import { inboxPrefixFor } from '@vigil/events';
import { redactUrl } from '@vigil/service-kit';
import { jetstreamManager } from '@nats-io/jetstream';
import { createInbox } from '@nats-io/nats-core';
import { CheckError, type CheckContext, type CheckOutcome, type CheckRunner } from './types.js';

/**
 * The check's own connection: to the suite's url (a user in it gets that user's inbox prefix), or
 * else to the service's NATS with the service's credentials.
 */
async function withConnection<T>(
  p: { url?: string | undefined },
  ctx: CheckContext,
  fn: (nc: NatsConnection, inboxPrefix: string | undefined) => Promise<T>,
): Promise<T> {
  const url = p.url ?? ctx.natsUrl;
  let options: Partial<ConnectionOptions> = p.url === undefined ? (ctx.natsOptions ?? {}) : {};
  if (p.url !== undefined && URL.canParse(p.url) && new URL(p.url).username !== '') {
    options = { inboxPrefix: inboxPrefixFor(decodeURIComponent(new URL(p.url).username)) };
  }
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: url.split(','),
      timeout: 2000,
      maxReconnectAttempts: 0,
      name: 'vigil-validator-check',
      ...options,
    });
  } catch (e) {
    throw new CheckError(`NATS at ${redactUrl(url)} is not reachable: ${(e as Error).message}`);
  }
  const { signal } = ctx;
  const onAbort = () => void nc.close();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await fn(nc, options.inboxPrefix);
  } finally {
    signal.removeEventListener('abort', onAbort);
    await nc.close().catch(() => undefined);
  }
}

export const nats: CheckRunner<'nats'> = (p, ctx) =>
  withConnection(p, ctx, async (nc, inboxPrefix) => {
    const problems: string[] = [];
    const observed: Record<string, number | string | boolean> = { server: nc.info?.version ?? '?' };
    const rtt = await nc.rtt();
    observed['rttMs'] = Math.round(rtt * 100) / 100;
    if (p.jetstream || p.stream || p.consumer) {
      let jsm;
      try {
        jsm = await jetstreamManager(nc, { timeout: 2000 });
      } catch (e) {
        return {
          status: 'FAIL',
          message: `JetStream is not enabled: ${(e as Error).message}`,
          observed,
        } satisfies CheckOutcome;
      }
      if (p.stream) {
        const info = await jsm.streams.info(p.stream.name).catch(() => undefined);
        if (!info) problems.push(`stream ${p.stream.name} does not exist`);
        else {
          observed['streamMessages'] = info.state.messages;
          if (p.stream.retention && info.config.retention !== p.stream.retention) {
            problems.push(
              `stream ${p.stream.name} retention is ${info.config.retention}, expected ${p.stream.retention}`,
            );
          }
          if (p.stream.replicas && info.config.num_replicas !== p.stream.replicas) {
            problems.push(
              `stream ${p.stream.name} has ${info.config.num_replicas} replicas, expected ${p.stream.replicas}`,
            );
          }
          const windowMs = info.config.duplicate_window / 1e6;
          observed['duplicateWindowMs'] = windowMs;
          if (p.stream.minDuplicateWindow && windowMs < p.stream.minDuplicateWindow) {
            problems.push(
              `stream ${p.stream.name} duplicate window is ${windowMs} ms, below ${p.stream.minDuplicateWindow} ms`,
            );
          }
        }
      }
      if (p.consumer) {
        const info = await jsm.consumers.info(p.consumer.stream, p.consumer.name).catch(() => undefined);
        if (!info) problems.push(`consumer ${p.consumer.stream}/${p.consumer.name} does not exist`);
        else {
          observed['pending'] = info.num_pending;
          observed['ackPending'] = info.num_ack_pending;
          if (info.num_pending > p.consumer.maxPending) {
            problems.push(
              `consumer ${p.consumer.name} has ${info.num_pending} pending, above ${p.consumer.maxPending}`,
            );
          }
        }
      }
    }
    if (p.roundTrip) {
      const subject = createInbox(inboxPrefix);
      const sub = nc.subscribe(subject, { max: 1 });
      const started = performance.now();
      nc.publish(subject, 'ping');
      let got = false;
      for await (const _ of sub) got = true;
      if (!got) problems.push('round trip message did not come back');
      observed['roundTripMs'] = Math.round((performance.now() - started) * 100) / 100;
    }
    return problems.length > 0
      ? { status: 'FAIL', message: problems.join('; '), observed }
      : { status: 'PASS', message: `NATS ${observed['server']} answers (rtt ${observed['rttMs']} ms)`, observed };
  });

/**
 * Jepsen's NATS 2.12.1 analysis (2025) found acknowledged writes lost after power failures with
 * the default lazy fsync, and a single replica cannot survive a lost disk: either gives WARN.
 */
export const jetstreamDurability: CheckRunner<'jetstream.durability'> = (p, ctx) =>
  withConnection(p, ctx, async (nc) => {
    const jsm = await jetstreamManager(nc, { timeout: 2000 }).catch((e: Error) => {
      throw new CheckError(`JetStream is not enabled: ${e.message}`);
    });
    const info = await jsm.streams.info(p.stream).catch(() => {
      throw new CheckError(`stream ${p.stream} does not exist`);
    });
    const replicas = info.config.num_replicas;
    const storage = info.config.storage;
    const observed = { replicas, storage, server: nc.info?.version ?? '?' };
    const risks: string[] = [];
    if (storage !== 'file') risks.push(`stream ${p.stream} is kept in memory`);
    if (replicas < 3)
      risks.push(
        `stream ${p.stream} has ${replicas} replica${replicas === 1 ? '' : 's'}: a lost disk loses acknowledged messages`,
      );
    // The server's sync setting is not visible to a client; sync on every write needs 2.10+ and
    // `jetstream { sync_interval: always }`, which operators must confirm themselves.
    risks.push(
      'the server flushes to disk every 2 minutes unless configured with sync_interval: always (Jepsen, NATS 2.12.1)',
    );
    return { status: 'WARN', message: risks.join('; '), observed } satisfies CheckOutcome;
  });
