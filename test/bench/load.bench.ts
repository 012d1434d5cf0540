/**
 * pnpm bench:load — prints a table; not a test.
 * An open-model load generator: validation.requested at 10, 50, 100 and 200 per second for
 * BENCH_SECONDS (default 60) each, whatever the answers do, through the whole pipeline as separate
 * processes (relay, validator, slo-engine, anomaly). Per stage: completions per second, p50 / p95 /
 * p99 latency from the publish to the validation.completed arriving on a subscription, and errors
 * (publish failures, ERROR results, answers missing 30 s after the stage). Thresholds (as the
 * seed's k6 script): p95 < 500 ms and errors < 10 % at every stage; then the highest rate held
 * with p99 < 100 ms. Also per stage: the backlog of the consumers off the request path (slo-engine,
 * anomaly) when the last answer came, and how long they took to clear it before the next stage.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createEvent, encodeStructured, subjectOf } from '@vigil/events';
import { resolveNats, resolvePostgres, waitFor } from '@vigil/testkit';
import { startPipeline } from '../support/pipeline.js';

const decoder = new TextDecoder();
const RATES = (process.env['BENCH_RATES'] ?? '10,50,100,200').split(',').map(Number);
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 60);
const pct = (xs: readonly number[], p: number) =>
  xs[Math.min(xs.length - 1, Math.max(0, Math.ceil((p / 100) * xs.length) - 1))] ?? NaN;

interface Stage {
  rate: number;
  sent: number;
  completed: number;
  errors: number;
  throughput: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  /** Unhandled events per downstream consumer when the stage's last answer came. */
  backlog: Record<string, number>;
  /** Seconds from then until every downstream consumer had handled everything. */
  drainS: number;
}

/** Consumers that read the results but are not on the request → completed path. */
const DOWNSTREAM = ['slo-engine', 'anomaly'];

