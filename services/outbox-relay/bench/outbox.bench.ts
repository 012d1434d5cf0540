/**
 * pnpm bench:outbox — prints a table; not a test.
 * (a) raw JetStream publish, pipelined, messages/s; then for each relay mode (logical, xmin):
 * (b) the outbox path: 50,000 rows committed, then relayed, rows/s and b/a; (c) commit →
 * consumer receipt latency at a steady 1,000 events/s for 20 s: p50, p99, max; (d) the same for
 * 30 s while a write transaction stays open in another database of the server and one in the
 * vigil database touches no outbox row. Same machine, same ~512-byte payload.
 * BENCH_MODES=logical (or xmin) runs one mode only. On Linux, (a) and (b) also print the CPU time
 * each process spent per 1,000 events: on a machine of few cores the sum, not one process,
 * decides the rate.
 */
import { AckPolicy, DeliverPolicy, jetstreamManager } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/nats-core';
import { sql } from 'kysely';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import pg from 'pg';
import { createEvent, encodeStructured, subjectOf, type VigilEvent } from '@vigil/events';
import { eventsFixture } from '@vigil/events/testing';
import { createOutbox, migrateOutbox, type OutboxDatabase } from '@vigil/outbox';
import { createDb } from '@vigil/service-kit';
import { createTestDatabase, resolveNats, resolvePostgres, ServiceProcess } from '@vigil/testkit';

const N = Number(process.env['BENCH_ROWS'] ?? 50_000);
const RATE = 1000;
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 20);
const HOLD_SECONDS = Number(process.env['BENCH_HOLD_SECONDS'] ?? 30);
const MODES = (process.env['BENCH_MODES'] ?? 'logical,xmin').split(',') as ('logical' | 'xmin')[];

function event(i: number): VigilEvent {
  // ~512 bytes as structured JSON.
  return createEvent(
    'sli.observed',
    { sli: `latency-${i}`, service: 'checkout-api-'.padEnd(200, 'x'), value: i, threshold: 100, unit: 'ms' },
    { source: 'vigil/bench' },
  );
}

const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;

interface Latency {
  readonly rate: number;
  readonly sorted: number[];
  readonly missing: number;
}

interface Figures {
  readonly commitRate: number;
  readonly relayRate: number;
  /** CPU per 1,000 events during (b), by process. */
  readonly relayCpu: string;
  readonly steady: Latency;
  readonly held: Latency;
}

/** A process's command name and its fields after it (state, ppid, …), from /proc; undefined once it ended. */
function procStat(pid: number | string): { comm: string; fields: string[] } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  return {
    comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
    fields: stat.slice(stat.lastIndexOf(')') + 2).split(' '),
  };
}

function procPids(): string[] {
  try {
    return readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return [];
  }
}

/** The processes of the servers this benchmark uses; undefined where /proc cannot tell. */
interface Servers {
  /** The cluster's postmaster: it and its children are the cluster. */
  readonly postmaster?: number | undefined;
  /** The nats-server(s) holding the URL's listening socket. */
  readonly nats: ReadonlySet<number>;
}

/**
 * The servers this benchmark uses, so that another PostgreSQL cluster or nats-server on the
 * machine is not counted: the postmaster of the cluster (found as a backend's parent) and the
 * nats-server holding the URL's listening socket.
 */
async function serversOf(natsUrl: string, postgresUrl: string): Promise<Servers> {
  await using c = await session(postgresUrl);
  const backend = Number((await c.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]?.pid);
  const postmaster = Number(procStat(backend)?.fields[1]) || undefined;
  const port = Number(new URL(natsUrl).port || 4222);
  const sockets = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      // sl, local address:port (hex), remote, state (0A: listening), …, inode (10th).
      const cols = line.trim().split(/\s+/);
      if (cols[3] === '0A' && parseInt(cols[1]?.split(':')[1] ?? '', 16) === port) sockets.add(`socket:[${cols[9]}]`);
    }
  }
  const nats = new Set<number>();
  for (const pid of procPids()) {
    if (procStat(pid)?.comm !== 'nats-server') continue;
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    if (fds.some((fd) => sockets.has(readlinkOr(`/proc/${pid}/fd/${fd}`)))) nats.add(Number(pid));
  }
  return { postmaster, nats };
}

