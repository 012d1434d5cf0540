import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@vigil/testkit';
import { connectDocker, DockerUnavailableError, engineCall, statusOf } from './index.js';
import { dockerTestbed, type DockerTestbed } from './testing/index.js';

/**
 * A TCP front of the real engine that can freeze: while frozen it reads requests (on new and
 * kept-alive connections alike) and answers nothing, as a hung dockerd does. It counts the
 * requests that reached it while frozen and the connections the client gave up on meanwhile.
 */
interface Front {
  readonly port: number;
  frozen: boolean;
  /** Drops each connection at its first request instead (a dockerd restarting). */
  dropping: boolean;
  /** Requests read while frozen. */
  unanswered: number;
  /** Connections closed by the client while a request of theirs went unanswered. */
  abandoned: number;
  close(): Promise<void>;
}

const requestLine = /^(GET|HEAD|POST|PUT|DELETE) \//;

async function engineFront(socketPath: string): Promise<Front> {
  const sockets = new Set<Socket>();
  const front: Front = {
    port: 0,
    frozen: false,
    dropping: false,
    unanswered: 0,
    abandoned: 0,
    close: async () => undefined,
  };
  const server: Server = createServer((client) => {
    sockets.add(client);
    const engine = createConnection(socketPath);
    let hanging = false;
    client.on('data', (chunk) => {
      if (front.dropping) {
        front.unanswered++;
        client.resetAndDestroy();
        return;
      }
      if (front.frozen) {
        if (requestLine.test(chunk.toString('latin1', 0, 8))) front.unanswered++;
        hanging = true;
        return;
      }
      engine.write(chunk);
    });
    engine.on('data', (chunk) => client.write(chunk));
    client.on('close', () => {
      if (hanging) front.abandoned++;
      sockets.delete(client);
      engine.destroy();
    });
    client.on('error', () => engine.destroy());
    engine.on('error', () => client.destroy());
    engine.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return Object.assign(front, {
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  });
}

let bed: DockerTestbed;
let front: Front;
beforeAll(async () => {
  bed = await dockerTestbed('policy');
  await bed.run({ name: 'target' });
  const host = process.env['DOCKER_HOST'] ?? 'unix:///var/run/docker.sock';
  front = await engineFront(host.replace(/^unix:\/\//, ''));
}, 60_000);
afterAll(async () => {
  await front?.close();
  await bed?.[Symbol.asyncDispose]();
});

describe('calls to an engine that stops answering (a real engine behind a front that freezes)', () => {
  it('time out as unavailable and abort their request, without a second try; then the breaker opens and calls fail at once', async () => {
    const docker = connectDocker(`tcp://127.0.0.1:${front.port}`, {
      timeoutMs: 400,
      readAttempts: 2,
      breakerFailures: 3,
      breakerOpenMs: 1500,
    });
    const name = bed.nameOf('target');
    const inspect = (abortSignal: AbortSignal) => docker.getContainer(name).inspect({ abortSignal });
    // Answering: a call goes through.
    expect((await engineCall(docker, inspect, { idempotent: true })).State.Running).toBe(true);

    front.frozen = true;
    front.unanswered = 0;
    // A hung engine: the read is abandoned at its timeout, naming the engine; a second try would
    // only wait as long again.
    const read = engineCall(docker, inspect, { idempotent: true });
    await expect(read).rejects.toThrow(DockerUnavailableError);
    await expect(read).rejects.toThrow(
      `the Docker engine at http://127.0.0.1:${front.port} did not answer within 0.4s`,
    );
    expect(front.unanswered).toBe(1);
    await waitFor(() => front.abandoned === 1, { timeoutMs: 5000, message: 'the request aborted' });
    for (let i = 0; i < 2; i++) {
      await expect(
        engineCall(docker, (abortSignal) => docker.getContainer(name).kill({ abortSignal })),
      ).rejects.toThrow(/did not answer within 0\.4s/);
    }
    expect(front.unanswered).toBe(3);

    // Three failures in a row: the breaker is open, and the engine is not even asked.
    const open = engineCall(docker, inspect, { idempotent: true });
    await expect(open).rejects.toThrow(DockerUnavailableError);
    await expect(open).rejects.toThrow(/for 3 calls in a row; calls fail at once for 1\.5s/);
    expect(front.unanswered).toBe(3);

    // The engine answers again: once the breaker lets a call through, calls go on as before.
    front.frozen = false;
    const info = await waitFor(async () => engineCall(docker, inspect, { idempotent: true }).catch(() => undefined), {
      timeoutMs: 10_000,
      message: 'the breaker to let a call through again',
    });
    expect(info.State.Running).toBe(true);
  });

  it('a dropped connection is tried again for a read, never for a change', async () => {
    const docker = connectDocker(`tcp://127.0.0.1:${front.port}`, { readAttempts: 3, breakerFailures: 10 });
    const name = bed.nameOf('target');
    front.dropping = true;
    front.unanswered = 0;
    try {
      const read = engineCall(docker, (abortSignal) => docker.getContainer(name).inspect({ abortSignal }), {
        idempotent: true,
      });
      await expect(read).rejects.toThrow(/dropped the connection \(ECONNRESET\)/);
      expect(front.unanswered).toBe(3);
      const change = engineCall(docker, (abortSignal) => docker.getContainer(name).pause({ abortSignal }));
      await expect(change).rejects.toThrow(DockerUnavailableError);
      expect(front.unanswered).toBe(4);
    } finally {
      front.dropping = false;
    }
    expect((await docker.getContainer(name).inspect()).State.Paused).toBe(false);
  });

  it("the engine's own refusals (404) pass through and never open the breaker", async () => {
    const docker = connectDocker(`tcp://127.0.0.1:${front.port}`, { breakerFailures: 2 });
    for (let i = 0; i < 4; i++) {
      const e = await engineCall(docker, (abortSignal) =>
        docker.getContainer(`${bed.nameOf('target')}-none`).inspect({ abortSignal }),
      ).catch((x: unknown) => x);
      expect(statusOf(e)).toBe(404);
    }
    const info = await engineCall(docker, (abortSignal) =>
      docker.getContainer(bed.nameOf('target')).inspect({ abortSignal }),
    );
    expect(info.State.Running).toBe(true);
  });

  it("the caller's own signal ends a call without counting against the engine", async () => {
    const docker = connectDocker(`tcp://127.0.0.1:${front.port}`, { timeoutMs: 10_000, breakerFailures: 1 });
    front.frozen = true;
    try {
      const gone = new AbortController();
      const call = engineCall(
        docker,
        (abortSignal) => docker.getContainer(bed.nameOf('target')).inspect({ abortSignal }),
        {
          signal: gone.signal,
        },
      );
      gone.abort(new Error('the check ran out of time'));
      await expect(call).rejects.not.toThrow(DockerUnavailableError);
    } finally {
      front.frozen = false;
    }
    const info = await engineCall(docker, (abortSignal) =>
      docker.getContainer(bed.nameOf('target')).inspect({ abortSignal }),
    );
    expect(info.State.Running).toBe(true);
  });
});
