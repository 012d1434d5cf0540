import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { afterAll, describe, expect, it } from 'vitest';
import { createPublisher, replay, type VigilEvent } from '@vigil/events';
import { createDb } from '@vigil/service-kit';
import { dockerTestbed } from '@vigil/docker/testing';
import { freePortRange, waitFor } from '@vigil/testkit';
import { startUp } from './support/cli.js';

/**
 * The stack exactly as a new user meets it: `vigil up` with the shipped config/ (suites, SLOs,
 * chaos policy, anomaly series), on servers of its own. Only the validator's schedule is sped up
 * (VALIDATOR_SCHEDULE_INTERVAL: every 20 s instead of 5 min), so that three SLO evaluation minutes
 * see several runs of each suite; what each run checks, and every objective and threshold, is the
 * shipped one.
 */
const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

const MINUTE = 60_000;
const SUITES = ['seed-phases', 'vigil-self'];

async function history(nc: NatsConnection): Promise<VigilEvent[]> {
  const out: VigilEvent[] = [];
  for await (const r of replay(nc, { start: { from: 'beginning' } })) out.push(r.event);
  return out;
}

/** The shipped blackout (config/chaos.yaml): Monday to Friday, 09:00-17:00 UTC. */
function inShippedBlackout(at: Date): boolean {
  const day = at.getUTCDay();
  const hour = at.getUTCHours();
  return day >= 1 && day <= 5 && hour >= 9 && hour < 17;
}

describe('as shipped', () => {
  it(
    'three evaluation minutes: no SLO fires, both suites PASS at 8 or more, no anomaly, the chaos gate open outside the blackout',
    async () => {
      // `vigil up --demo` starts the opted-in target of the gate's dry run, from the busybox image
      // the Docker tests import (no registry here).
      const docker = await dockerTestbed('as-shipped');
      cleanup.push(async () => await docker[Symbol.asyncDispose]());

      const dataDir = await mkdtemp(join(tmpdir(), 'vigil-as-shipped-'));
      cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
      const portBase = await freePortRange(6);
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        VIGIL_DATA_DIR: dataDir,
        VIGIL_PORT_BASE: String(portBase),
        VALIDATOR_SCHEDULE_INTERVAL: '20s',
        VIGIL_DEMO_IMAGE: docker.image,
        LOG_LEVEL: 'warn',
      };
      const up = startUp(env, ['--own-servers', '--demo']);
      cleanup.push(() => up.stop());
      const { natsUrl, databaseUrl } = await up.ready();
      const target = `vigil-demo-target-${portBase}`;
      expect(up.output()).toContain(`demo        container ${target} (${docker.image}) opted in to chaos experiments`);
      const nc = await connect({ servers: natsUrl });
      cleanup.push(() => nc.close());

      // Three SLO evaluation minutes with runs of both suites in them: wait for the first run of
      // each, then until the engine has evaluated every SLO three minutes past it.
      const firstRuns = await waitFor(
        async () => {
          const done = (await history(nc)).flatMap((e) => (e.type === 'validation.completed' ? [e] : []));
          return SUITES.every((s) => done.some((e) => e.data.suite === s)) ? done : undefined;
        },
        { timeoutMs: MINUTE, intervalMs: 500, message: 'a first scheduled run of each suite' },
      );
      const from = Math.ceil(Math.max(...firstRuns.map((e) => Date.parse(e.time ?? ''))) / MINUTE) * MINUTE;
      const { db } = createDb<{ 'slo.evaluations': { slo: string; evaluated_at: Date } }>(databaseUrl);
      cleanup.push(() => db.destroy());
      await waitFor(
        async () => {
          const rows = await db.selectFrom('slo.evaluations').select(['slo', 'evaluated_at']).execute();
          return rows.length === 3 && rows.every((r) => r.evaluated_at.getTime() >= from + 3 * MINUTE);
        },
        {
          timeoutMs: 4 * MINUTE + 30_000,
          intervalMs: 1000,
          message: 'three SLO evaluation minutes after the first runs',
        },
      );
      const sloUrl = `http://127.0.0.1:${portBase + 1}/slos`;
      type Slos = { slos: { name: string; budget: { remainingPercent: number } }[] };

      const events = await history(nc);
      const firing = events.filter((e) => e.type === 'slo.burn' && e.data.state === 'firing');
      expect(
        firing.map((e) => (e.type === 'slo.burn' ? e.data.explanation : '')),
        'no SLO fires on a healthy stack',
      ).toEqual([]);
      expect(events.filter((e) => e.type === 'anomaly.detected')).toEqual([]);
      const runs = events.flatMap((e) => (e.type === 'validation.completed' ? [e.data] : []));
      for (const suite of SUITES) {
        const mine = runs.filter((r) => r.suite === suite);
        expect(mine.length, `runs of ${suite}`).toBeGreaterThanOrEqual(3);
        for (const r of mine) {
          const notPassed = r.components.flatMap((c) =>
            c.checks
              .filter((k) => !['PASS', 'SKIPPED'].includes(k.status))
              .map((k) => `${k.name}: ${k.status} ${k.message ?? ''}`),
          );
          expect({ suite, status: r.status, atLeast8: r.score >= 8 }, notPassed.join('; ')).toEqual({
            suite,
            status: 'PASS',
            atLeast8: true,
          });
        }
      }
      // The status page says the same: every component operational, no incident.
      const status = (await (await fetch(`http://127.0.0.1:${portBase + 5}/api/status`)).json()) as {
        state: string;
        headline: string;
        suites: { name: string }[];
        incidents: { open: unknown[] };
      };
      expect({ state: status.state, open: status.incidents.open }, status.headline).toEqual({
        state: 'operational',
        open: [],
      });
      expect(status.suites.map((s) => s.name).sort()).toEqual(SUITES);
      const slos = (await (await fetch(sloUrl)).json()) as Slos;
      expect(slos.slos.map((s) => s.name).sort()).toEqual(['availability', 'error-rate', 'latency']);
      const budgets = JSON.stringify(Object.fromEntries(slos.slos.map((x) => [x.name, x.budget.remainingPercent])));

      // The chaos gate: a dry run is accepted, or refused by the blackout alone while it holds.
      const requestedAt = new Date();
      const sent = await createPublisher({ js: jetstream(nc), source: 'vigil/e2e' }).publish('chaos.requested', {
        kind: 'container-pause',
        target: { names: [target] },
        durationSeconds: 5,
        dryRun: true,
        requestedBy: 'e2e',
        reason: 'is the gate open as shipped?',
      });
      const answer = await waitFor(
        async () =>
          (await history(nc)).find(
            (e) => (e.type === 'chaos.started' || e.type === 'chaos.aborted') && e.data.requestId === sent.id,
          ),
        { timeoutMs: 30_000, message: 'the chaos service to answer the dry run' },
      );
      const gate = answer.type === 'chaos.started' || answer.type === 'chaos.aborted' ? answer.data.gate : [];
      const failed = gate.filter((g) => !g.passed).map((g) => g.check);
      const why = `${gate.map((g) => `${g.check}: ${g.message}`).join('; ')}; budgets ${budgets}`;
      if (inShippedBlackout(requestedAt)) {
        expect(answer.type, why).toBe('chaos.aborted');
        expect(failed, why).toEqual(['blackout']);
      } else {
        expect(answer.type, why).toBe('chaos.started');
        expect(failed, why).toEqual([]);
      }
    },
    10 * MINUTE,
  );
});