function readlinkOr(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return '';
  }
}

/**
 * CPU time so far, ms, of the benchmark's NATS and PostgreSQL, the relay and this process (from
 * /proc; empty elsewhere). Where `servers` found none, every nats-server or postgres process counts.
 */
function cpuByProcess(servers: Servers, relayPid?: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const pid of procPids()) {
    const stat = procStat(pid);
    if (stat === undefined) continue; // ended meanwhile
    const { comm, fields } = stat;
    const { postmaster } = servers;
    const who =
      Number(pid) === relayPid
        ? 'relay'
        : Number(pid) === process.pid
          ? 'bench'
          : comm === 'nats-server' && (servers.nats.size === 0 || servers.nats.has(Number(pid)))
            ? 'nats-server'
            : comm === 'postgres' &&
                (postmaster === undefined || Number(pid) === postmaster || Number(fields[1]) === postmaster)
              ? 'postgres'
              : undefined;
    if (who === undefined) continue;
    // Fields after the command: state is the 1st, ppid the 2nd, utime and stime the 12th and 13th.
    const ticks = Number(fields[11]) + Number(fields[12]);
    out.set(who, (out.get(who) ?? 0) + (ticks * 1000) / clockTicks());
  }
  return out;
}

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  return ticksPerSecond;
}

/** CPU ms per 1,000 events of each process between two readings, e.g. "relay 31 · nats-server 12". */
function cpuPer1000(before: Map<string, number>, after: Map<string, number>, events: number): string {
  const parts = [...after]
    .map(([who, ms]) => [who, ((ms - (before.get(who) ?? 0)) * 1000) / events] as const)
    .filter(([, ms]) => ms >= 0.5)
    .sort((x, y) => y[1] - x[1]);
  if (parts.length === 0) return 'n/a';
  const sum = parts.reduce((t, [, ms]) => t + ms, 0);
  return `${sum.toFixed(0)} ms (${parts.map(([who, ms]) => `${who} ${ms.toFixed(0)}`).join(' · ')})`;
}

async function session(url: string): Promise<pg.Client & AsyncDisposable> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  return Object.assign(c, { [Symbol.asyncDispose]: () => c.end() });
}

