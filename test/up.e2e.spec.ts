import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { afterAll, describe, expect, it } from 'vitest';
import { createPublisher, defaultNamespace, replay } from '@vigil/events';
import { waitFor } from '@vigil/testkit';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'cli/dist/main.js');

interface Up {
  child: ChildProcess;
  output: () => string;
  exit: Promise<number | null>;
}

function startUp(dataDir: string): Up {
  let out = '';
  const env: NodeJS.ProcessEnv = { ...process.env, VIGIL_DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
  delete env['NATS_URL'];
  delete env['DATABASE_URL'];
  const child = spawn(process.execPath, [cli, 'up', '--own-servers'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, output: () => out, exit };
}

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('vigil up (the README quick start)', () => {
  it('brings NATS, PostgreSQL and the streams up on its own servers, stops cleanly, and keeps the data', async () => {
    expect(existsSync(cli), 'cli/dist/main.js is missing: run pnpm build (npm test does)').toBe(true);
    const dataDir = await mkdtemp(join(tmpdir(), 'vigil-up-'));
    dirs.push(dataDir);

    const first = startUp(dataDir);
    await waitFor(() => first.output().includes('Ctrl-C stops') || first.child.exitCode !== null, {
      timeoutMs: 60_000,
      message: 'vigil up to be ready',
    });
    expect(first.output()).toContain('vigil: ready');
    const natsUrl = /NATS\s+(nats:\/\/\S+)/.exec(first.output())?.[1];
    expect(first.output()).toMatch(/PostgreSQL\s+postgres:\/\/postgres@127\.0\.0\.1:\d+\/vigil/);
    expect(first.output()).toContain('EVENTS (created');
    expect(natsUrl).toBeDefined();

    const nc = await connect({ servers: natsUrl! });
    const sent = await createPublisher({ js: jetstream(nc), source: 'vigil/e2e' }).publish('validation.requested', {
      suite: 'vigil-self',
    });
    await nc.close();

    first.child.kill('SIGINT');
    expect(await first.exit).toBe(0);
    expect(first.output()).toContain('vigil: stopped');

    const second = startUp(dataDir);
    await waitFor(() => second.output().includes('Ctrl-C stops') || second.child.exitCode !== null, {
      timeoutMs: 60_000,
      message: 'vigil up to be ready again',
    });
    expect(second.output()).toContain('EVENTS (exists, 1 messages');
    const url2 = /NATS\s+(nats:\/\/\S+)/.exec(second.output())?.[1];
    const nc2 = await connect({ servers: url2! });
    const history = [];
    for await (const r of replay(nc2, { ns: defaultNamespace, start: { from: 'beginning' } })) history.push(r.event.id);
    await nc2.close();
    expect(history).toEqual([sent.id]);
    second.child.kill('SIGTERM');
    expect(await second.exit).toBe(0);
  });

  it('fails with one clear line when the environment is wrong', async () => {
    const child = spawn(process.execPath, [cli, 'up'], {
      env: { ...process.env, NATS_URL: 'not a url' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    expect(code).toBe(1);
    expect(err.trim()).toMatch(/^vigil: environment variable NATS_URL: /);
    expect(err.trim().split('\n')).toHaveLength(1);
  });
});
