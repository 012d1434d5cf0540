import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { afterAll, describe, expect, it } from 'vitest';
import { createPublisher, replay, subscribe, type VigilEvent } from '@vigil/events';
import { waitFor } from '@vigil/testkit';
import { smokeSuite, startTestStack } from './support/cli.js';

const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

describe('user flow 1: publish validation.requested, receive validation.completed', () => {
  it('through the embedded stack: the validator runs the suite once and the relay delivers the result once', async () => {
    const { up, portBase, natsUrl } = await startTestStack(cleanup, 'e2e', {
      suites: { 'smoke.yaml': smokeSuite },
      readyTimeoutMs: 60_000,
    });
    const validatorUrl = `http://127.0.0.1:${portBase}`;
    expect(up.output()).toContain(`validator     ${validatorUrl}/readyz`);

    const nc = await connect({ servers: natsUrl });
    cleanup.push(() => nc.close());
    const results = subscribe(nc, ['validation.completed'], { durable: 'e2e-tool' });
    const got: VigilEvent<'validation.completed'>[] = [];
    const reading = (async () => {
      for await (const e of results) {
        got.push(e);
        if (got.length === 1) break;
      }
    })();
    await waitFor(
      async () => {
        const r = await fetch(`${validatorUrl}/readyz`).catch(() => undefined);
        return r?.ok === true;
      },
      { message: 'validator ready' },
    );
    const sent = await createPublisher({ js: jetstream(nc), source: 'vigil/e2e' }).publish('validation.requested', {
      suite: 'smoke',
      requestedBy: 'e2e',
    });
    await reading;

    const result = got[0]!;
    expect(result.data).toMatchObject({ requestId: sent.id, suite: 'smoke', score: 8.75, status: 'PASS' });
    expect(result.data.components.map((c) => [c.name, c.score, c.status])).toEqual([
      ['database', 10, 'PASS'],
      ['bus', 5, 'FAIL'],
    ]);
    // Exactly one result for the request in the stream, and the run is listed by the API.
    const all: string[] = [];
    for await (const r of replay(nc, { start: { from: 'beginning' }, types: ['validation.completed'] }))
      all.push(r.event.data.requestId);
    expect(all.filter((id) => id === sent.id)).toHaveLength(1);
    const runs = (await (await fetch(`${validatorUrl}/runs?suite=smoke`)).json()) as {
      runs: { requestId: string }[];
    };
    expect(runs.runs.map((r) => r.requestId)).toEqual([sent.id]);
  });
});
