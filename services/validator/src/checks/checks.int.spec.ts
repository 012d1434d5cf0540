import { createServer, type Server } from 'node:http';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '@vigil/testkit';
import { connectDocker } from '@vigil/docker';
import { parseSuite } from '../config/suite.js';
import { checkFromYaml } from '../testing/check.js';
import { runCheck, runSuite } from './run.js';

const natsUrl = inject('natsUrl');
const databaseUrl = inject('databaseUrl');
let dir: string;
let server: Server;
let base: string;
const ctx = () => ({ natsUrl, databaseUrl, cwd: dir, docker: connectDocker() });

const check = checkFromYaml;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-checks-'));
  server = createServer((req, res) => {
    if (req.url === '/slow') {
      setTimeout(() => res.end('late'), 300);
      return;
    }
    if (req.url === '/readyz') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'ready', checks: { postgres: true } }));
      return;
    }
    res.writeHead(req.url === '/missing' ? 404 : 200);
    res.end('hello vigil');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  await rm(dir, { recursive: true, force: true });
});

describe('http', () => {
  it('PASS on 2xx with body and JSON path matches; FAIL on status or body; WARN over the latency budget', async () => {
    expect(
      await runCheck(
        check(
          `{ name: ok, kind: http, params: { url: "${base}/readyz", json: { path: checks.postgres, equals: true }, bodyContains: ready } }`,
        ),
        ctx(),
      ),
    ).toMatchObject({
      status: 'PASS',
      observed: { status: 200 },
    });
    expect(await runCheck(check(`{ name: nf, kind: http, params: { url: "${base}/missing" } }`), ctx())).toMatchObject({
      status: 'FAIL',
      message: expect.stringMatching(/answered 404, expected 200-299/),
    });
    expect(
      await runCheck(check(`{ name: body, kind: http, params: { url: "${base}/", bodyContains: nope } }`), ctx()),
    ).toMatchObject({ status: 'FAIL' });
    expect(
      await runCheck(check(`{ name: slow, kind: http, params: { url: "${base}/slow", latencyBudget: 50ms } }`), ctx()),
    ).toMatchObject({ status: 'WARN', message: expect.stringMatching(/over the 50 ms budget/) });
  });

  it('ERROR when the target cannot be reached or the check outlives its timeout', async () => {
    const port = await freePort();
    expect(
      await runCheck(check(`{ name: down, kind: http, params: { url: "http://127.0.0.1:${port}/" } }`), ctx()),
    ).toMatchObject({ status: 'ERROR', message: expect.stringMatching(/ECONNREFUSED/) });
    const r = await runCheck(
      check(`{ name: slow, kind: http, timeout: 100ms, params: { url: "${base}/slow" } }`),
      ctx(),
    );
    expect(r).toMatchObject({ status: 'ERROR', message: 'did not finish within 100 ms' });
    expect(r.durationMs).toBeLessThan(290);
  });
});