async function main(): Promise<void> {
  await using nats = await resolveNats();
  await using postgres = await resolvePostgres();
  await using f = await eventsFixture(nats.url, { label: 'bench' });
  const { nc, js, ns, namespaceId: id } = f;
  const jsm = await jetstreamManager(nc);
  const servers = await serversOf(nats.url, postgres.url);
  await using database = await createTestDatabase(postgres.url, 'bench');
  // The writers' pool has Postgres defaults (durable commits); the relay runs in its own process.
  const { db } = createDb<OutboxDatabase>(database.url, { max: 6 });
  await migrateOutbox(db);
  const outbox = createOutbox({ ns });
  const sample = encodeStructured(event(0)).data.length;
  try {
    // Rates are measured on the stream's own clock: first to last stored message.
    const storedRate = async (): Promise<number> => {
      const info = await jsm.streams.info(ns.stream);
      const first = await jsm.streams.getMessage(ns.stream, { seq: info.state.first_seq });
      const last = await jsm.streams.getMessage(ns.stream, { seq: info.state.last_seq });
      return (info.state.messages - 1) / ((last!.time.getTime() - first!.time.getTime()) / 1000);
    };

    // (a) raw pipelined publishes: bursts of 1000, then await their acks; the best of 3 runs,
    // so that the ratio is not flattered by one slow run.
    const rawSubject = subjectOf(ns, 'sli.observed');
    // The same bytes and the same headers as the relay sends (content type and trace context),
    // the headers built per message as any publisher builds them.
    const payloads = Array.from({ length: N }, (_, i) => encodeStructured(event(i)).data);
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    let rawRate = 0;
    let rawCpu = 'n/a';
    for (let run = 0; run < 3; run++) {
      const cpuBefore = cpuByProcess(servers);
      for (let i = 0; i < N; i += 1000) {
        await Promise.all(
          payloads.slice(i, i + 1000).map((data, j) => {
            const h = natsHeaders();
            h.set('content-type', 'application/cloudevents+json');
            h.set('traceparent', traceparent);
            return js.publish(rawSubject, data, {
              msgID: `raw-${run}-${i + j}`,
              headers: h,
              expect: { streamName: ns.stream },
            });
          }),
        );
      }
      const rate = await storedRate();
      if (rate > rawRate) rawCpu = cpuPer1000(cpuBefore, cpuByProcess(servers), N);
      rawRate = Math.max(rawRate, rate);
      await jsm.streams.purge(ns.stream);
    }

    /**
     * Commits one event per transaction at a steady 1,000/s for `seconds`; latency from commit to
     * receipt. `afterCommits` runs when the last commit is done (before waiting for receipts).
     */
    const steadyLatency = async (
      seconds: number,
      from: number,
      afterCommits?: () => Promise<void>,
    ): Promise<Latency> => {
      const committedAt = new Map<string, number>();
      const receivedAt = new Map<string, number>();
      const total = RATE * seconds;
      // A consumer of this phase's events only.
      await jsm.consumers.add(ns.stream, {
        durable_name: 'latency',
        ack_policy: AckPolicy.None,
        deliver_policy: DeliverPolicy.New,
      });
      const consumer = await js.consumers.get(ns.stream, 'latency');
      const messages = await consumer.consume({ max_messages: 1000 });
      const received = (async () => {
        for await (const m of messages) {
          receivedAt.set(m.headers?.get('Nats-Msg-Id') ?? '', performance.now());
          if (receivedAt.size >= total) break;
        }
      })();
      // Events are built beforehand: the receiving loop shares this process, and building and
      // validating an event on it would delay the receipts it timestamps.
      const steady = Array.from({ length: total }, (_, i) => event(from + i));
      // Writers keep the schedule: a commit starts when due, not when the previous one ended.
      const start = performance.now();
      const commits: Promise<void>[] = [];
      for (let i = 0; i < total; i++) {
        const due = start + (i * 1000) / RATE;
        const wait = due - performance.now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
        const e = steady[i] as VigilEvent;
        commits.push(
          db
            .transaction()
            .execute((tx) => outbox.add(tx, e))
            .then(() => void committedAt.set(e.id, performance.now())),
        );
      }
      await Promise.all(commits);
      const rate = total / ((performance.now() - start) / 1000);
      await afterCommits?.();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([received, new Promise((r) => (timer = setTimeout(r, 30_000)))]);
      clearTimeout(timer);
      messages.stop();
      await jsm.consumers.delete(ns.stream, 'latency');
      const sorted = [...committedAt].flatMap(([eid, c]) => {
        const at = receivedAt.get(eid);
        return at === undefined ? [] : [at - c];
      });
      sorted.sort((x, y) => x - y);
      return { rate, sorted, missing: total - sorted.length };
    };

    const relayEnv = (mode: string): Record<string, string> => ({
      NATS_URL: nats.url,
      DATABASE_URL: database.url,
      VIGIL_NAMESPACE: id,
      LOG_LEVEL: 'info',
      RELAY_MODE: mode,
      ...(process.env['OTEL_SDK_DISABLED'] ? { OTEL_SDK_DISABLED: 'true' } : {}),
    });
    let seq = N;
    const results = new Map<string, Figures>();
    for (const mode of MODES) {
      await jsm.streams.purge(ns.stream);
      await sql`truncate outbox.events`.execute(db);
      if (mode === 'logical') {
        // The slot first, so that (b) reads the WAL, not the catch-up of a new slot.
        const first = ServiceProcess.start('outbox-relay', relayEnv(mode));
        await first.waitForLog('catch-up done', 60_000);
        await first.kill('SIGTERM');
      }
      // (b) N rows committed (100 per transaction), then relayed from cold.
      const commitStart = performance.now();
      for (let i = 0; i < N; i += 100) {
        await db.transaction().execute(async (tx) => {
          for (let j = i; j < Math.min(N, i + 100); j++) await outbox.add(tx, event(seq + j));
        });
      }
      seq += N;
      const commitRate = N / ((performance.now() - commitStart) / 1000);
      // The relay as it runs in production: its own process, started on the committed backlog.
      const relay = ServiceProcess.start(
        'outbox-relay',
        relayEnv(mode),
        process.env['RELAY_CPU_PROF_DIR'] ? ['--cpu-prof', `--cpu-prof-dir=${process.env['RELAY_CPU_PROF_DIR']}`] : [],
      );
      // Counted from the first stored row: the relay's start (loading, connecting) is not per row.
      let cpuBefore: { at: Map<string, number>; stored: number } | undefined;
      let relayCpu: string;
      try {
        for (;;) {
          const info = await jsm.streams.info(ns.stream);
          if (info.state.messages >= N) break;
          if (cpuBefore === undefined && info.state.messages > 0)
            cpuBefore = { at: cpuByProcess(servers, relay.child.pid), stored: info.state.messages };
          if (relay.child.exitCode !== null) throw new Error(`relay exited: ${relay.stderrText}`);
          await new Promise((r) => setTimeout(r, 20));
        }
        const relayRate = await storedRate();
        relayCpu = cpuPer1000(
          cpuBefore?.at ?? new Map<string, number>(),
          cpuByProcess(servers, relay.child.pid),
          N - (cpuBefore?.stored ?? 0),
        );
        // (c) steady 1,000 events/s, one event per transaction.
        const steady = await steadyLatency(SECONDS, seq);
        seq += RATE * SECONDS;
        // (d) the same while two write transactions stay open throughout.
        await using elsewhere = await session(postgres.url);
        await using here = await session(database.url);
        await elsewhere.query('begin');
        await elsewhere.query('select pg_current_xact_id()');
        await here.query('begin');
        await here.query(`insert into outbox.inbox (consumer, event_id) values ('bench', 'held-open')`);
        const held = await steadyLatency(HOLD_SECONDS, seq, async () => {
          await here.query('rollback');
          await elsewhere.query('rollback');
        });
        seq += RATE * HOLD_SECONDS;
        results.set(mode, { commitRate, relayRate, relayCpu, steady, held });
      } finally {
        await relay.kill('SIGTERM');
      }
    }

    const rows: [string, ...string[]][] = [
      ['', ...MODES.map((m) => `${m} mode`)],
      ['payload bytes (structured CloudEvent)', ...MODES.map(() => String(sample))],
      [
        '(a) raw JetStream publish, pipelined (bursts of 1000), best of 3',
        ...MODES.map(() => `${rawRate.toFixed(0)} msg/s`),
      ],
      ['    CPU per 1,000 messages', ...MODES.map(() => rawCpu)],
    ];
    const each = (label: string, cell: (r: Figures) => string) =>
      rows.push([label, ...MODES.map((m) => cell(results.get(m) as Figures))]);
    each('    outbox commits, 100 rows per transaction', (r) => `${r.commitRate.toFixed(0)} rows/s`);
    each(`(b) outbox relay (own process), ${N} committed rows → JetStream`, (r) => `${r.relayRate.toFixed(0)} rows/s`);
    each('    CPU per 1,000 rows', (r) => r.relayCpu);
    each('    ratio b/a (target ≥ 0.9)', (r) => (r.relayRate / rawRate).toFixed(2));
    for (const [label, pick] of [
      [`(c) commit → receipt, 1,000 events/s for ${SECONDS} s`, (r: Figures) => r.steady],
      [`(d) the same for ${HOLD_SECONDS} s, two unrelated transactions open`, (r: Figures) => r.held],
    ] as const) {
      each(label, (r) => `${pick(r).rate.toFixed(0)} events/s`);
      each('    p50 (target ≤ 2 ms)', (r) => `${pct(pick(r).sorted, 50).toFixed(2)} ms`);
      each('    p99 (target ≤ 10 ms)', (r) => `${pct(pick(r).sorted, 99).toFixed(2)} ms`);
      each('    max', (r) => `${(pick(r).sorted[pick(r).sorted.length - 1] ?? NaN).toFixed(2)} ms`);
      each('    events not received within 30 s (must be 0)', (r) => String(pick(r).missing));
    }
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
    process.stdout.write(
      `\noutbox benchmark (NATS ${nats.source}, Postgres ${postgres.source}, node ${process.version})\n`,
    );
    for (const r of rows) process.stdout.write(`${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ')}\n`);
  } finally {
    await db.destroy();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:outbox: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
