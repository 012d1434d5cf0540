import { connect, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import { inboxPrefixFor } from '@vigil/events';
import { redactUrl } from '@vigil/service-kit';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
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
    const observed: Observed = { server: nc.info?.version ?? '?' };
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
      if (p.stream) problems.push(...(await streamProblems(jsm, p.stream, observed)));
      if (p.consumer) problems.push(...(await consumerProblems(jsm, p.consumer, observed)));
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

type NatsParams = Parameters<CheckRunner<'nats'>>[0];
type Observed = Record<string, number | string | boolean>;

/** What is wrong with the stream against the suite's expectations; its figures go to `observed`. */
async function streamProblems(
  jsm: JetStreamManager,
  want: NonNullable<NatsParams['stream']>,
  observed: Observed,
): Promise<string[]> {
  const info = await jsm.streams.info(want.name).catch(() => undefined);
  if (!info) return [`stream ${want.name} does not exist`];
  const problems: string[] = [];
  observed['streamMessages'] = info.state.messages;
  if (want.retention && info.config.retention !== want.retention) {
    problems.push(`stream ${want.name} retention is ${info.config.retention}, expected ${want.retention}`);
  }
  if (want.replicas && info.config.num_replicas !== want.replicas) {
    problems.push(`stream ${want.name} has ${info.config.num_replicas} replicas, expected ${want.replicas}`);
  }
  const windowMs = info.config.duplicate_window / 1e6;
  observed['duplicateWindowMs'] = windowMs;
  if (want.minDuplicateWindow && windowMs < want.minDuplicateWindow) {
    problems.push(`stream ${want.name} duplicate window is ${windowMs} ms, below ${want.minDuplicateWindow} ms`);
  }
  return problems;
}

/** Whether the consumer exists and keeps up; its figures go to `observed`. */
async function consumerProblems(
  jsm: JetStreamManager,
  want: NonNullable<NatsParams['consumer']>,
  observed: Observed,
): Promise<string[]> {
  const info = await jsm.consumers.info(want.stream, want.name).catch(() => undefined);
  if (!info) return [`consumer ${want.stream}/${want.name} does not exist`];
  observed['pending'] = info.num_pending;
  observed['ackPending'] = info.num_ack_pending;
  return info.num_pending > want.maxPending
    ? [`consumer ${want.name} has ${info.num_pending} pending, above ${want.maxPending}`]
    : [];
}

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