describe('tcp, postgres, host, file, command', () => {
  it('tcp: PASS when a port accepts, ERROR when it does not', async () => {
    expect(
      await runCheck(check(`{ name: t, kind: tcp, params: { host: 127.0.0.1, port: ${new URL(base).port} } }`), ctx()),
    ).toMatchObject({ status: 'PASS' });
    expect(
      await runCheck(check(`{ name: t, kind: tcp, params: { host: 127.0.0.1, port: ${await freePort()} } }`), ctx()),
    ).toMatchObject({ status: 'ERROR' });
  });

  it('postgres: runs a read-only query with an expectation; a write is refused', async () => {
    expect(
      await runCheck(check(`{ name: p, kind: postgres, params: { query: "select 41 + 1", expect: 42 } }`), ctx()),
    ).toMatchObject({ status: 'PASS', observed: { value: 42 } });
    expect(
      await runCheck(check(`{ name: p, kind: postgres, params: { query: "select 'a'", expect: b } }`), ctx()),
    ).toMatchObject({ status: 'FAIL', message: 'first value is "a", expected "b"' });
    expect(
      await runCheck(
        check(
          `{ name: p, kind: postgres, params: { query: "select 'replica'", expect: logical, otherwise: WARN, hint: "set wal_level" } }`,
        ),
        ctx(),
      ),
    ).toMatchObject({ status: 'WARN', message: 'first value is "replica", expected "logical": set wal_level' });
    expect(
      await runCheck(
        check(`{ name: p, kind: postgres, params: { query: "create table vigil_should_not_exist (x int)" } }`),
        ctx(),
      ),
    ).toMatchObject({ status: 'ERROR', message: expect.stringMatching(/read-only transaction/) });
    expect(
      await runCheck(
        check(`{ name: p, kind: postgres, params: { url: "postgres://postgres@127.0.0.1:${await freePort()}/x" } }`),
        ctx(),
      ),
    ).toMatchObject({ status: 'ERROR', message: expect.stringMatching(/cannot connect/) });
  });

  it('host: memory and disk within and over their limits', async () => {
    expect(
      await runCheck(
        check(`{ name: h, kind: host, params: { maxMemoryPercent: 100, disk: { path: /, maxPercent: 100 } } }`),
        ctx(),
      ),
    ).toMatchObject({ status: 'PASS' });
    expect(await runCheck(check(`{ name: h, kind: host, params: { maxMemoryPercent: 0 } }`), ctx())).toMatchObject({
      status: 'FAIL',
      message: expect.stringMatching(/memory .* % used \(limit 0 %\)/),
    });
    expect(
      await runCheck(check(`{ name: h, kind: host, params: { disk: { path: /, maxPercent: 0 } } }`), ctx()),
    ).toMatchObject({ status: 'FAIL' });
  });

  it('host: a check that names only a disk limit is about the disk, not memory as well', async () => {
    // Memory use is above 0 % on any machine: the default 80 % limit must not apply here.
    const r = await runCheck(check(`{ name: h, kind: host, params: { disk: { path: /, maxPercent: 100 } } }`), ctx());
    expect(r).toMatchObject({ status: 'PASS', observed: { diskPercent: expect.any(Number) } });
    expect(r.message).not.toMatch(/limit 80 %/);
  });

  it('file: a path exists; a glob matches at least N files', async () => {
    await mkdir(join(dir, 'conf/a'), { recursive: true });
    await writeFile(join(dir, 'conf/a/x.yml'), 'a: 1');
    await writeFile(join(dir, 'conf/y.yml'), 'a: 1');
    expect(await runCheck(check(`{ name: f, kind: file, params: { path: conf/y.yml } }`), ctx())).toMatchObject({
      status: 'PASS',
    });
    expect(await runCheck(check(`{ name: f, kind: file, params: { path: conf/none } }`), ctx())).toMatchObject({
      status: 'FAIL',
    });
    expect(
      await runCheck(check(`{ name: f, kind: file, params: { glob: "conf/**/*.yml", minMatches: 2 } }`), ctx()),
    ).toMatchObject({ status: 'PASS', observed: { matches: 2 } });
    expect(
      await runCheck(check(`{ name: f, kind: file, params: { glob: "conf/*.yml", minMatches: 2 } }`), ctx()),
    ).toMatchObject({ status: 'FAIL', observed: { matches: 1 } });
  });

  it('command: exit code as expected or not; a missing program is an ERROR; a hung one times out', async () => {
    expect(
      await runCheck(check(`{ name: c, kind: command, params: { run: [node, -e, "console.log('ok')"] } }`), ctx()),
    ).toMatchObject({ status: 'PASS', message: expect.stringMatching(/exited 0: ok/) });
    expect(
      await runCheck(check(`{ name: c, kind: command, params: { run: [node, -e, "process.exit(3)"] } }`), ctx()),
    ).toMatchObject({ status: 'FAIL', observed: { exitCode: 3 } });
    expect(
      await runCheck(check(`{ name: c, kind: command, params: { run: [no-such-program-vigil] } }`), ctx()),
    ).toMatchObject({ status: 'ERROR', message: expect.stringMatching(/cannot run/) });
    expect(
      await runCheck(check(`{ name: c, kind: command, timeout: 200ms, params: { run: [sleep, "5"] } }`), ctx()),
    ).toMatchObject({ status: 'ERROR', message: 'did not finish within 200 ms' });
  });
});

