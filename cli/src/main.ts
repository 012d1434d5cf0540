#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { readFileSync } from 'node:fs';
import { namespaceFor, natsAuthorization } from '@vigil/events';
import { startTelemetry } from '@vigil/service-kit';
import { jaegerUrl, openBus, requireStream, type Bus } from './bus.js';
import { abortExperiment } from './chaos.js';
import { dlqCommand, findEvent, replayCommand, tailCommand } from './commands/history.js';
import { parsePublishArgs, publishCommand } from './commands/publish.js';
import { sloExportCommand, slosCommand } from './commands/slos.js';
import { statusCommand } from './commands/status.js';
import { streamsCommand } from './commands/streams.js';
import { readEnv, type CliEnv } from './config.js';
import { escapeControls, exitQuietlyOnClosedPipe, exitWhenFlushed, parseSince, terminalOutput } from './output.js';
import { portsFrom, runAnomalyBacktest } from './services.js';
import { up } from './up.js';

const usage = `vigil — event-driven checks for a running system

Usage:
  vigil up [--own-servers] [--demo] bring the local stack up (NATS, PostgreSQL, streams, the five
                                    services); --demo also starts a container opted in to chaos
                                    experiments (Docker engine needed); Ctrl-C stops it
  vigil publish TYPE [--data @file.json | --data '{…}' | --data -] [--FIELD VALUE …]
                [--wait] [--timeout 2m] [--json]
                                    validate and publish an event of the registry; prints its id,
                                    stream sequence and trace link. --wait waits for the answer
                                    (validation.completed; chaos.completed/aborted) and prints it;
                                    exit 3 when it failed
  vigil tail [TYPES…] [--durable NAME] [--json]
                                    live events, one line each (or JSON lines); a durable tail
                                    resumes where it stopped; under NATS_USER it is that user's
                                    own (NAME-<hmac>), which no other user can find
  vigil replay (--since 2h | --from-seq N | --last N) [--until TIME|SEQ] [--type TYPE …]
                                    history as JSON lines, in order; ends at the last message
  vigil dlq [list | show SEQ… | redrive SEQ… | redrive --all] [--json]
                                    dead letters with their reasons; re-drive sends them back to
                                    their original subject
  vigil streams [--json]            streams and consumers: messages, bytes, times, lag
  vigil slos [NAME] [--history [--window 30d] [--step 1h]] [--json]
                                    SLOs with budget left and firing alerts; NAME: its tiers and
                                    burn rates; --history: budget and burn rates over time
  vigil slo export --prometheus [NAME…]
                                    Prometheus recording and alerting rules equivalent to the
                                    engine's tiers, for every SLO or the ones named
  vigil status [--watch] [--json]   the overview of the status service: components, SLO budgets,
                                    firing alerts, running experiments; --watch prints it again on
                                    every change (VIGIL_STATUS_URL, VIGIL_SLO_ENGINE_URL)
  vigil trace EVENT_ID [--since 7d] [--json]
                                    the trace id of an event and its Jaeger URL
  vigil chaos abort ID [--request] [--reason TEXT] [--by NAME]
                                    stop a running chaos experiment and roll it back now (ID: the
                                    experiment id, or with --request the chaos.requested event id)
  vigil anomaly backtest FILE.csv [--config anomaly.yaml] [--series NAME]
                                    the anomaly detector run online over timestamp,value rows
                                    (ISO 8601 or epoch seconds) as the service runs it; prints
                                    timestamp,value,score,alert per row
  vigil nats-auth                   nats-server's authorization block for the namespace: a
                                    least-privilege user per service, client, tool and admin, with
                                    passwords read from VIGIL_NATS_<USER>_PASSWORD
  vigil --help                      this text; every command takes --help

Environment: NATS_URL (default nats://127.0.0.1:4222; several separated by commas), NATS_USER,
NATS_PASSWORD or NATS_PASSWORD_FILE, NATS_TLS_CA_FILE, VIGIL_NAMESPACE (default: none),
VIGIL_JAEGER_URL (default http://127.0.0.1:16686), OTEL_EXPORTER_OTLP_ENDPOINT (export the CLI's
spans), DATABASE_URL, VIGIL_DATA_DIR (default .vigil), VIGIL_REPLICAS (default 1), LOG_LEVEL.
Errors: one line on stderr and exit 1.`;