async function main(): Promise<void> {
  await using nats = await resolveNats();
  await using postgres = await resolvePostgres();
  const p = await startPipeline({
    label: 'load',
    natsUrls: [nats.url],
    postgresUrl: postgres.url,
    services: ['outbox-relay', 'validator', 'slo-engine', 'anomaly'],
    // BENCH_PROFILE_DIR=dir: each service writes a CPU profile there when it stops.
    env: Object.fromEntries(
      ['VALIDATOR_CONCURRENCY', 'SLO_CONCURRENCY', 'ANOMALY_CONCURRENCY']
        .filter((k) => process.env[k] !== undefined)
        .map((k) => [k, process.env[k]!]),
    ),
    nodeArgs: process.env['BENCH_PROFILE_DIR']
      ? ['--cpu-prof', `--cpu-prof-dir=${process.env['BENCH_PROFILE_DIR']}`]
      : [],
  });
  const nc = await connect({ servers: nats.url });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const backlog = async () => {
    const out: Record<string, number> = {};
    for (const d of DOWNSTREAM) {
      const i = await jsm.consumers.info(p.ns.stream, d);
      out[d] = i.num_pending + i.num_ack_pending;
    }
    return out;
  };
  const sentAt = new Map<string, number>();
  const done = new Map<string, { at: number; status: string }>();
  // Completions as they are published by the relay (a core subscription sees each stored message).
  nc.subscribe(subjectOf(p.ns, 'validation.completed'), {
    callback: (err, m) => {
      if (err) return;
      const at = performance.now();
      // Plain JSON, not the validating decoder: the generator should spend its CPU on load.
      const e = JSON.parse(decoder.decode(m.data)) as { data: { requestId: string; status: string } };
      if (!done.has(e.data.requestId)) done.set(e.data.requestId, { at, status: e.data.status });
    },
  });
  await nc.flush();
  const stages: Stage[] = [];
  try {
    for (const rate of RATES) {
      const ids: string[] = [];
      let publishErrors = 0;
      const pending: Promise<void>[] = [];
      const t0 = performance.now();
      const total = rate * SECONDS;
      for (let i = 0; i < total; i++) {
        const due = t0 + (i * 1000) / rate;
        const wait = due - performance.now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
        const event = createEvent(
          'validation.requested',
          { suite: 'pipeline', requestedBy: 'load' },
          { source: 'vigil/bench' },
        );
        ids.push(event.id);
        sentAt.set(event.id, performance.now());
        const { data, headers } = encodeStructured(event);
        pending.push(
          js.publish(subjectOf(p.ns, 'validation.requested'), data, { headers, msgID: event.id }).then(
            () => undefined,
            () => void publishErrors++,
          ),
        );
      }
      await Promise.all(pending);
      await waitFor(() => ids.every((id) => done.has(id)), { timeoutMs: 30_000, intervalMs: 100 }).catch(
        () => undefined,
      );
      const answered = ids.filter((id) => done.has(id));
      const latencies = answered.map((id) => done.get(id)!.at - sentAt.get(id)!).sort((a, b) => a - b);
      const last = Math.max(...answered.map((id) => done.get(id)!.at));
      const behind = await backlog();
      const drainStart = performance.now();
      await waitFor(async () => Object.values(await backlog()).every((n) => n === 0), {
        timeoutMs: 300_000,
        intervalMs: 100,
        message: 'downstream consumers to catch up',
      });
      const drainS = (performance.now() - drainStart) / 1000;
      const errors =
        publishErrors +
        (ids.length - answered.length) +
        answered.filter((id) => done.get(id)!.status === 'ERROR').length;
      const s: Stage = {
        rate,
        sent: ids.length,
        completed: answered.length,
        errors,
        throughput: answered.length / ((last - t0) / 1000),
        p50: pct(latencies, 50),
        p95: pct(latencies, 95),
        p99: pct(latencies, 99),
        max: latencies.at(-1) ?? NaN,
        backlog: behind,
        drainS,
      };
      stages.push(s);
      process.stderr.write(`stage ${rate}/s done: p99 ${s.p99.toFixed(1)} ms, ${errors} errors\n`);
    }
  } finally {
    await nc.close();
    await p.dispose();
  }

  const ms = (x: number) => `${x.toFixed(1)} ms`;
  const k6 = (s: Stage) => s.p95 < 500 && s.errors / s.sent < 0.1;
  const header = [
    'rate/s',
    'sent',
    'completed',
    'completed/s',
    'p50',
    'p95',
    'p99',
    'max',
    'errors',
    'k6 thresholds',
    `backlog ${DOWNSTREAM.join(' / ')}`,
    'caught up in',
  ];
  const rows = stages.map((s) => [
    String(s.rate),
    String(s.sent),
    String(s.completed),
    s.throughput.toFixed(1),
    ms(s.p50),
    ms(s.p95),
    ms(s.p99),
    ms(s.max),
    `${s.errors} (${((100 * s.errors) / s.sent).toFixed(1)} %)`,
    k6(s) ? 'held' : 'NOT HELD',
    DOWNSTREAM.map((d) => s.backlog[d]).join(' / '),
    `${s.drainS.toFixed(1)} s`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: readonly string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(`\nload: validation.requested → validation.completed, ${SECONDS} s per stage, open model`);
  console.log(line(header));
  console.log(`| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`);
  for (const r of rows) console.log(line(r));
  const under100 = stages.filter((s) => s.p99 < 100 && s.errors === 0).map((s) => s.rate);
  console.log(
    `\nk6 thresholds (p95 < 500 ms, errors < 10 %): ${stages.every(k6) ? 'held at every stage' : 'NOT held'}; ` +
      `highest rate with p99 < 100 ms and no errors: ${under100.length > 0 ? `${Math.max(...under100)}/s` : 'none'}`,
  );
  if (!stages.every(k6)) process.exitCode = 1;
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
