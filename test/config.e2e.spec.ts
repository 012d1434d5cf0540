import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDb } from '@vigil/service-kit';
import { createTestDatabase, ServiceProcess, waitFor } from '@vigil/testkit';

/**
 * Every config file and the environment, with each kind of invalid field, given to the real
 * service process: it exits with an error that names the file (or variable) and the field path,
 * before it has connected to anything — no stream, consumer or database schema appears.
 */
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
type Service = 'outbox-relay' | 'validator' | 'slo-engine' | 'anomaly' | 'chaos';

const suite = `name: s
interval: 5m
components:
  - name: bus
    weight: 1
    checks:
      - name: nats port
        kind: tcp
        timeout: 2s
        params: { host: 127.0.0.1, port: 4222 }
`;
const slo = `name: latency
service: vigil
sli:
  events:
    type: validation.completed
    each: check
    where: { kind: tcp }
    good: { durationMs: { lte: 100 } }
objective: 99
window: 30d
`;

/** `text` with `from` replaced by `to`; fails if `from` is not there (the case would test nothing). */
function edit(text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`test setup: '${from}' not in the config text`);
  return text.replace(from, to);
}

interface Case {
  readonly what: string;
  readonly service: Service;
  /** Files to write, relative to the case's folder. */
  readonly files?: Record<string, string>;
  /** Environment, with `{dir}` standing for the case's folder. */
  readonly env: Record<string, string>;
  readonly error: RegExp;
}

