#!/usr/bin/env node
import { CommanderError, type Command } from 'commander';
import { pino } from 'pino';
import { readFileSync } from 'node:fs';
import { namespaceFor, natsAuthorization } from '@vigil/events';
import { startTelemetry } from '@vigil/service-kit';
import { jaegerUrl, openBus, requireStream, type Bus } from './bus.js';
import { abortExperiment } from './chaos.js';
import { dlqCommand, findEvent, replayCommand, tailCommand } from './commands/history.js';
import { publishCommand, publishData } from './commands/publish.js';
import { sloExportCommand, slosCommand } from './commands/slos.js';
import { statusCommand } from './commands/status.js';
import { streamsCommand } from './commands/streams.js';
import { readEnv, type CliEnv } from './config.js';
import { commandFor, newProgram, refuseDashValues, usageError } from './program.js';
import {
  escapeControls,
  exitQuietlyOnClosedPipe,
  exitWhenFlushed,
  parseSince,
  terminalOutput,
  type Output,
} from './output.js';
import { portsFrom, runAnomalyBacktest } from './services.js';
import { up } from './up.js';

/** Stops a long-running command on Ctrl-C or SIGTERM. */
function untilInterrupted(): AbortSignal {
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  process.once('SIGTERM', () => stop.abort());
  return stop.signal;
}

async function withBus<T>(
  env: CliEnv,
  run: (bus: Bus) => Promise<T>,
  streams: 'events' | 'dlq' | 'none' = 'events',
): Promise<T> {
  const bus = await openBus(env);
  try {
    if (streams !== 'none') await requireStream(bus, streams === 'dlq' ? bus.ns.deadLetterStream : bus.ns.stream);
    return await run(bus);
  } finally {
    await bus.close();
  }
}

type Run = (...args: never[]) => Promise<number>;

/**
 * The commands, each with its synopsis (`usage`), description and options where it is defined;
 * the help is made from them (program.ts). An action resolves to the exit code.
 */
