#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { abortExperiment } from './chaos.js';
import { readEnv } from './config.js';
import { up } from './up.js';

const usage = `vigil — event-driven checks for a running system

Usage:
  vigil up [--own-servers]   bring the local stack up (NATS, PostgreSQL, streams); Ctrl-C stops it
  vigil chaos abort ID [--request] [--reason TEXT] [--by NAME]
                             stop a running chaos experiment and roll it back now (ID: the
                             experiment id, or with --request the chaos.requested event id)
  vigil --help

Environment: NATS_URL, DATABASE_URL (else local default ports, else spawned servers),
VIGIL_NAMESPACE (default: none), VIGIL_DATA_DIR (default .vigil), VIGIL_REPLICAS (default 1),
LOG_LEVEL (default info).`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      'own-servers': { type: 'boolean' },
      request: { type: 'boolean' },
      reason: { type: 'string' },
      by: { type: 'string' },
    },
  });
  const [command] = positionals;
  if (values.help || command === undefined) {
    process.stdout.write(`${usage}\n`);
    return command === undefined && !values.help ? 2 : 0;
  }
  const env = readEnv(process.env);
  const logger = pino({ level: env.LOG_LEVEL }, pino.destination(2));
  switch (command) {
    case 'up': {
      const stack = await up({
        env,
        ownServers: values['own-servers'] === true,
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
    case 'chaos': {
      const [, sub, id, ...extra] = positionals;
      if (sub !== 'abort') throw new Error(`unknown chaos command '${sub ?? ''}'; vigil chaos abort ID`);
      if (id === undefined || extra.length > 0) throw new Error('vigil chaos abort takes one experiment id');
      const r = await abortExperiment({
        natsUrl: env.NATS_URL ?? 'nats://127.0.0.1:4222',
        namespace: env.VIGIL_NAMESPACE,
        id,
        byRequest: values.request === true,
        requestedBy: values.by ?? process.env['USER'] ?? 'vigil-cli',
        reason: values.reason ?? 'aborted from the command line',
      });
      process.stdout.write(`abort requested: event ${r.eventId} (stream sequence ${r.seq})\n`);
      return 0;
    }
    default:
      throw new Error(`unknown command '${command}'; see vigil --help`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`vigil: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