describe('where a check applies', () => {
  it('a check for other deployments is SKIPPED with the reason, without running', async () => {
    const c = check(`{ name: d, kind: command, deployments: [compose], params: { run: [no-such-program-vigil] } }`);
    expect(await runCheck(c, { ...ctx(), deployment: 'local' })).toMatchObject({
      status: 'SKIPPED',
      durationMs: 0,
      message: 'applies under compose; this validator runs under local',
    });
    // Where it applies, it runs (and this one cannot).
    expect(await runCheck(c, { ...ctx(), deployment: 'compose' })).toMatchObject({ status: 'ERROR' });
  });

  it('without a Docker engine, Docker checks are SKIPPED unless an engine is required (DOCKER_HOST set)', async () => {
    const none = connectDocker(join(dir, 'no-engine.sock'));
    const c = check(`{ name: c, kind: docker.container, params: { container: { name: nats } } }`);
    const skipped = await runCheck(c, { ...ctx(), docker: none });
    expect(skipped).toMatchObject({
      status: 'SKIPPED',
      message: expect.stringMatching(/^no Docker engine at unix:\/\/.*no-engine\.sock/),
    });
    expect(await runCheck(c, { ...ctx(), docker: none, dockerRequired: true })).toMatchObject({
      status: 'ERROR',
      message: expect.stringMatching(/no Docker engine/),
    });
    const h = check(`{ name: h, kind: docker.hardening, params: { container: { labels: { a: b } } } }`);
    expect(await runCheck(h, { ...ctx(), docker: none })).toMatchObject({ status: 'SKIPPED' });
  });

  it('a suite scores only what applied; one where nothing applied is refused by name', async () => {
    const suite = parseSuite(
      `name: where
components:
  - name: containers
    weight: 3
    checks:
      - { name: c, kind: command, deployments: [compose], params: { run: [node, --version] } }
  - name: node
    weight: 1
    checks:
      - { name: n, kind: command, params: { run: [node, --version] } }
      - { name: x, kind: command, deployments: [compose], params: { run: [node, --version] } }
`,
      'where.yaml',
    );
    const r = await runSuite(suite, { ...ctx(), deployment: 'local' });
    expect(r).toMatchObject({ score: 10, status: 'PASS' });
    expect(r.components.map((c) => [c.name, c.weight, c.status])).toEqual([
      ['containers', 0, 'SKIPPED'],
      ['node', 1, 'PASS'],
    ]);
    const only = { ...suite, components: suite.components.slice(0, 1) };
    await expect(runSuite(only, { ...ctx(), deployment: 'local' })).rejects.toThrow(/every check was skipped/);
  });
});

