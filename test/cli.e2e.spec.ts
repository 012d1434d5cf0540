import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPublisher, ensureStreams, namespaceFor, type VigilEvent } from '@vigil/events';
import { waitFor } from '@vigil/testkit';
import { cliPath as cli, runCli, smokeSuite, startTestStack } from './support/cli.js';
import { OtlpReceiver, type ReceivedSpan } from './support/otlp-receiver.js';

/**
 * The user's surface end to end: the stack of `vigil up` (own servers, every service exporting
 * spans to a receiver this test runs), driven through the `vigil` command as a user would.
 */
const cleanup: (() => Promise<void>)[] = [];
let receiver: OtlpReceiver;
let natsUrl: string;
let env: NodeJS.ProcessEnv;

/** Runs `vigil ARGS…` to its end. */
const vigil = (args: readonly string[], input?: string) => runCli(env, args, input);

/** A long-running `vigil` (tail), its output collected. */
function vigilLive(args: readonly string[]): { child: ChildProcess; out: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [cli, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number | null>((r) => child.once('exit', r));
  cleanup.push(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await exit;
  });
  return { child, out: () => out, exit };
}

const jsonLines = <T>(text: string) =>
  text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);

beforeAll(async () => {
  receiver = await OtlpReceiver.start();
  const stack = await startTestStack(cleanup, 'cli-e2e', {
    suites: { 'smoke.yaml': smokeSuite },
    env: { CHAOS_SCHEDULE: 'false', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint },
  });
  natsUrl = stack.natsUrl;
  env = { ...stack.env, NATS_URL: natsUrl, VIGIL_JAEGER_URL: 'http://jaeger.test:16686' };
}, 120_000);

afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
  await receiver[Symbol.asyncDispose]();
});

describe('vigil publish', () => {
  it('validates, publishes, waits and prints the scores as a table with the trace link (user flow 1)', async () => {
    const r = await vigil(['publish', 'validation.requested', '--suite', 'smoke', '--reason', 'e2e', '--wait']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^published validation.requested \S+ \(stream EVENTS, sequence \d+\)$/);
    expect(lines[1]).toMatch(/^trace [\da-f]{32} {2}http:\/\/jaeger.test:16686\/trace\/[\da-f]{32}$/);
    expect(lines[2]).toMatch(/^COMPONENT\s+WEIGHT\s+SCORE\s+STATUS\s+PASSED\s+NOT PASSED$/);
    expect(lines[3]).toMatch(/^database\s+0\.75\s+10\.0\s+PASS\s+1\/1$/);
    expect(lines[4]).toMatch(
      /^bus\s+0\.25\s+5\.0\s+FAIL\s+1\/2\s+nowhere: ERROR \(127\.0\.0\.1:1 does not accept connections/,
    );
    expect(lines[5]).toMatch(/^smoke: PASS, score 8\.\d of 10 \(run \S+, \d+ ms\)$/);
  });

  it('refuses bad input before sending, with one line naming what is wrong', async () => {
    const secretFile = join(await mkdtemp(join(tmpdir(), 'vigil-cli-')), 'shadow');
    await writeFile(secretFile, 'root:$y$j9T$notjson:19000:0:99999:7:::\n', { mode: 0o600 });
    const cases: [string[], RegExp][] = [
      [['publish', 'validation.requested', '--suite'], /^vigil: --suite needs a value$/],
      [['publish', 'validation.requested', '--suit', 'smoke'], /data\.suite: .*data\.suit: unknown field/],
      [['publish', 'validation.exploded'], /^vigil: unknown event type 'validation.exploded'/],
      [
        ['publish', 'validation.requested', '--data', '@/nonexistent.json'],
        /--data @\/nonexistent.json: cannot read it \(ENOENT\)/,
      ],
      [['publish', 'slo.burn', '--data', '{"slo": 1}', '--wait'], /^vigil: invalid data for 'slo.burn': data.slo: /],
      [['replay'], /needs exactly one of --since DURATION, --from-seq N, --last N/],
      [['replay', '--since', 'yesterday'], /--since "yesterday" is not a duration/],
      [['replay', '--since', '99999999d'], /^vigil: --since 99999999d reaches too far back: at most 3650d$/],
      [['replay', '--since', '-5h'], /^vigil: --since -5h: a value cannot start with '-'/],
      [['replay', '--from-seq', '-1'], /^vigil: --from-seq -1: a value cannot start with '-'/],
      [['replay', '--from-seq=-1'], /^vigil: --from-seq "-1" must be a whole number ≥ 1$/],
      // A file that is not JSON: its contents (a password file's, say) are not echoed.
      [
        ['publish', 'validation.requested', '--data', `@${secretFile}`],
        new RegExp(`^vigil: ${secretFile} is not JSON$`),
      ],
      [['tail', 'no.such.type'], /unknown event type 'no.such.type'/],
      [['streams', '--bogus'], /^vigil: unknown option '--bogus'$/],
      [['frobnicate'], /^vigil: unknown command 'frobnicate'; see vigil --help$/],
    ];
    for (const [args, message] of cases) {
      const r = await vigil(args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr.trim(), args.join(' ')).toMatch(message);
    }
    // --data from standard input, merged under the flags.
    const ok = await vigil(
      ['publish', 'validation.requested', '--data', '-', '--json'],
      '{"suite":"smoke","reason":"stdin"}',
    );
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ type: 'validation.requested', stream: 'EVENTS' });
    const help = await vigil(['publish', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage:\n {2}vigil publish TYPE/);
  });
});

