import pg from 'pg';
import type { RelayContext } from './context.js';

export interface LeaderOptions {
  /** Advisory lock key of the leader. */
  readonly lockKey: number;
  /** How often a standby tries to take the lock. */
  readonly standbyRetryMs: number;
}

/**
 * Runs `work` only while this process holds the leader lock: a session advisory lock on a
 * connection of its own, probed every second, so that a dead connection stops the work at once
 * and a standby (trying every `standbyRetryMs`) takes over when the leader dies. Returns when
 * `stopping` aborts.
 */
export async function leadWhileLocked(
  ctx: RelayContext,
  o: LeaderOptions,
  stopping: AbortSignal,
  work: (signal: AbortSignal) => Promise<void>,
  onChange: (leader: boolean) => void,
): Promise<void> {
  const { logger, wake } = ctx;
  while (!stopping.aborted) {
    let leader = false;
    const client = new pg.Client({
      connectionString: ctx.databaseUrl,
      application_name: 'vigil-outbox-relay-lock',
      keepAlive: true,
    });
    const lost = new AbortController();
    client.on('error', (e) => {
      if (!lost.signal.aborted) logger.warn({ err: e }, 'leader-lock connection lost');
      lost.abort();
    });
    client.on('end', () => lost.abort());
    try {
      await client.connect();
      for (;;) {
        if (stopping.aborted) return;
        const r = await client.query<{ ok: boolean }>('select pg_try_advisory_lock($1) as ok', [o.lockKey]);
        if (r.rows[0]?.ok) break;
        await wake.wait(o.standbyRetryMs, stopping);
      }
      leader = true;
      onChange(true);
      logger.info('leader: publishing');
      const working = AbortSignal.any([lost.signal, stopping]);
      const heartbeat = setInterval(() => {
        client.query('select 1').catch(() => lost.abort());
      }, 1000);
      try {
        await work(working);
      } finally {
        clearInterval(heartbeat);
      }
    } catch (e) {
      if (!stopping.aborted) logger.error({ err: e }, 'relay round failed');
    } finally {
      if (leader) {
        logger.info('no longer leader');
        onChange(false);
      }
      await client.end().catch(() => undefined);
    }
    await wake.wait(o.standbyRetryMs, stopping);
  }
}