/** The usage lines of one command (its block in the text above). */
function helpFor(command: string): string {
  const lines = usage.split('\n');
  const at = lines.findIndex((l) => l.startsWith(`  vigil ${command}`));
  if (at < 0) return usage;
  let end = at + 1;
  while (end < lines.length && /^ {3,}/.test(lines[end]!)) end++;
  return ['Usage:', ...lines.slice(at, end)].join('\n');
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

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${usage}\n`);
    return command === undefined ? 2 : 0;
  }
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${helpFor(command)}\n`);
    return 0;
  }
  const env = readEnv(process.env);
  const out = terminalOutput();
  const opts = <O extends Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>>(
    options: O,
  ) => {
    try {
      return parseArgs({ args, allowPositionals: true, strict: true, options });
    } catch (e) {
      // node's own text for `--since -5h` is three lines about ambiguity; say it in one.
      const ambiguous = /^Option '(-[^']*)' argument is ambiguous/.exec((e as Error).message);
      if (ambiguous === null) throw e;
      const flag = ambiguous[1] as string;
      const value = args[args.indexOf(flag) + 1] ?? '';
      throw new Error(`${flag} ${value}: a value cannot start with '-' (durations and sequence numbers are positive)`);
    }
  };
  switch (command) {
    case 'up': {
      const { values } = opts({ 'own-servers': { type: 'boolean' }, demo: { type: 'boolean' } });
      const logger = pino({ level: env.LOG_LEVEL }, pino.destination(2));
      const stack = await up({
        env,
        ownServers: values['own-servers'] === true,
        demo: values.demo === true,
        logger,
        print: (l) => process.stdout.write(`${l}\n`),
      });
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      process.stdout.write('vigil: stopping…\n');
      await stack.stop();
      process.stdout.write('vigil: stopped\n');
      return 0;
    }
    case 'publish': {
      const a = parsePublishArgs(args, () => readFileSync(0, 'utf8'));
      // Spans are always made, so the event carries a trace id; exported when OTEL_EXPORTER_OTLP_ENDPOINT is set.
      const telemetry = startTelemetry({ serviceName: 'vigil-cli', endpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT });
      try {
        return await withBus(env, (bus) => publishCommand(bus, env, a, out));
      } finally {
        await telemetry.shutdown();
      }
    }
    case 'tail': {
      const { values, positionals } = opts({ durable: { type: 'string' }, json: { type: 'boolean' } });
      const stop = new AbortController();
      process.once('SIGINT', () => stop.abort());
      process.once('SIGTERM', () => stop.abort());
      return withBus(env, (bus) =>
        tailCommand(
          bus,
          { types: positionals, durable: values.durable, json: values.json === true, signal: stop.signal },
          out,
        ),
      );
    }
    case 'replay': {
      const { values, positionals } = opts({
        since: { type: 'string' },
        'from-seq': { type: 'string' },
        last: { type: 'string' },
        until: { type: 'string' },
        type: { type: 'string', multiple: true },
      });
      if (positionals.length > 0) throw new Error(`unexpected argument '${positionals[0]}'; types go with --type`);
      return withBus(env, (bus) =>
        replayCommand(
          bus,
          {
            since: values.since,
            fromSeq: values['from-seq'],
            last: values.last,
            until: values.until,
            types: values.type ?? [],
          },
          out,
        ),
      );
    }
    case 'dlq': {
      const { values, positionals } = opts({ all: { type: 'boolean' }, json: { type: 'boolean' } });
      const [sub, ...seqs] = positionals;
      return withBus(
        env,
        (bus) => dlqCommand(bus, { sub, seqs, all: values.all === true, json: values.json === true }, out),
        'dlq',
      );
    }
    case 'streams': {
      const { values } = opts({ json: { type: 'boolean' } });
      return withBus(env, (bus) => streamsCommand(bus, { json: values.json === true }, out), 'none');
    }
    case 'trace': {
      const { values, positionals } = opts({ since: { type: 'string' }, json: { type: 'boolean' } });
      const [id, ...extra] = positionals;
      if (id === undefined || extra.length > 0) throw new Error('vigil trace takes one event id');
      const sinceMs = parseSince('--since', values.since ?? '7d');
      return withBus(env, async (bus) => {
        const stop = out.progress(`looking for event ${id} in ${bus.ns.stream}`);
        const found = await findEvent(bus, id, sinceMs).finally(stop);
        if (found === undefined)
          throw new Error(`no event ${id} in ${bus.ns.stream} within the last ${values.since ?? '7d'}`);
        const traceId = /^[\da-f]{2}-([\da-f]{32})-/.exec(String(found.event.extensions['traceparent'] ?? ''))?.[1];
        if (traceId === undefined)
          throw new Error(`event ${id} (#${found.seq}, ${found.event.type}) carries no traceparent`);
        const url = jaegerUrl(env, traceId);
        if (values.json === true) out.json({ id, seq: found.seq, type: found.event.type, traceId, jaegerUrl: url });
        else out.line(`${found.event.type} ${id} (#${found.seq})\ntrace ${traceId}  ${url}`);
        return 0;
      });
    }
    case 'chaos': {
      const { values, positionals } = opts({
        request: { type: 'boolean' },
        reason: { type: 'string' },
        by: { type: 'string' },
      });
      const [sub, id, ...extra] = positionals;
      if (sub !== 'abort') throw new Error(`unknown chaos command '${sub ?? ''}'; vigil chaos abort ID`);
      if (id === undefined || extra.length > 0) throw new Error('vigil chaos abort takes one experiment id');
      return withBus(env, async (bus) => {
        const r = await abortExperiment(bus, {
          id,
          byRequest: values.request === true,
          requestedBy: values.by ?? env.USER ?? 'vigil-cli',
          reason: values.reason ?? 'aborted from the command line',
        });
        out.line(`abort requested: event ${r.eventId} (stream sequence ${r.seq})`);
        return 0;
      });
    }
    case 'anomaly': {
      const [sub, ...rest] = args;
      if (sub !== 'backtest')
        throw new Error(`unknown anomaly command '${sub ?? ''}'; vigil anomaly backtest FILE.csv`);
      return runAnomalyBacktest(rest);
    }
    case 'status': {
      const { values, positionals } = opts({ json: { type: 'boolean' }, watch: { type: 'boolean' } });
      if (positionals.length > 0) throw new Error(`vigil status takes no arguments, got '${positionals[0]}'`);
      const stop = new AbortController();
      process.once('SIGINT', () => stop.abort());
      process.once('SIGTERM', () => stop.abort());
      const ports = portsFrom(env.VIGIL_PORT_BASE);
      return statusCommand(
        {
          statusUrl: env.VIGIL_STATUS_URL ?? `http://127.0.0.1:${ports.status}`,
          sloEngineUrl: env.VIGIL_SLO_ENGINE_URL ?? `http://127.0.0.1:${ports['slo-engine']}`,
        },
        {
          json: values.json === true,
          watch: values.watch === true,
          signal: stop.signal,
          ...(process.stdout.isTTY ? { clear: () => process.stdout.write('\x1b[H\x1b[2J') } : {}),
        },
        out,
      );
    }
    case 'slos': {
      const { values, positionals } = opts({
        history: { type: 'boolean' },
        window: { type: 'string' },
        step: { type: 'string' },
        json: { type: 'boolean' },
      });
      const [name, ...extra] = positionals;
      if (extra.length > 0) throw new Error(`vigil slos takes one SLO name at most, got '${extra[0]}' too`);
      if (values.history !== true && (values.window !== undefined || values.step !== undefined))
        throw new Error('--window and --step go with --history');
      const ports = portsFrom(env.VIGIL_PORT_BASE);
      return slosCommand(
        env.VIGIL_SLO_ENGINE_URL ?? `http://127.0.0.1:${ports['slo-engine']}`,
        {
          name,
          history: values.history === true,
          window: values.window,
          step: values.step,
          json: values.json === true,
        },
        out,
      );
    }
    case 'slo': {
      const { values, positionals } = opts({ prometheus: { type: 'boolean' } });
      const [sub, ...names] = positionals;
      if (sub !== 'export')
        throw new Error(`vigil slo takes export, got ${sub === undefined ? 'nothing' : `'${sub}'`}`);
      if (values.prometheus !== true) throw new Error('vigil slo export needs a format: --prometheus');
      const ports = portsFrom(env.VIGIL_PORT_BASE);
      return sloExportCommand(env.VIGIL_SLO_ENGINE_URL ?? `http://127.0.0.1:${ports['slo-engine']}`, names, out);
    }
    case 'nats-auth': {
      const { positionals } = opts({});
      if (positionals.length > 0) throw new Error('vigil nats-auth takes no arguments');
      out.line(natsAuthorization(namespaceFor(env.VIGIL_NAMESPACE)).trimEnd());
      return 0;
    }
    default:
      throw new Error(`unknown command '${command}'; see vigil --help`);
  }
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