describe('secrets', () => {
  it('finds planted secrets by file:line and rule, never printing them; clean trees pass', async () => {
    const src = join(dir, 'src');
    await mkdir(join(src, 'node_modules'), { recursive: true });
    const aws = ['AKIA', 'IOSFODNN7', 'EXAMPLE'].join('');
    const key = ['-----BEGIN RSA ', 'PRIVATE KEY-----'].join('');
    const pass = ['pass', 'word = "hunter2hunter2"'].join('');
    const random = ['q8Xz3LmP0vR7', 'tY2wK9sB4nJ6cH1f'].join('');
    await writeFile(join(src, 'config.ts'), `const a = 1;\nconst id = '${aws}';\n${pass}\nconst t = '${random}';\n`);
    await writeFile(join(src, 'key.pem'), `${key}\nabc\n`);
    await writeFile(join(src, 'node_modules', 'dep.js'), `const k = '${aws}';`);
    await writeFile(
      join(src, 'ok.ts'),
      `const uuid = '7d0b1a52-5d35-4a8f-9c1b-7c3f0f6e0a11';\nconst url = 'postgres://postgres@127.0.0.1:5432/vigil';\n`,
    );
    const r = await runCheck(
      check(`{ name: s, kind: secrets, params: { paths: [src], exclude: ["**/node_modules/**"] } }`),
      ctx(),
    );
    expect(r.status).toBe('FAIL');
    expect(r.message).toContain('src/config.ts:2 (aws-access-key-id)');
    expect(r.message).toContain('src/config.ts:3 (assigned-secret)');
    expect(r.message).toContain('src/config.ts:4 (high-entropy-string)');
    expect(r.message).toContain('src/key.pem:1 (private-key)');
    expect(r.message).not.toContain('node_modules');
    expect(r.message).not.toContain(aws);
    expect(r.message).not.toContain('hunter2');
    expect(r.observed).toMatchObject({ files: 3, findings: 4 });
    // A UUID and a URL without a password are not secrets.
    const clean = await runCheck(check(`{ name: s, kind: secrets, params: { paths: [src/ok.ts] } }`), ctx());
    expect(clean).toMatchObject({ status: 'PASS', observed: { files: 1, findings: 0 } });
  });

  it('test code and fixtures are left out unless asked for; allowlists accept paths, patterns and fingerprints', async () => {
    const src = join(dir, 'allow');
    await mkdir(join(src, 'testing'), { recursive: true });
    const key = ['sk_live_', '4eC39HqLyjWDarjtT1zdp7dc'].join('');
    const example = ['AKIA', 'IOSFODNN7', 'EXAMPLE'].join('');
    await writeFile(join(src, 'redact.unit.spec.ts'), `const k = '${key}';\n`);
    await writeFile(join(src, 'testing', 'fixture.ts'), `const k = '${key}';\n`);
    await writeFile(join(src, 'docs.ts'), `// e.g. ${example}\n`);
    await writeFile(join(src, 'known.ts'), `const a = 1;\nconst k = '${key}';\n`);
    const scan = (params: string) => runCheck(check(`{ name: s, kind: secrets, params: ${params} }`), ctx());

    const plain = await scan(`{ paths: [allow] }`);
    expect(plain.status).toBe('FAIL');
    expect(plain.observed).toMatchObject({ files: 2 });
    expect(plain.message).toContain('allow/known.ts:2 (stripe-secret-key)');
    expect(plain.message).toContain('allow/docs.ts:1 (aws-access-key-id');
    expect(plain.message).not.toContain(key);
    expect(plain.message).not.toContain(example);

    const withTests = await scan(`{ paths: [allow], includeTests: true }`);
    expect(withTests.observed).toMatchObject({ files: 4 });
    expect(withTests.message).toContain('allow/redact.unit.spec.ts:1 (stripe-secret-key)');
    expect(withTests.message).toContain('allow/testing/fixture.ts:1 (stripe-secret-key)');
    expect(plain.message).not.toContain('spec.ts');
    expect(plain.message).not.toContain('fixture.ts');

    const allowed = await scan(
      `{ paths: [allow], allow: { patterns: ['EXAMPLE$'], fingerprints: ['allow/known.ts:stripe-secret-key:2', 'allow/known.ts:high-entropy-string:2'] } }`,
    );
    expect(allowed).toMatchObject({ status: 'PASS', observed: { files: 2, findings: 0 } });
    // A fingerprint names one finding: the same key on another line is still found.
    await writeFile(join(src, 'known.ts'), `const k = '${key}';\n`);
    expect(
      await scan(
        `{ paths: [allow], allow: { paths: ['allow/docs.ts'], fingerprints: ['allow/known.ts:stripe-secret-key:2'] } }`,
      ),
    ).toMatchObject({ status: 'FAIL', message: expect.stringContaining('allow/known.ts:1 (stripe-secret-key') });
  });
});