let anomaly = '';
let chaos = '';
const cases = (): Case[] => {
  const validator = (what: string, text: string, error: RegExp, more: Record<string, string> = {}): Case => ({
    what,
    service: 'validator',
    files: { 'suites/s.yaml': text, ...more },
    env: { VALIDATOR_SUITES_DIR: '{dir}/suites' },
    error,
  });
  const sloEngine = (what: string, text: string, error: RegExp): Case => ({
    what,
    service: 'slo-engine',
    files: { 'slos/latency.yaml': text },
    env: { SLO_DIR: '{dir}/slos' },
    error,
  });
  const file = (service: 'anomaly' | 'chaos', what: string, text: string, error: RegExp): Case => ({
    what,
    service,
    files: { [`${service}.yaml`]: text },
    env: { [service === 'anomaly' ? 'ANOMALY_CONFIG' : 'CHAOS_CONFIG']: `{dir}/${service}.yaml` },
    error,
  });
  const env = (service: Service, what: string, vars: Record<string, string>, error: RegExp): Case => ({
    what,
    service,
    env: vars,
    error,
  });
  return [
    validator(
      'YAML that does not parse',
      edit(suite, '    weight: 1', '   weight: 1'),
      /s\.yaml:\d+:\d+: not valid YAML/,
    ),
    validator(
      'an unknown field',
      edit(suite, 'weight: 1', 'weigth: 1'),
      /s\.yaml: components\[0\]: unknown field weigth/,
    ),
    validator('a wrong type', edit(suite, 'weight: 1', 'weight: heavy'), /s\.yaml: components\[0\]\.weight: /),
    validator(
      'a number out of range',
      edit(suite, 'port: 4222', 'port: 70000'),
      /s\.yaml: components\[0\]\.checks\[0\]\.params\.port: /,
    ),
    validator(
      'a value not in its set',
      edit(suite, 'kind: tcp', 'kind: ping'),
      /s\.yaml: components\[0\]\.checks\[0\]\.kind: /,
    ),
    validator('a missing field', edit(suite, 'name: s\n', ''), /s\.yaml: name: is required/),
    validator(
      'a bad duration',
      edit(suite, 'timeout: 2s', 'timeout: 2 parsecs'),
      /s\.yaml: components\[0\]\.checks\[0\]\.timeout: must be a duration/,
    ),
    validator(
      'a name over 200 characters',
      edit(suite, 'name: bus', `name: ${'b'.repeat(201)}`),
      /s\.yaml: components\[0\]\.name: must be at most 200 characters/,
    ),
    validator(
      'an unset variable without a default',
      edit(suite, 'host: 127.0.0.1', 'host: ${VIGIL_TEST_NO_SUCH_HOST}'),
      /s\.yaml:10: \$\{VIGIL_TEST_NO_SUCH_HOST\} is not set and has no default/,
    ),
    // Also shows the base suite is valid: the clash is found only once both files parse.
    validator('one suite in two files', suite, /t\.yaml: name: suite 's' is also defined in s\.yaml/, {
      'suites/t.yaml': suite,
    }),
    env(
      'validator',
      'a suites folder that is not there',
      { VALIDATOR_SUITES_DIR: '{dir}/none' },
      /none: cannot read the suite folder \(ENOENT\)/,
    ),
    sloEngine('an objective of 100 %', edit(slo, 'objective: 99', 'objective: 100'), /latency\.yaml: objective: /),
    sloEngine(
      'a misspelt event type (inside a union)',
      edit(slo, 'type: validation.completed', 'type: validation.complete'),
      /latency\.yaml: sli\.events\.type: /,
    ),
    sloEngine(
      'a condition on a field checks do not have',
      edit(slo, 'durationMs:', 'durationMS:'),
      /latency\.yaml: sli\.events\.good\.durationMS: 'durationMS' is not a field of each check of validation\.completed/,
    ),
    sloEngine('a bad window', edit(slo, 'window: 30d', 'window: a month'), /latency\.yaml: window: must be a duration/),
    sloEngine(
      'an alert tier longer than the window',
      `${slo}alerting: { tiers: [{ severity: page, long: 60d, short: 1h, burnRate: 2 }] }\n`,
      /latency\.yaml: alerting\.tiers\[0\]\.long: 60d is longer than the SLO window 30d/,
    ),
    // Also shows the base SLO is valid: the clash is found only once both files parse.
    {
      ...sloEngine('one SLO in two files', slo, /z\.yaml: name: SLO 'latency' is also defined in latency\.yaml/),
      files: { 'slos/latency.yaml': slo, 'slos/z.yaml': slo },
    },
    env('slo-engine', 'a folder without SLOs', { SLO_DIR: '{dir}' }, /: no SLO files/),
    file(
      'anomaly',
      'a count below its minimum',
      edit(anomaly, 'trees: 100', 'trees: -1'),
      /anomaly\.yaml: detector\.trees: /,
    ),
    file(
      'anomaly',
      'a bad duration (inside a union)',
      edit(anomaly, 'minGap: 10m', 'minGap: soon'),
      /anomaly\.yaml: detector\.minGap: must be a duration/,
    ),
    file(
      'anomaly',
      'a value field the event does not have',
      edit(anomaly, 'value: burnRateLong', 'value: burnRateLonger'),
      /anomaly\.yaml: series\[2\]\.events\.value: 'burnRateLonger' is not a field of each window of slo\.burn/,
    ),
    file(
      'anomaly',
      'an unknown field',
      edit(anomaly, 'trees: 100', 'tress: 100'),
      /anomaly\.yaml: detector: unknown field tress/,
    ),
    env(
      'anomaly',
      'a config file that is not there',
      { ANOMALY_CONFIG: '{dir}/none.yaml' },
      /none\.yaml: cannot read the file ANOMALY_CONFIG names \(ENOENT\)/,
    ),
    file('chaos', 'a score over 10', edit(chaos, 'minScore: 8.0', 'minScore: 11'), /chaos\.yaml: policy\.minScore: /),
    file(
      'chaos',
      'a cron hour of 25',
      edit(chaos, "cron: '0 18 * * wed'", "cron: '0 25 * * wed'"),
      /chaos\.yaml: schedules\[0\]\.cron: hour field: '25' is invalid \(.*\); it takes 0-23/,
    ),
    file(
      'chaos',
      'an experiment kind that does not exist',
      edit(chaos, 'kind: container-pause', 'kind: container-explode'),
      /chaos\.yaml: schedules\[0\]\.request\.kind: /,
    ),
    file(
      'chaos',
      'a blackout on no day',
      edit(chaos, 'days: [mon, tue, wed, thu, fri]', 'days: [someday]'),
      /chaos\.yaml: policy\.blackouts\[0\]\.days\[0\]: /,
    ),
    file(
      'chaos',
      'a time zone that does not exist',
      edit(chaos, 'timeZone: UTC', 'timeZone: Mars/Olympus_Mons'),
      /chaos\.yaml: policy\.timeZone: must be an IANA time zone/,
    ),
    file(
      'chaos',
      'a protected name that is a number',
      edit(chaos, 'protectedNames: [database', 'protectedNames: [7, database'),
      /chaos\.yaml: policy\.protectedNames\[0\]: /,
    ),
    env('outbox-relay', 'a port that is not a number', { PORT: 'http' }, /invalid environment: PORT: /),
    env(
      'validator',
      'a concurrency of 0',
      { VALIDATOR_CONCURRENCY: '0' },
      /invalid environment: VALIDATOR_CONCURRENCY: /,
    ),
    env('slo-engine', 'a log level that does not exist', { LOG_LEVEL: 'loud' }, /invalid environment: LOG_LEVEL: /),
    env(
      'anomaly',
      'a database URL of another kind',
      { DATABASE_URL: 'mysql://root@127.0.0.1/vigil' },
      /invalid environment: DATABASE_URL: must be a postgres/,
    ),
    env(
      'chaos',
      'a namespace that cannot name a stream',
      { VIGIL_NAMESPACE: 'a.b' },
      /invalid environment: VIGIL_NAMESPACE: /,
    ),
    env(
      'outbox-relay',
      'a NATS URL that is not one',
      { NATS_URL: 'nats://127.0.0.1:4222,:::' },
      /invalid environment: NATS_URL: /,
    ),
  ];
};