describe('one trace across every hop (user flow 4)', () => {
  it('the CLI publish, the validator receive and run, the outbox write, the relay publish and the slo-engine and anomaly receives share one trace, each with the right parent; vigil trace prints it', async () => {
    const r = await vigil(['publish', 'validation.requested', '--suite', 'smoke', '--wait', '--json']);
    expect(r.code).toBe(0);
    const published = JSON.parse(r.stdout) as { id: string; traceId: string; answer: VigilEvent };
    const traceId = published.traceId;
    const find = (service: string, name: string, spans: ReceivedSpan[]) =>
      spans.find((s) => s.service === service && s.name === name);
    const spans = await waitFor(
      () => {
        const t = receiver.trace(traceId);
        const wanted: [string, string][] = [
          ['vigil-cli', 'publish events.validation.requested'],
          ['validator', 'process events.validation.requested'],
          ['validator', 'validation run smoke'],
          ['validator', 'outbox write events.validation.completed'],
          ['outbox-relay', 'publish events.validation.completed'],
          ['slo-engine', 'process events.validation.completed'],
          ['anomaly', 'process events.validation.completed'],
        ];
        return wanted.every(([service, name]) => find(service, name, t)) ? t : undefined;
      },
      { timeoutMs: 30_000, message: `every hop's span in trace ${traceId}` },
    );
    const span = (service: string, name: string) => find(service, name, spans)!;
    const cliPublish = span('vigil-cli', 'publish events.validation.requested');
    const receive = span('validator', 'process events.validation.requested');
    const run = span('validator', 'validation run smoke');
    const write = span('validator', 'outbox write events.validation.completed');
    const relay = span('outbox-relay', 'publish events.validation.completed');
    expect(cliPublish.parentSpanId).toBeUndefined();
    expect(receive.parentSpanId).toBe(cliPublish.spanId);
    expect(run.parentSpanId).toBe(receive.spanId);
    expect(write.parentSpanId).toBe(receive.spanId);
    expect(relay.parentSpanId).toBe(write.spanId);
    expect(span('slo-engine', 'process events.validation.completed').parentSpanId).toBe(relay.spanId);
    expect(span('anomaly', 'process events.validation.completed').parentSpanId).toBe(relay.spanId);

    const t = await vigil(['trace', published.answer.id, '--json']);
    expect(t.code).toBe(0);
    expect(JSON.parse(t.stdout)).toEqual({
      id: published.answer.id,
      seq: expect.any(Number),
      type: 'validation.completed',
      traceId,
      jaegerUrl: `http://jaeger.test:16686/trace/${traceId}`,
    });
    const missing = await vigil(['trace', 'no-such-event', '--since', '1h']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^vigil: no event no-such-event in EVENTS within the last 1h\n$/);
  });
});

