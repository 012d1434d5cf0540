import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { dockerTestbed, type DockerTestbed } from '@vigil/docker/testing';
import { samples } from '@vigil/events/testing';
import {
  createEvent,
  encodeStructured,
  inboxPrefixFor,
  namespaceFor,
  natsAuthorization,
  natsRoles,
  privateDurableName,
  replay,
  subjectOf,
  type NatsRole,
  type Namespace,
  type VigilEvent,
} from '@vigil/events';
import { createTestDatabase, NatsServerProcess, ServiceProcess, waitFor } from '@vigil/testkit';
import { cliPath, runCli } from './support/cli.js';

/**
 * The stack with NATS authorization on: every service under its own least-privilege user (the
 * configuration `vigil nats-auth` renders), requests published by a `client`, results read by a
 * `tool`; what each user may not do is refused by the server; no secret reaches a log.
 */
const SERVICES = ['outbox-relay', 'validator', 'slo-engine', 'anomaly', 'chaos'] as const;
const secret = (what: string) => `${what}-${randomBytes(12).toString('hex')}`;
const passwords = Object.fromEntries(natsRoles.map((r) => [r, secret(`nats-${r}`)])) as Record<NatsRole, string>;
const dbPassword = secret('db');

let nats: NatsServerProcess;
let ns: Namespace;
let nsId: string;
let dir: string;
let bed: DockerTestbed;
let disposeDb: () => Promise<void>;
const procs = new Map<string, ServiceProcess>();
const connections: NatsConnection[] = [];

const as = async (role: NatsRole): Promise<NatsConnection> => {
  const nc = await connect({
    servers: nats.url,
    user: role,
    pass: passwords[role],
    inboxPrefix: inboxPrefixFor(role),
    name: `security-test-${role}`,
  });
  connections.push(nc);
  return nc;
};

const cliEnv = (role: NatsRole): NodeJS.ProcessEnv => ({
  ...process.env,
  NATS_URL: nats.url,
  NATS_USER: role,
  NATS_PASSWORD: passwords[role],
  VIGIL_NAMESPACE: nsId,
  LOG_LEVEL: 'warn',
});

beforeAll(async () => {
  nsId = `sec${Date.now().toString(36)}`;
  ns = namespaceFor(nsId);
  dir = await mkdtemp(join(tmpdir(), 'vigil-security-'));
  await writeFile(join(dir, 'auth.conf'), natsAuthorization(ns, passwords));
  // The relay reads its password from a file (a Docker secret), the others from the environment.
  await writeFile(join(dir, 'relay.password'), `${passwords['outbox-relay']}\n`);
  nats = await NatsServerProcess.start({ extraArgs: ['-c', join(dir, 'auth.conf')] });
  bed = await dockerTestbed('security');
  await bed.run({ name: 'opted-in', labels: { 'vigil.chaos/enabled': 'true' } });
  await bed.run({ name: 'shy' });

  const database = await createTestDatabase(inject('databaseUrl'), 'security');
  disposeDb = () => database[Symbol.asyncDispose]();
  const dbUrl = new URL(database.url);
  dbUrl.password = dbPassword; // trust authentication ignores it; the logs must not show it
  await mkdir(join(dir, 'suites'));
  await writeFile(
    join(dir, 'suites', 'sec.yaml'),
    `name: sec
components:
  - name: bus
    weight: 1
    checks: [{ name: nats answers, kind: nats, params: { jetstream: true } }]
`,
  );
  await writeFile(
    join(dir, 'chaos.yaml'),
    `policy: { maxScoreAge: 30m, minScore: 8 }\nverification: { timeout: 20s, suite: sec, validationTimeout: 30s }\n`,
  );
  const common = {
    NATS_URL: nats.url,
    DATABASE_URL: dbUrl.toString(),
    VIGIL_NAMESPACE: nsId,
    LOG_LEVEL: 'debug',
    VALIDATOR_SUITES_DIR: join(dir, 'suites'),
    VALIDATOR_SCHEDULE: 'false',
    CHAOS_CONFIG: join(dir, 'chaos.yaml'),
    CHAOS_SCHEDULE: 'false',
    ...(process.env['DOCKER_HOST'] ? { DOCKER_HOST: process.env['DOCKER_HOST'] } : {}),
  };
  // Services other than the relay may not create the streams: started first, they wait for it.
  const slo = ServiceProcess.start('slo-engine', {
    ...common,
    NATS_USER: 'slo-engine',
    NATS_PASSWORD: passwords['slo-engine'],
  });
  procs.set('slo-engine', slo);
  await slo.waitForLog('streams missing and this user may not create them: waiting for the outbox-relay', 30_000);
  for (const s of SERVICES.filter((x) => x !== 'slo-engine')) {
    const auth: Record<string, string> =
      s === 'outbox-relay'
        ? { NATS_USER: s, NATS_PASSWORD_FILE: join(dir, 'relay.password') }
        : { NATS_USER: s, NATS_PASSWORD: passwords[s] };
    // The chaos gate reads the error budgets from the slo-engine's HTTP port.
    const extra: Record<string, string> =
      s === 'chaos' ? { CHAOS_SLO_URL: `http://127.0.0.1:${(await slo.waitReady(60_000)).port}` } : {};
    const p = ServiceProcess.start(s, { ...common, ...auth, ...extra });
    procs.set(s, p);
    await p.waitReady(60_000);
  }
  await slo.waitReady(60_000);
}, 240_000);