// Over 60 lines: declarations, one block per command (synopsis, description, options, action); the actions call out to commands/.
function commands(ctx: { env: () => CliEnv; out: Output; setCode: (code: number) => void }): Command {
  const { env, out } = ctx;
  const program = newProgram('event-driven checks for a running system');
  const act =
    <F extends Run>(f: F) =>
    async (...args: Parameters<F>) =>
      ctx.setCode(await f(...args));
  const urls = () => {
    const e = env();
    const ports = portsFrom(e.VIGIL_PORT_BASE);
    return {
      status: e.VIGIL_STATUS_URL ?? `http://127.0.0.1:${ports.status}`,
      sloEngine: e.VIGIL_SLO_ENGINE_URL ?? `http://127.0.0.1:${ports['slo-engine']}`,
    };
  };

  program
    .command('up')
    .usage('[--own-servers] [--demo]')
    .description(
      'bring the local stack up (NATS, PostgreSQL, streams, the five services); --demo also starts a container opted in to chaos experiments (Docker engine needed); Ctrl-C stops it',
    )
    .option('--own-servers', 'start NATS and PostgreSQL of its own, even when servers answer on the default ports')
    .option('--demo', 'also start a container opted in to chaos experiments')
    .action(
      act(async (o: { ownServers?: boolean; demo?: boolean }) => {
        const e = env();
        const logger = pino({ level: e.LOG_LEVEL }, pino.destination(2));
        const print = (l: string) => process.stdout.write(`${l}\n`);
        const stack = await up({ env: e, ownServers: o.ownServers === true, demo: o.demo === true, logger, print });
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        print('vigil: stopping…');
        await stack.stop();
        print('vigil: stopped');
        return 0;
      }),
    );

  program
    .command('publish')
    .usage("TYPE [--data @file.json | --data '{…}' | --data -] [--FIELD VALUE …] [--wait] [--timeout 2m] [--json]")
    .description(
      'validate and publish an event of the registry; prints its id, stream sequence and trace link. --wait waits for the answer (validation.completed; chaos.completed/aborted) and prints it; exit 3 when it failed',
    )
    .argument('[TYPE]', 'an event type of the registry (validation.requested, chaos.requested…)')
    .option('--data <json>', "the event's data: @file.json, JSON text, or - for standard input")
    .option('--wait', 'wait for the answer and print it')
    .option('--timeout <duration>', 'how long --wait waits', '2m')
    .option('--json', 'print JSON')
    // --FIELD VALUE pairs set data fields: they are not options of this command.
    .allowUnknownOption()
    .allowExcessArguments()
    .action(
      act(
        async (
          type: string | undefined,
          o: { data?: string; wait?: boolean; timeout: string; json?: boolean },
          cmd: Command,
        ) => {
          if (type === undefined || type.startsWith('--'))
            throw new Error('vigil publish needs an event type, e.g. validation.requested');
          const a = {
            type,
            data: publishData(o.data, cmd.args.slice(1), () => readFileSync(0, 'utf8')),
            wait: o.wait === true,
            timeoutMs: parseSince('--timeout', o.timeout),
            json: o.json === true,
          };
          const e = env();
          // Spans are always made, so the event carries a trace id; exported when OTEL_EXPORTER_OTLP_ENDPOINT is set.
          const telemetry = startTelemetry({ serviceName: 'vigil-cli', endpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT });
          try {
            return await withBus(e, (bus) => publishCommand(bus, e, a, out));
          } finally {
            await telemetry.shutdown();
          }
        },
      ),
    );

  program
    .command('tail')
    .usage('[TYPES…] [--durable NAME] [--json]')
    .description(
      "live events, one line each (or JSON lines); a durable tail resumes where it stopped; under NATS_USER it is that user's own (NAME-<hmac>), which no other user can find",
    )
    .argument('[TYPES...]', 'only these event types')
    .option('--durable <name>', 'resume where the tail of this name stopped')
    .option('--json', 'JSON lines')
    .action(
      act(async (types: string[], o: { durable?: string; json?: boolean }) =>
        withBus(env(), (bus) =>
          tailCommand(bus, { types, durable: o.durable, json: o.json === true, signal: untilInterrupted() }, out),
        ),
      ),
    );

  program
    .command('replay')
    .usage('(--since 2h | --from-seq N | --last N) [--until TIME|SEQ] [--type TYPE …]')
    .description('history as JSON lines, in order; ends at the last message')
    .option('--since <duration>', 'from this long ago (90s, 30m, 2h, 7d)')
    .option('--from-seq <n>', 'from this stream sequence')
    .option('--last <n>', 'the last N messages')
    .option('--until <time|seq>', 'up to this time or stream sequence')
    .option('--type <type>', 'only this type (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .action(
      act(async (o: { since?: string; fromSeq?: string; last?: string; until?: string; type?: string[] }) =>
        withBus(env(), (bus) =>
          replayCommand(
            bus,
            { since: o.since, fromSeq: o.fromSeq, last: o.last, until: o.until, types: o.type ?? [] },
            out,
          ),
        ),
      ),
    );

  program
    .command('dlq')
    .usage('[list | show SEQ… | redrive SEQ… | redrive --all] [--json]')
    .description('dead letters with their reasons; re-drive sends them back to their original subject')
    .argument('[action]', 'list (the default), show or redrive')
    .argument('[SEQ...]', 'dead-letter stream sequences')
    .option('--all', 'with redrive: every dead letter')
    .option('--json', 'print JSON')
    .action(
      act(async (sub: string | undefined, seqs: string[], o: { all?: boolean; json?: boolean }) =>
        withBus(env(), (bus) => dlqCommand(bus, { sub, seqs, all: o.all === true, json: o.json === true }, out), 'dlq'),
      ),
    );

  program
    .command('streams')
    .usage('[--json]')
    .description('streams and consumers: messages, bytes, times, lag')
    .option('--json', 'print JSON')
    .action(
      act(async (o: { json?: boolean }) =>
        withBus(env(), (bus) => streamsCommand(bus, { json: o.json === true }, out), 'none'),
      ),
    );

  program
    .command('slos')
    .usage('[NAME] [--history [--window 30d] [--step 1h]] [--json]')
    .description(
      'SLOs with budget left and firing alerts; NAME: its tiers and burn rates; --history: budget and burn rates over time',
    )
    .argument('[NAME]', 'one SLO')
    .option('--history', 'budget and burn rates over time')
    .option('--window <duration>', 'with --history: how far back (default 30d)')
    .option('--step <duration>', 'with --history: the step (default 1h)')
    .option('--json', 'print JSON')
    .action(
      act(
        async (name: string | undefined, o: { history?: boolean; window?: string; step?: string; json?: boolean }) => {
          if (o.history !== true && (o.window !== undefined || o.step !== undefined))
            throw new Error('--window and --step go with --history');
          const options = { name, history: o.history === true, window: o.window, step: o.step, json: o.json === true };
          return slosCommand(urls().sloEngine, options, out);
        },
      ),
    );

  program
    .command('slo')
    .command('export')
    .usage('--prometheus [NAME…]')
    .description(
      "Prometheus recording and alerting rules equivalent to the engine's tiers, for every SLO or the ones named",
    )
    .argument('[NAME...]', 'only these SLOs')
    .option('--prometheus', 'the format: Prometheus rule files')
    .action(
      act(async (names: string[], o: { prometheus?: boolean }) => {
        if (o.prometheus !== true) throw new Error('vigil slo export needs a format: --prometheus');
        return sloExportCommand(urls().sloEngine, names, out);
      }),
    );

  program
    .command('status')
    .usage('[--watch] [--json]')
    .description(
      'the overview of the status service: components, SLO budgets, firing alerts, running experiments; --watch prints it again on every change (VIGIL_STATUS_URL, VIGIL_SLO_ENGINE_URL)',
    )
    .option('--watch', 'print it again on every change')
    .option('--json', 'print JSON')
    .action(
      act(async (o: { watch?: boolean; json?: boolean }) => {
        const { status, sloEngine } = urls();
        const options = {
          json: o.json === true,
          watch: o.watch === true,
          signal: untilInterrupted(),
          ...(process.stdout.isTTY ? { clear: () => process.stdout.write('\x1b[H\x1b[2J') } : {}),
        };
        return statusCommand({ statusUrl: status, sloEngineUrl: sloEngine }, options, out);
      }),
    );

  program
    .command('trace')
    .usage('EVENT_ID [--since 7d] [--json]')
    .description('the trace id of an event and its Jaeger URL')
    .argument('<EVENT_ID>', 'the CloudEvents id')
    .option('--since <duration>', 'how far back to look', '7d')
    .option('--json', 'print JSON')
    .action(act(async (id: string, o: { since: string; json?: boolean }) => traceCommand(env(), id, o, out)));

  program
    .command('chaos')
    .command('abort')
    .usage('ID [--request] [--reason TEXT] [--by NAME]')
    .description(
      'stop a running chaos experiment and roll it back now (ID: the experiment id, or with --request the chaos.requested event id)',
    )
    .argument('<ID>', 'the experiment id (or the request id with --request)')
    .option('--request', 'ID is the chaos.requested event id')
    .option('--reason <text>', 'why', 'aborted from the command line')
    .option('--by <name>', 'who asks (default $USER)')
    .action(
      act(async (id: string, o: { request?: boolean; reason: string; by?: string }) => {
        const e = env();
        return withBus(e, async (bus) => {
          const request = {
            id,
            byRequest: o.request === true,
            requestedBy: o.by ?? e.USER ?? 'vigil-cli',
            reason: o.reason,
          };
          const r = await abortExperiment(bus, request);
          out.line(`abort requested: event ${r.eventId} (stream sequence ${r.seq})`);
          return 0;
        });
      }),
    );

  program
    .command('anomaly')
    .command('backtest')
    .usage('FILE.csv [--config anomaly.yaml] [--series NAME]')
    .description(
      'the anomaly detector run online over timestamp,value rows (ISO 8601 or epoch seconds) as the service runs it; prints timestamp,value,score,alert per row',
    )
    .argument('<FILE>', 'the CSV file')
    .option('--config <file>', "the anomaly service's configuration (default: the shipped one)")
    .option('--series <name>', 'the series whose detector settings apply')
    // The anomaly service's backtest entry parses them again: handed on as flags.
    .action(
      act(async (file: string, o: { config?: string; series?: string }) =>
        runAnomalyBacktest([
          file,
          ...(o.config === undefined ? [] : ['--config', o.config]),
          ...(o.series === undefined ? [] : ['--series', o.series]),
        ]),
      ),
    );

  program
    .command('nats-auth')
    .usage('')
    .description(
      "nats-server's authorization block for the namespace: a least-privilege user per service, client, tool and admin, with passwords read from VIGIL_NATS_<USER>_PASSWORD",
    )
    .action(
      act(async () => {
        out.line(natsAuthorization(namespaceFor(env().VIGIL_NAMESPACE)).trimEnd());
        return 0;
      }),
    );
  return program;
}