describe('nats and jetstream.durability', () => {
  it('reachable, stream config, consumer lag and a round trip; durability warns on one replica and lazy fsync', async () => {
    const nc = await connect({ servers: natsUrl });
    const jsm = await jetstreamManager(nc);
    const stream = `VCHECK_${Date.now().toString(36)}`;
    await jsm.streams.add({ name: stream, subjects: [`${stream.toLowerCase()}.>`], duplicate_window: 120_000_000_000 });
    await jsm.consumers.add(stream, { durable_name: 'lagging', ack_policy: AckPolicy.Explicit });
    const js = jetstream(nc);
    for (let i = 0; i < 5; i++) await js.publish(`${stream.toLowerCase()}.x`, 'm');
    try {
      expect(
        await runCheck(
          check(
            `{ name: n, kind: nats, params: { roundTrip: true, stream: { name: ${stream}, retention: limits, minDuplicateWindow: 1m } } }`,
          ),
          ctx(),
        ),
      ).toMatchObject({ status: 'PASS' });
      expect(
        await runCheck(
          check(`{ name: n, kind: nats, params: { stream: { name: ${stream}, minDuplicateWindow: 5m } } }`),
          ctx(),
        ),
      ).toMatchObject({
        status: 'FAIL',
        message: expect.stringMatching(/duplicate window is 120000 ms, below 300000 ms/),
      });
      expect(
        await runCheck(
          check(`{ name: n, kind: nats, params: { consumer: { stream: ${stream}, name: lagging, maxPending: 3 } } }`),
          ctx(),
        ),
      ).toMatchObject({ status: 'FAIL', observed: { pending: 5 } });
      expect(
        await runCheck(check(`{ name: n, kind: nats, params: { stream: { name: NO_SUCH_STREAM_VIGIL } } }`), ctx()),
      ).toMatchObject({ status: 'FAIL', message: expect.stringMatching(/does not exist/) });
      const d = await runCheck(check(`{ name: d, kind: jetstream.durability, params: { stream: ${stream} } }`), ctx());
      expect(d).toMatchObject({ status: 'WARN', observed: { replicas: 1, storage: 'file' } });
      expect(d.message).toMatch(/1 replica: a lost disk loses acknowledged messages/);
      expect(
        await runCheck(
          check(`{ name: n, kind: nats, params: { url: "nats://127.0.0.1:${await freePort()}" } }`),
          ctx(),
        ),
      ).toMatchObject({ status: 'ERROR', message: expect.stringMatching(/not reachable/) });
    } finally {
      await jsm.streams.delete(stream);
      await nc.close();
    }
  });
});

describe('a whole suite', () => {
  it('runs its checks concurrently and scores them: an ERROR counts as failed', async () => {
    const suite = parseSuite(
      `name: mini
components:
  - name: web
    weight: 3
    checks:
      - { name: up, kind: http, params: { url: "${base}/" } }
      - { name: ready, kind: http, params: { url: "${base}/readyz" } }
  - name: db
    weight: 1
    checks:
      - { name: answers, kind: postgres, params: { query: "select 1", expect: 1 } }
      - { name: gone, kind: tcp, params: { host: 127.0.0.1, port: ${await freePort()} } }
`,
      'mini.yaml',
    );
    const r = await runSuite(suite, ctx());
    expect(r.components.map((c) => [c.name, c.weight, 'score' in c ? c.score : undefined, c.status])).toEqual([
      ['web', 0.75, 10, 'PASS'],
      ['db', 0.25, 5, 'FAIL'],
    ]);
    expect(r).toMatchObject({ score: 8.75, status: 'PASS' });
    expect(r.components[1]!.checks[1]).toMatchObject({ status: 'ERROR', kind: 'tcp' });
  });
});
