import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDocker, findContainers } from '@vigil/docker';
import { dockerTestbed, testRunLabel, type DockerTestbed } from '@vigil/docker/testing';
import { waitFor } from '@vigil/testkit';
import { checkFromYaml } from '../testing/check.js';
import { runCheck } from './run.js';

// Real containers on a real engine: each test's containers carry this file's run label, so the
// label selectors below can only see them.
let bed: DockerTestbed;
const ctx = () => ({ natsUrl: '', databaseUrl: '', cwd: '/', docker: bed.docker });
const mine = () => `{ ${testRunLabel}: ${bed.runId} }`;

beforeAll(async () => {
  bed = await dockerTestbed('validator-checks');
});
afterAll(async () => {
  await bed[Symbol.asyncDispose]();
});

async function healthOf(name: string): Promise<string | undefined> {
  const [c] = await findContainers(bed.docker, { name: bed.nameOf(name) });
  return c?.State.Health?.Status;
}

describe('docker.container', () => {
  it('matches a name exactly: PASS while running, FAIL once stopped, FAIL when no container has the name', async () => {
    await bed.run({ name: 'app' });
    await bed.run({ name: 'app-2', start: false });
    const byName = checkFromYaml(
      `{ name: c, kind: docker.container, params: { container: { name: ${bed.nameOf('app')} } } }`,
    );
    expect(await runCheck(byName, ctx())).toMatchObject({
      status: 'PASS',
      observed: { matched: 1, running: 1 },
    });

    await bed.docker.getContainer(bed.nameOf('app')).stop({ t: 0 });
    const stopped = await runCheck(byName, ctx());
    expect(stopped).toMatchObject({ status: 'FAIL', observed: { matched: 1, running: 0 } });
    expect(stopped.message).toBe(`${bed.nameOf('app')} is exited`);

    const none = checkFromYaml(
      `{ name: c, kind: docker.container, params: { container: { name: ${bed.nameOf('nope')} } } }`,
    );
    expect(await runCheck(none, ctx())).toMatchObject({
      status: 'FAIL',
      message: `no container matches name=${bed.nameOf('nope')}`,
    });
  });

  it('healthy: PASS when healthy, WARN while starting, FAIL when unhealthy or without a healthcheck', async () => {
    await bed.run({ name: 'good', labels: { role: 'good' }, healthcheck: { shell: 'true' } });
    await bed.run({ name: 'bad', labels: { role: 'bad' }, healthcheck: { shell: 'false' } });
    await bed.run({ name: 'slow', labels: { role: 'slow' }, healthcheck: { shell: 'true', intervalMs: 3_600_000 } });
    await bed.run({ name: 'plain', labels: { role: 'plain' } });
    await waitFor(async () => (await healthOf('good')) === 'healthy', { message: 'good to turn healthy' });
    await waitFor(async () => (await healthOf('bad')) === 'unhealthy', { message: 'bad to turn unhealthy' });

    const healthy = (role: string) =>
      runCheck(
        checkFromYaml(
          `{ name: h, kind: docker.container, params: { container: { labels: { ${testRunLabel}: ${bed.runId}, role: ${role} } }, healthy: true } }`,
        ),
        ctx(),
      );
    expect(await healthy('good')).toMatchObject({ status: 'PASS', observed: { healthy: 1 } });
    expect(await healthy('slow')).toMatchObject({ status: 'WARN', message: `${bed.nameOf('slow')} is still starting` });
    expect(await healthy('bad')).toMatchObject({ status: 'FAIL', message: `${bed.nameOf('bad')} is unhealthy` });
    expect(await healthy('plain')).toMatchObject({
      status: 'FAIL',
      message: `${bed.nameOf('plain')} has no healthcheck`,
    });
  });

  it('maxRestarts: FAIL once a crash-looping container has restarted that many times', async () => {
    await bed.run({ name: 'crashy', labels: { role: 'crashy' }, cmd: ['sh', '-c', 'exit 3'], restart: 'always' });
    await waitFor(
      async () => ((await findContainers(bed.docker, { name: bed.nameOf('crashy') }))[0]?.RestartCount ?? 0) >= 2,
      { timeoutMs: 20_000, message: 'two restarts' },
    );
    const restarts = (max: number) =>
      runCheck(
        checkFromYaml(
          `{ name: r, kind: docker.container, params: { container: { name: ${bed.nameOf('crashy')} }, running: false, maxRestarts: ${max} } }`,
        ),
        ctx(),
      );
    const failed = await restarts(2);
    expect(failed.status).toBe('FAIL');
    expect(failed.message).toMatch(
      new RegExp(`^${bed.nameOf('crashy')} restarted \\d+ times \\(limit: fewer than 2\\)$`),
    );
    expect(await restarts(1000)).toMatchObject({ status: 'PASS' });
  });

  it('labels select every matching container and the message names each one that falls short', async () => {
    await bed.run({ name: 'web-1', labels: { tier: 'web' } });
    await bed.run({ name: 'web-2', labels: { tier: 'web' }, start: false });
    await bed.run({ name: 'db', labels: { tier: 'db' } });
    const r = await runCheck(
      checkFromYaml(
        `{ name: l, kind: docker.container, params: { container: { labels: { ${testRunLabel}: ${bed.runId}, tier: web } } } }`,
      ),
      ctx(),
    );
    expect(r).toMatchObject({ status: 'FAIL', observed: { matched: 2, running: 1 } });
    expect(r.message).toBe(`${bed.nameOf('web-2')} is created`);
  });
});