afterAll(async () => {
  for (const p of [...procs.values()].reverse()) await p.kill('SIGTERM');
  for (const nc of connections) await nc.close().catch(() => undefined);
  await nats?.stop();
  await bed?.[Symbol.asyncDispose]();
  await disposeDb?.();
  await rm(dir, { recursive: true, force: true });
});

/** The first event of `type` whose data matches, read as the read-only `tool` user. */
async function resultFor<T extends 'validation.completed' | 'chaos.completed' | 'chaos.aborted'>(
  type: T,
  match: (e: VigilEvent<T>) => boolean,
): Promise<VigilEvent<T> | undefined> {
  const tool = await as('tool');
  for await (const r of replay(tool, { ns, start: { from: 'beginning' }, types: [type] })) {
    const e = r.event;
    if (match(e)) return e;
  }
  return undefined;
}

describe('the whole stack with NATS authorization on', () => {
  it('a client publishes a request; the services do their work under their own users; a tool reads the result', async () => {
    const r = await runCli(cliEnv('client'), [
      'publish',
      'validation.requested',
      '--suite',
      'sec',
      '--wait',
      '--timeout',
      '60s',
      '--json',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const { id } = JSON.parse(r.stdout.trim().split('\n')[0]!) as { id: string };
    const done = await waitFor(() => resultFor('validation.completed', (e) => e.data.requestId === id), {
      timeoutMs: 30_000,
      message: 'the tool to read validation.completed',
    });
    expect(done.data).toMatchObject({ suite: 'sec', status: 'PASS', score: 10 });
    // The slo-engine and anomaly consumed it too (their durables under their users).
    const admin = await as('admin');
    const jsm = await jetstreamManager(admin);
    for (const durable of ['slo-engine', 'anomaly', 'chaos-validations']) {
      await waitFor(async () => (await jsm.consumers.info(ns.stream, durable)).num_pending === 0, {
        timeoutMs: 30_000,
        message: `${durable} to catch up`,
      });
    }
  });

  it('chaos, requested by the operator, acts only on opted-in containers and refuses what its policy rejects', async () => {
    const request = async (name: string) => {
      const r = await runCli({ ...cliEnv('operator'), USER: 'alice-the-sre' }, [
        'publish',
        'chaos.requested',
        '--data',
        JSON.stringify({
          kind: 'container-stop',
          target: { names: [bed.nameOf(name)] },
          durationSeconds: 5,
          reason: 'security test',
          dryRun: true,
        }),
        '--wait',
        '--timeout',
        '60s',
        '--json',
      ]);
      expect(r.stderr, `vigil publish chaos.requested (exit ${r.code})`).toBe('');
      return { ...r, id: (JSON.parse(r.stdout.trim().split('\n')[0]!) as { id: string }).id };
    };
    // The gate wants a fresh score of the verification suite.
    const scored = await runCli(cliEnv('client'), ['publish', 'validation.requested', '--suite', 'sec', '--wait']);
    expect(scored.code, scored.stderr).toBe(0);
    const ok = await request('opted-in');
    expect(ok.code).toBe(0);
    const completed = await waitFor(() => resultFor('chaos.completed', (e) => e.data.requestId === ok.id), {
      timeoutMs: 30_000,
      message: 'chaos.completed for the opted-in container',
    });
    expect(completed.data).toMatchObject({ dryRun: true });
    // The recorded requester is the NATS user; the free-text claim stands beside it.
    const chaosPort = String((await procs.get('chaos')!.waitReady(1000)).port);
    const experiment = (await (
      await fetch(`http://127.0.0.1:${chaosPort}/experiments/${completed.data.experimentId}`)
    ).json()) as { request: { requestedBy: string } };
    expect(experiment.request.requestedBy).toBe('operator (says alice-the-sre)');

    const refused = await request('shy');
    expect(refused.code).toBe(3);
    const aborted = await waitFor(() => resultFor('chaos.aborted', (e) => e.data.requestId === refused.id), {
      timeoutMs: 30_000,
      message: 'chaos.aborted for the container that did not opt in',
    });
    expect(aborted.data.reasons).toContain(`opt-in: not opted in (vigil.chaos/enabled=true): ${bed.nameOf('shy')}`);
    const shy = await bed.docker.getContainer(bed.nameOf('shy')).inspect();
    expect(shy.State.Running).toBe(true);
  });
});

describe('what a user may not do, the server refuses', () => {
  const denied = /permissions violation/i;
  const event = (type: 'validation.requested' | 'validation.completed') =>
    encodeStructured(createEvent(type, samples[type], { source: 'vigil/forged' }));

  /** A core subscription the server refuses: it reports the violation on the connection's status. */
  async function subscribeDenied(nc: NatsConnection, subject: string): Promise<string> {
    const errors: string[] = [];
    void (async () => {
      for await (const s of nc.status()) if (s.type === 'error') errors.push(String(s.error.message));
    })();
    nc.subscribe(subject);
    await nc.flush();
    return waitFor(() => errors.find((m) => m.includes(subject)), {
      timeoutMs: 5000,
      message: `the server to refuse a subscription to ${subject}`,
    });
  }

  it('only the relay publishes service events; a service cannot publish its own results directly', async () => {
    for (const role of ['validator', 'slo-engine', 'anomaly', 'chaos', 'client', 'tool'] as const) {
      const { data, headers } = event('validation.completed');
      await expect(
        jetstream(await as(role)).publish(subjectOf(ns, 'validation.completed'), data, { headers, timeout: 3000 }),
        role,
      ).rejects.toThrow(denied);
    }
    const { data, headers } = event('validation.completed');
    const ack = await jetstream(await as('outbox-relay')).publish(subjectOf(ns, 'validation.completed'), data, {
      headers,
    });
    expect(ack.stream).toBe(ns.stream);
  });

  it('a client asks for validation runs and feeds SLIs, but may not request or abort chaos', async () => {
    const client = await as('client');
    for (const type of ['chaos.requested', 'chaos.abort.requested'] as const) {
      const e = createEvent(type, samples[type], { source: 'vigil/forged' });
      const { data, headers } = encodeStructured(e);
      await expect(
        jetstream(client).publish(subjectOf(ns, type), data, { headers, timeout: 3000 }),
        type,
      ).rejects.toThrow(denied);
    }
    const cli = await runCli(cliEnv('client'), [
      'publish',
      'chaos.abort.requested',
      '--requestId',
      'x',
      '--reason',
      'aborted by alice-the-sre',
    ]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/permissions violation/i);
  });

  it('vigil streams as a tool shows the streams, and says which consumers it may not see', async () => {
    const r = await runCli(cliEnv('tool'), ['streams']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^${ns.stream} `, 'm'));
    expect(r.stdout).toMatch(
      new RegExp(`consumers of ${ns.deadLetterStream}, ${ns.stream}: not visible to this NATS user`),
    );
  });

  it("readers cannot find one another's consumers: no listing, no advisories, and a durable tail is its user's own", async () => {
    const admin = await jetstreamManager(await as('admin'));
    // The same durable name, tailed by a client and by a tool: two consumers, each named after its user.
    const tails = (['client', 'tool'] as const).map((role) =>
      spawn(process.execPath, [cliPath, 'tail', 'validation.completed', '--durable', 'audit'], {
        env: cliEnv(role),
        stdio: 'ignore',
      }),
    );
    try {
      const names = {
        client: privateDurableName('audit', 'client', passwords.client),
        tool: privateDurableName('audit', 'tool', passwords.tool),
      };
      expect(names.client).not.toBe(names.tool);
      for (const name of Object.values(names)) {
        await waitFor(
          () =>
            admin.consumers.info(ns.stream, name).then(
              () => true,
              () => false,
            ),
          {
            timeoutMs: 15_000,
            message: `vigil tail --durable audit to make ${name}`,
          },
        );
      }
      await expect(admin.consumers.info(ns.stream, 'audit')).rejects.toThrow(/not found/i);
      for (const role of ['tool', 'client', 'operator'] as const) {
        const nc = await as(role);
        const jsm = await jetstreamManager(nc);
        const list = async () => {
          for await (const _ of jsm.consumers.list(ns.stream)) break;
        };
        await expect(list(), role).rejects.toThrow(denied);
        // Advisories name every consumer made; they are not a reader's to read.
        expect(await subscribeDenied(nc, `$JS.EVENT.ADVISORY.CONSUMER.CREATED.${ns.stream}.*`)).toMatch(denied);
      }
      // The tool's own durable is its to read; the client's, under the name it chose, is not found.
      const tool = await jetstreamManager(await as('tool'));
      expect((await tool.consumers.info(ns.stream, names.tool)).name).toBe(names.tool);
      await expect(tool.consumers.info(ns.stream, 'audit')).rejects.toThrow(/not found/i);
    } finally {
      for (const t of tails) t.kill('SIGINT');
    }
  });

  it('tools read results only: no requests, no publishing, no service consumer', async () => {
    const tool = await as('tool');
    const { data, headers } = event('validation.requested');
    await expect(
      jetstream(tool).publish(subjectOf(ns, 'validation.requested'), data, { headers, timeout: 3000 }),
    ).rejects.toThrow(denied);
    // A consumer of its own over requests: refused at creation.
    const read = async () => {
      for await (const _ of replay(tool, { ns, start: { from: 'beginning' }, types: ['validation.requested'] })) break;
    };
    await expect(read()).rejects.toThrow(denied);
    // A service's durable: refused.
    await expect(
      jetstream(tool)
        .consumers.get(ns.stream, 'validator')
        .then((c) => c.next({ expires: 1000 })),
    ).rejects.toThrow();
    expect(await subscribeDenied(tool, subjectOf(ns, 'validation.requested'))).toMatch(denied);
    expect(await subscribeDenied(await as('tool'), '_INBOX.>')).toMatch(denied);
  });

  it('a service pulls from its own consumers only and cannot change the streams', async () => {
    const anomaly = await as('anomaly');
    await expect(
      jetstream(anomaly)
        .consumers.get(ns.stream, 'chaos')
        .then((c) => c.next({ expires: 1000 })),
    ).rejects.toThrow();
    expect(await subscribeDenied(anomaly, `${ns.subjectPrefix}.>`)).toMatch(denied);
    const jsm = await jetstreamManager(await as('validator'));
    await expect(jsm.streams.delete(ns.stream)).rejects.toThrow(denied);
    await expect(jsm.streams.add({ name: `${ns.stream}_X`, subjects: ['x.>'] })).rejects.toThrow(denied);
    // Only the chaos service consumes chaos requests: no other user pulls from its consumer, and
    // besides the operator's client (which reads all history) none even sees them.
    for (const role of ['validator', 'slo-engine', 'anomaly', 'tool'] as const) {
      expect(await subscribeDenied(await as(role), subjectOf(ns, 'chaos.requested')), role).toMatch(denied);
    }
    for (const role of ['validator', 'slo-engine', 'anomaly', 'tool', 'client'] as const) {
      await expect(
        jetstream(await as(role))
          .consumers.get(ns.stream, 'chaos')
          .then((c) => c.next({ expires: 1000 })),
        role,
      ).rejects.toThrow();
    }
  });

  it('no service was refused anything it does under its own user (no permission error logged)', () => {
    for (const [name, p] of procs) {
      const refused = p.logs.filter((l) => /permission/i.test(JSON.stringify(l)));
      expect(refused, name).toEqual([]);
    }
  });

  it('no password reaches a log line of any service', async () => {
    const secrets = [...Object.values(passwords), dbPassword];
    for (const [name, p] of procs) {
      expect(p.logs.length, name).toBeGreaterThan(0);
      const text = JSON.stringify(p.logs) + p.stderrText;
      for (const s of secrets) expect(text.includes(s), `${name} logged a secret`).toBe(false);
    }
  });
});
