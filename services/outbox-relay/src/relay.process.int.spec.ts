import { sql } from 'kysely';
import { describe, expect, inject, it } from 'vitest';
import { ServiceProcess, waitFor } from '@vigil/testkit';
import { relayFixture, serverPerMode, type RelayFixture } from './testing/fixture.js';

const natsUrl = inject('natsUrl');
const serverFor = serverPerMode(inject('databaseUrl'));

async function publishedCount(f: RelayFixture): Promise<number> {
  const r = await sql<{ n: string }>`select count(*) as n from outbox.delivery where state = 'published'`.execute(f.db);
  return Number(r.rows[0]?.n ?? 0);
}

function envFor(f: RelayFixture, mode: 'logical' | 'xmin'): Record<string, string> {
  return {
    RELAY_MODE: mode,
    NATS_URL: natsUrl,
    DATABASE_URL: f.databaseUrl,
    VIGIL_NAMESPACE: f.events.namespaceId,
    RELAY_STANDBY_RETRY_MS: '250',
  };
}

function expectExactlyOnce(stream: string[], expected: string[]): void {
  const seen = new Map<string, number>();
  for (const id of stream) seen.set(id, (seen.get(id) ?? 0) + 1);
  const twice = [...seen].filter(([, n]) => n > 1);
  const missing = expected.filter((id) => !seen.has(id));
  expect({ twice: twice.length, missing: missing.length, total: stream.length }).toEqual({
    twice: 0,
    missing: 0,
    total: expected.length,
  });
}

describe.each(['logical', 'xmin'] as const)('outbox-relay processes (%s mode)', (mode) => {
  it('20,000 pending rows, the relay SIGKILLed several times mid-publish: every event in the stream exactly once', async () => {
    await using f = await relayFixture(natsUrl, await serverFor(mode), 'kill');
    if (mode === 'logical') {
      // The slot first, so that the rows come from the WAL (resumed from the confirmed position
      // after each kill), not from the catch-up of a new slot.
      const first = ServiceProcess.start('outbox-relay', envFor(f, mode));
      await waitFor(
        async () =>
          (await sql<{ done: boolean }>`select caught_up_at is not null as done from outbox.relay_slot`.execute(f.db))
            .rows[0]?.done === true,
        { timeoutMs: 20_000, message: 'the catch-up of the new slot recorded' },
      );
      await first.kill('SIGTERM');
    }
    const ids = await f.commitBulk(20_000);
    const kills: number[] = [];
    for (const threshold of [2_000, 6_000, 11_000, 15_000]) {
      const relay = ServiceProcess.start('outbox-relay', envFor(f, mode));
      try {
        await relay.waitForMetric('vigil_outbox_relay_leader', 1);
        await waitFor(async () => (await publishedCount(f)) >= threshold, {
          timeoutMs: 60_000,
          message: `${threshold} rows published`,
        });
      } finally {
        await relay.kill('SIGKILL');
      }
      kills.push(await publishedCount(f));
    }
    const last = ServiceProcess.start('outbox-relay', envFor(f, mode));
    try {
      await waitFor(async () => (await f.pendingCount()) === 0, { timeoutMs: 60_000, message: 'every row published' });
    } finally {
      await last.kill('SIGTERM');
    }
    expect(kills.every((n, i) => i === 0 || n >= (kills[i - 1] ?? 0))).toBe(true);
    expectExactlyOnce(await f.streamIds(), ids);
    process.stdout.write(
      `${mode} mode: relay SIGKILLed at ${kills.join(', ')} published rows; 20000 in the stream once each\n`,
    );
  });

  it('two relays: only one publishes; SIGKILL it and the other takes over within 2 s; exactly once', async () => {
    await using f = await relayFixture(natsUrl, await serverFor(mode), 'failover');
    const a = ServiceProcess.start('outbox-relay', envFor(f, mode));
    const b = ServiceProcess.start('outbox-relay', envFor(f, mode));
    try {
      await a.waitReady();
      await b.waitReady();
      const leads = async (p: ServiceProcess) => (await p.metric('vigil_outbox_relay_leader')) === 1;
      const [leader, standby] = await waitFor(
        async () => ((await leads(a)) ? [a, b] : (await leads(b)) ? [b, a] : undefined),
        { message: 'a leader' },
      );
      const first = await f.commitBulk(3_000, 500);
      await waitFor(async () => (await f.pendingCount()) === 0, {
        timeoutMs: 30_000,
        message: 'first batch published',
      });
      expect(await leads(standby)).toBe(false);

      const more = f.commitBulk(3_000, 100);
      const killedAt = Date.now();
      await leader.kill('SIGKILL');
      // Logical mode has taken over once the slot streams again, a step after the leader lock: its
      // log line is the one sign of that moment.
      if (mode === 'logical') await standby.waitForLog('streaming from the slot', 5_000);
      else await standby.waitForMetric('vigil_outbox_relay_leader', 1, 5_000);
      const takeoverMs = Date.now() - killedAt;
      const second = await more;
      await waitFor(async () => (await f.pendingCount()) === 0, {
        timeoutMs: 30_000,
        message: 'second batch published',
      });
      expect(takeoverMs).toBeLessThan(2_000);
      expectExactlyOnce(await f.streamIds(), [...first, ...second]);
      process.stdout.write(`${mode} mode: standby took over ${takeoverMs} ms after the leader was SIGKILLed\n`);
    } finally {
      await a.kill();
      await b.kill();
    }
  });
});