let database: Awaited<ReturnType<typeof createTestDatabase>>;
const nsId = `cfg${Date.now().toString(36)}`;
let base: string;

beforeAll(async () => {
  anomaly = await readFile(join(root, 'config/anomaly.yaml'), 'utf8');
  chaos = await readFile(join(root, 'config/chaos.yaml'), 'utf8');
  database = await createTestDatabase(inject('databaseUrl'), 'cfg');
  base = await mkdtemp(join(tmpdir(), 'vigil-config-'));
});

afterAll(async () => {
  await database?.drop();
  await rm(base, { recursive: true, force: true });
});

async function run(c: Case, i: number): Promise<{ code: number | null; stderr: string; started: boolean }> {
  const dir = join(base, String(i));
  for (const [name, text] of Object.entries(c.files ?? {})) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), text);
  }
  await mkdir(dir, { recursive: true });
  const env = Object.fromEntries(Object.entries(c.env).map(([k, v]) => [k, v.replaceAll('{dir}', dir)]));
  const p = ServiceProcess.start(c.service, {
    NATS_URL: inject('natsUrl'),
    DATABASE_URL: database.url,
    VIGIL_NAMESPACE: nsId,
    VALIDATOR_SCHEDULE: 'false',
    CHAOS_SCHEDULE: 'false',
    ...env,
  });
  await waitFor(() => p.child.exitCode !== null || p.child.signalCode !== null, {
    timeoutMs: 60_000,
    intervalMs: 50,
    message: `${c.service} to exit (${c.what})`,
  }).catch(async (e: unknown) => {
    await p.kill();
    throw e;
  });
  const code = await p.exited;
  return { code, stderr: p.stderrText, started: p.has(`${c.service} started`) };
}

describe('a bad config stops the start, naming the file and the field', () => {
  it('every config file and the environment, with each kind of invalid field', async () => {
    const all = cases();
    const results: { c: Case; code: number | null; stderr: string; started: boolean }[] = [];
    // Two at a time: each is a Node process starting from TypeScript.
    for (let i = 0; i < all.length; i += 2) {
      const batch = all.slice(i, i + 2);
      results.push(...(await Promise.all(batch.map(async (c, j) => ({ c, ...(await run(c, i + j)) })))));
    }
    const table: string[] = [];
    for (const { c, code, stderr, started } of results) {
      const label = `${c.service}: ${c.what}`;
      expect(started, label).toBe(false);
      expect(code, `${label}: ${stderr}`).toBe(1);
      expect(stderr, label).toMatch(c.error);
      table.push(`${label.padEnd(62)} ${stderr.trim().split('\n')[0]!.slice(0, 150)}`);
    }
    process.stdout.write(`\nconfig refusals (${results.length}):\n${table.join('\n')}\n`);

    // Nothing half-started: no stream or consumer in the namespace, no schema in the database.
    const nc = await connect({ servers: inject('natsUrl') });
    try {
      const jsm = await jetstreamManager(nc);
      const streams: string[] = [];
      for await (const s of jsm.streams.list()) streams.push(s.config.name);
      expect(streams.filter((s) => s.endsWith(`_${nsId}`))).toEqual([]);
    } finally {
      await nc.close();
    }
    const own = createDb<Record<string, never>>(database.url, { max: 1 });
    try {
      const r = await own.pool.query<{ name: string }>(
        `select schema_name as name from information_schema.schemata
         where schema_name not in ('public', 'information_schema') and schema_name not like 'pg\\_%'`,
      );
      expect(r.rows.map((x) => x.name)).toEqual([]);
    } finally {
      await own.db.destroy();
    }
  }, 600_000);
});