describe('tools that subscribe and replay (user flows 2 and 3)', () => {
  it('a durable tail gets every result, also those published while it was stopped', async () => {
    const first = vigilLive(['tail', 'validation.completed', '--durable', 'e2e-tool', '--json']);
    const a = JSON.parse((await vigil(['publish', 'validation.requested', '--suite', 'smoke', '--json'])).stdout) as {
      id: string;
    };
    await waitFor(() => first.out().includes(a.id), { timeoutMs: 30_000, message: 'the tail to print the result' });
    first.child.kill('SIGINT');
    expect(await first.exit).toBe(0);

    // Published while no tail runs.
    const b = JSON.parse(
      (await vigil(['publish', 'validation.requested', '--suite', 'smoke', '--wait', '--json'])).stdout,
    ) as { id: string };
    const c = JSON.parse(
      (await vigil(['publish', 'validation.requested', '--suite', 'smoke', '--wait', '--json'])).stdout,
    ) as { id: string };

    const second = vigilLive(['tail', 'validation.completed', '--durable', 'e2e-tool', '--json']);
    await waitFor(() => second.out().includes(c.id), { timeoutMs: 30_000, message: 'the resumed tail to catch up' });
    second.child.kill('SIGINT');
    expect(await second.exit).toBe(0);
    const got = jsonLines<VigilEvent<'validation.completed'>>(second.out()).map((e) => e.data.requestId);
    expect(got).toEqual([b.id, c.id]);

    // One line per event without --json.
    // A tail without a durable name starts at new events: publish until it has caught one.
    const plain = vigilLive(['tail']);
    const ids: string[] = [];
    const seen = await waitFor(
      async () => {
        const d = JSON.parse(
          (await vigil(['publish', 'validation.requested', '--suite', 'smoke', '--json'])).stdout,
        ) as {
          id: string;
        };
        ids.push(d.id);
        return ids.find((id) => plain.out().includes(id));
      },
      { timeoutMs: 30_000, intervalMs: 500, message: 'the plain tail' },
    );
    plain.child.kill('SIGINT');
    expect(plain.out()).toMatch(new RegExp(`validation\\.requested\\s+${seen}\\s+smoke`));
  });

  it('replay of the last hour returns the history in stream order and ends', async () => {
    const r = await vigil(['replay', '--since', '1h']);
    expect(r.code).toBe(0);
    const lines = jsonLines<{ seq: number; storedAt: string; event: VigilEvent }>(r.stdout);
    expect(lines.length).toBeGreaterThanOrEqual(8);
    expect(lines.map((l) => l.seq)).toEqual([...lines.map((l) => l.seq)].sort((x, y) => x - y));
    const only = jsonLines<{ event: VigilEvent }>(
      (await vigil(['replay', '--since', '1h', '--type', 'validation.completed'])).stdout,
    );
    expect(only.length).toBeGreaterThan(0);
    expect(new Set(only.map((l) => l.event.type))).toEqual(new Set(['validation.completed']));
    const lastTwo = jsonLines<{ seq: number }>((await vigil(['replay', '--last', '2'])).stdout);
    expect(lastTwo).toHaveLength(2);
    expect(lastTwo[0]!.seq).toBeLessThan(lastTwo[1]!.seq);
    expect(lastTwo[0]!.seq).toBeGreaterThanOrEqual(lines.at(-2)!.seq);
    const from = lines[2]!.seq;
    const until = lines[4]!.seq;
    const range = jsonLines<{ seq: number }>(
      (await vigil(['replay', '--from-seq', String(from), '--until', String(until)])).stdout,
    );
    expect(range.map((l) => l.seq)).toEqual([from, lines[3]!.seq, until]);
  });
});

