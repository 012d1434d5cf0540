import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDocker, isAllowedDockerRead, startReadOnlyDockerProxy } from './index.js';
import { dockerTestbed, type DockerTestbed } from './testing/index.js';

let bed: DockerTestbed;
let proxy: Awaited<ReturnType<typeof startReadOnlyDockerProxy>>;
beforeAll(async () => {
  bed = await dockerTestbed('proxy');
  await bed.run({ name: 'target' });
  const host = process.env['DOCKER_HOST'];
  proxy = await startReadOnlyDockerProxy({
    port: 0,
    ...(host?.startsWith('unix://') ? { socketPath: host.slice('unix://'.length) } : {}),
  });
}, 60_000);
afterAll(async () => {
  await proxy?.close();
  await bed?.[Symbol.asyncDispose]();
});

describe('the read-only Docker API proxy (a real engine behind it)', () => {
  it('forwards the reads the validator makes: ping, list and inspect', async () => {
    const docker = connectDocker(`tcp://127.0.0.1:${proxy.port}`);
    expect(String(await docker.ping())).toBe('OK');
    const listed = await docker.listContainers({ all: true, filters: { label: [`vigil.test.run=${bed.runId}`] } });
    expect(listed.map((c) => c.Names[0])).toEqual([`/${bed.nameOf('target')}`]);
    const info = await docker.getContainer(bed.nameOf('target')).inspect();
    expect(info.State.Running).toBe(true);
    expect((await fetch(`http://127.0.0.1:${proxy.port}/readyz`)).status).toBe(200);
  });

  it('refuses every change and every other read with 403, and the engine sees none of them', async () => {
    const docker = connectDocker(`tcp://127.0.0.1:${proxy.port}`);
    const target = docker.getContainer(bed.nameOf('target'));
    const refused = /vigil docker proxy: (POST|GET|DELETE) \S+ is not allowed/;
    await expect(target.kill()).rejects.toThrow(refused);
    await expect(target.stop()).rejects.toThrow(refused);
    await expect(target.exec({ Cmd: ['id'] })).rejects.toThrow(refused);
    await expect(target.remove({ force: true })).rejects.toThrow(refused);
    await expect(docker.createContainer({ Image: bed.image, Cmd: ['true'] })).rejects.toThrow(refused);
    // Reads that are not the checks': a file out of the container, the engine's images.
    await expect(target.getArchive({ path: '/etc/passwd' })).rejects.toThrow(refused);
    await expect(docker.listImages()).rejects.toThrow(refused);
    const inspected = await bed.docker.getContainer(bed.nameOf('target')).inspect();
    expect(inspected.State.Running).toBe(true);
    // Path tricks that would reach another endpoint.
    for (const path of [
      '/containers/..%2fimages/json',
      '/containers/x/../../images/json',
      '/v1.41/containers/create',
    ]) {
      expect((await fetch(`http://127.0.0.1:${proxy.port}${path}`, { method: 'GET' })).status, path).toBe(403);
    }
    expect(isAllowedDockerRead('GET', '/v1.43/containers/abc123/json?size=false')).toBe(true);
    expect(isAllowedDockerRead('POST', '/v1.43/containers/abc123/json')).toBe(false);
  });
});