describe('docker.hardening', () => {
  it('PASS for a hardened container; FAIL names each gap of each container that has one', async () => {
    await bed.run({
      name: 'hard',
      labels: { set: 'hard' },
      readOnlyRootfs: true,
      user: '65534:65534',
      memory: 64 * 1024 * 1024,
    });
    await bed.run({ name: 'soft', labels: { set: 'soft' } });
    await bed.run({ name: 'priv', labels: { set: 'soft' }, privileged: true, user: 'nobody', start: false });
    const hardening = (set: string, require = '') =>
      runCheck(
        checkFromYaml(
          `{ name: h, kind: docker.hardening, params: { container: { labels: { ${testRunLabel}: ${bed.runId}, set: ${set} } }${require} } }`,
        ),
        ctx(),
      );
    expect(await hardening('hard')).toMatchObject({ status: 'PASS', observed: { matched: 1, hardened: 1 } });

    const soft = await hardening('soft');
    expect(soft).toMatchObject({ status: 'FAIL', observed: { matched: 2, hardened: 0 } });
    expect(soft.message.split('; ').sort()).toEqual([
      `${bed.nameOf('priv')}: writable root filesystem, no memory limit, privileged`,
      `${bed.nameOf('soft')}: writable root filesystem, runs as root (user ""), no memory limit`,
    ]);

    const relaxed = await hardening(
      'soft',
      ', require: { readOnlyRootfs: false, memoryLimit: false, nonRoot: false, notPrivileged: true }',
    );
    expect(relaxed).toMatchObject({ status: 'FAIL', observed: { hardened: 1 } });
    expect(relaxed.message).toBe(`${bed.nameOf('priv')}: privileged`);
  });

  it('ERROR naming the engine when the engine DOCKER_HOST names does not answer', async () => {
    const r = await runCheck(
      checkFromYaml(`{ name: h, kind: docker.hardening, params: { container: { labels: ${mine()} } } }`),
      { ...ctx(), docker: connectDocker('unix:///nonexistent/docker.sock'), dockerRequired: true },
    );
    expect(r).toMatchObject({
      status: 'ERROR',
      message: 'no Docker engine at unix:///nonexistent/docker.sock (ENOENT)',
    });
  });
});