describe('output through a pipe', () => {
  it('on a terminal, escape sequences in event data are shown escaped, never run (a real pty through script(1))', async () => {
    const id = `tty${Date.now().toString(36)}`;
    const ns = namespaceFor(id);
    const nc = await connect({ servers: natsUrl });
    try {
      await ensureStreams(nc, { ns });
      // Clear the screen, retitle the window (OSC), a C1 CSI, and a forged line.
      const hostile = 'x\u001b[2J\u001b]0;pwned\u0007\u009b31m\r\nforged';
      await createPublisher({ js: jetstream(nc), ns, source: 'vigil/e2e' }).publish('sli.observed', {
        sli: hostile,
        service: 'e2e',
        good: 1,
        total: 1,
      });
      const command = [process.execPath, cli, 'replay', '--last', '1'].map((a) => `'${a}'`).join(' ');
      const r = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
        const child = spawn('script', ['-qec', command, '/dev/null'], {
          env: { ...env, VIGIL_NAMESPACE: id },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, out }));
      });
      expect(r.code).toBe(0);
      expect(r.out).toContain('x\\u001b[2J\\u001b]0;pwned\\u0007\\u009b31m\\r\\nforged');
      // Not one escape or C1 byte reached the terminal (the pty's own line ends aside).
      // eslint-disable-next-line no-control-regex -- looking for control characters is the point
      expect(r.out.replace(/\r\n/g, '\n')).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
    } finally {
      await nc.close();
    }
  });

  it('a slow reader gets every one of 5,000 replayed events; a reader that stops early (| head) ends it quietly with 0', async () => {
    // A namespace of its own: 5,000 events that no service of the stack consumes.
    const id = `pipe${Date.now().toString(36)}`;
    const ns = namespaceFor(id);
    const nc = await connect({ servers: natsUrl });
    try {
      await ensureStreams(nc, { ns });
      const publisher = createPublisher({ js: jetstream(nc), ns, source: 'vigil/e2e' });
      const total = 5000;
      for (let i = 0; i < total; i += 500) {
        await Promise.all(
          Array.from({ length: 500 }, (_, j) =>
            publisher.publish('sli.observed', { sli: 'pipe', service: 'e2e', good: i + j, total: i + j + 1 }),
          ),
        );
      }
      const pipeEnv = { ...env, VIGIL_NAMESPACE: id };

      // The reader takes a chunk, then pauses, so the pipe is full most of the time.
      const slow = spawn(process.execPath, [cli, 'replay', '--from-seq', '1'], {
        env: pipeEnv,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let text = '';
      let stderr = '';
      slow.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      slow.stdout.on('data', (d: Buffer) => {
        text += d.toString();
        slow.stdout.pause();
        setTimeout(() => slow.stdout.resume(), 5);
      });
      const code = await new Promise<number | null>((r) => slow.once('close', r));
      expect(stderr).toBe('');
      expect(code).toBe(0);
      const lines = text.trimEnd().split('\n');
      expect(lines).toHaveLength(total);
      expect(lines.map((l) => (JSON.parse(l) as { seq: number }).seq)).toEqual(
        Array.from({ length: total }, (_, i) => i + 1),
      );

      // `| head -1`: the reader closes the pipe after the first line.
      const head = spawn(process.execPath, [cli, 'replay', '--from-seq', '1'], {
        env: pipeEnv,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let headErr = '';
      head.stderr.on('data', (d: Buffer) => (headErr += d.toString()));
      head.stdout.once('data', () => head.stdout.destroy());
      const headCode = await new Promise<number | null>((r) => head.once('close', r));
      expect(headErr).toBe('');
      expect(headCode).toBe(0);
    } finally {
      const jsm = await jetstreamManager(nc);
      for (const stream of [ns.stream, ns.deadLetterStream]) await jsm.streams.delete(stream).catch(() => undefined);
      await nc.close();
    }
  });
});

describe('dead letters and streams', () => {
  it('vigil dlq lists dead letters with reasons, shows one, and re-drives it to its original subject', async () => {
    const nc = await connect({ servers: natsUrl });
    await nc.flush();
    const { jetstream } = await import('@nats-io/jetstream');
    await jetstream(nc).publish('events.validation.requested', new TextEncoder().encode('not a cloud event'));
    await nc.close();
    const listed = await waitFor(
      async () => {
        const r = await vigil(['dlq', 'list', '--json']);
        const all = jsonLines<{
          seq: number;
          consumer: string;
          reason: string;
          originalSubject: string;
          originalSequence: number;
        }>(r.stdout);
        return all.find((l) => l.consumer === 'validator');
      },
      { timeoutMs: 30_000, message: 'the validator to dead-letter the message' },
    );
    expect(listed).toMatchObject({
      originalSubject: 'events.validation.requested',
      reason: expect.stringMatching(/\S/),
    });
    const plain = await vigil(['dlq']);
    expect(plain.stdout).toContain(`#${listed.seq}  `);
    const shown = JSON.parse((await vigil(['dlq', 'show', String(listed.seq)])).stdout) as {
      body: unknown;
      seq: number;
    };
    expect(shown).toMatchObject({ seq: listed.seq, body: 'not a cloud event' });

    const redrive = await vigil(['dlq', 'redrive', String(listed.seq)]);
    expect(redrive.code).toBe(0);
    expect(redrive.stdout).toMatch(
      new RegExp(`^re-drove #${listed.seq} to events.validation.requested \\(stream EVENTS, sequence (\\d+)\\)\\n$`),
    );
    const newSeq = Number(/sequence (\d+)/.exec(redrive.stdout)![1]);
    // Gone from DEADLETTER; still not an event, so the validator dead-letters the re-driven copy.
    await waitFor(
      async () => {
        const all = jsonLines<{ seq: number; consumer: string; originalSequence: number }>(
          (await vigil(['dlq', 'list', '--json'])).stdout,
        );
        return (
          !all.some((l) => l.seq === listed.seq) &&
          all.some((l) => l.consumer === 'validator' && l.originalSequence === newSeq)
        );
      },
      { timeoutMs: 30_000, message: 'the re-driven copy to be dead-lettered again' },
    );
    const unknown = await vigil(['dlq', 'show', '999999']);
    expect(unknown.stderr).toMatch(/^vigil: no dead letter #999999 in DEADLETTER\n$/);
  });

  it('a request the validator refuses (unknown suite or component) is answered with the refusal, exit 3', async () => {
    const r = await vigil([
      'publish',
      'validation.requested',
      '--suite',
      'no-such-suite',
      '--wait',
      '--timeout',
      '60s',
    ]);
    expect(r.code).toBe(3);
    expect(r.stdout.trim().split('\n').at(-1)).toBe(
      "refused by validator: UNKNOWN_SUITE: unknown suite 'no-such-suite' (known: smoke)",
    );
    const c = await vigil([
      'publish',
      'validation.requested',
      '--suite',
      'smoke',
      '--components',
      '["nope"]',
      '--wait',
      '--json',
    ]);
    expect(c.code).toBe(3);
    expect(JSON.parse(c.stdout)).toMatchObject({
      refused: {
        code: 'UNKNOWN_COMPONENT',
        consumer: 'validator',
        reason: "suite 'smoke' has no component 'nope' (it has: database, bus)",
      },
    });
  });

  it('vigil streams shows the streams and every consumer with its lag', async () => {
    const r = await vigil(['streams', '--json']);
    expect(r.code).toBe(0);
    const streams = jsonLines<{ name: string; messages: number; consumers: { name: string; pending: number }[] }>(
      r.stdout,
    );
    const events = streams.find((s) => s.name === 'EVENTS')!;
    expect(events.messages).toBeGreaterThan(0);
    expect(events.consumers.map((c) => c.name)).toEqual(
      expect.arrayContaining(['validator', 'slo-engine', 'anomaly', 'chaos', 'chaos-aborts', 'chaos-validations']),
    );
    expect(streams.map((s) => s.name)).toContain('DEADLETTER');
    const table = await vigil(['streams']);
    expect(table.stdout).toMatch(/^STREAM\s+MESSAGES\s+BYTES\s+FIRST\s+LAST\s+REPLICAS\s+SUBJECTS\n/);
    expect(table.stdout).toMatch(/\nSTREAM\s+CONSUMER\s+LAG\s+ACK PENDING\s+REDELIVERED\s+FILTER\n/);
    expect(table.stdout).toMatch(/EVENTS\s+validator\s+\d+/);
  });
});