/** `vigil trace`: find the event, print its trace id and Jaeger link. */
async function traceCommand(env: CliEnv, id: string, o: { since: string; json?: boolean }, out: Output) {
  const sinceMs = parseSince('--since', o.since);
  return withBus(env, async (bus) => {
    const stop = out.progress(`looking for event ${id} in ${bus.ns.stream}`);
    const found = await findEvent(bus, id, sinceMs).finally(stop);
    if (found === undefined) throw new Error(`no event ${id} in ${bus.ns.stream} within the last ${o.since}`);
    const traceId = /^[\da-f]{2}-([\da-f]{32})-/.exec(String(found.event.extensions['traceparent'] ?? ''))?.[1];
    if (traceId === undefined)
      throw new Error(`event ${id} (#${found.seq}, ${found.event.type}) carries no traceparent`);
    const url = jaegerUrl(env, traceId);
    if (o.json === true) out.json({ id, seq: found.seq, type: found.event.type, traceId, jaegerUrl: url });
    else out.line(`${found.event.type} ${id} (#${found.seq})\ntrace ${traceId}  ${url}`);
    return 0;
  });
}

async function main(argv: string[]): Promise<number> {
  let code = 0;
  let env: CliEnv | undefined;
  const program = commands({
    env: () => (env ??= readEnv(process.env)),
    out: terminalOutput(),
    setCode: (c) => (code = c),
  });
  if (argv.length === 0 || argv[0] === 'help') {
    program.outputHelp();
    return argv.length === 0 ? 2 : 0;
  }
  const { cmd, rest } = commandFor(program, argv);
  // publish's --FIELD values are data, and may be anything.
  if (cmd.name() !== 'publish') refuseDashValues(cmd, rest);
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
    if (e.code === 'commander.helpDisplayed') return 0;
    throw usageError(e, program, argv);
  }
  return code;
}

exitQuietlyOnClosedPipe();
main(process.argv.slice(2)).then(
  (code) => exitWhenFlushed(code),
  (e: unknown) => {
    const message = e instanceof Error ? e.message : String(e);
    process.stderr.write(`vigil: ${process.stderr.isTTY ? escapeControls(message) : message}\n`);
    exitWhenFlushed(1);
  },
);
