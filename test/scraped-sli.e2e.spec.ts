import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { replay } from '@vigil/events';
import { eventsFixture } from '@vigil/events/testing';
import { createTestDatabase, freePort, ServiceProcess, waitFor } from '@vigil/testkit';

/**
 * An SLO on any service's Prometheus metrics: the slo-engine (its own process) scrapes a real HTTP
 * endpoint whose error counter climbs, and a page comes out of the stream through the outbox and
 * the relay, with no `sli.observed` published by anyone.
 */
const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

describe('an SLI scraped from a /metrics endpoint', () => {
  it('fires a page when the endpoint error counter climbs', async () => {
    // Every request fails from the start: 40 a second, all 503.
    let failed = 0;
    const started = Date.now();
    const server = createServer((_req, res) => {
      failed = Math.floor(((Date.now() - started) / 1000) * 40);
      res
        .writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
        .end(
          [
            '# TYPE http_requests_total counter',
            'http_requests_total{code="200"} 1000',
            `http_requests_total{code="503"} ${failed}`,
            '',
          ].join('\n'),
        );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise((resolve) => server.close(resolve)));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;

    const dir = await mkdtemp(join(tmpdir(), 'vigil-scraped-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    await writeFile(
      join(dir, 'checkout.yaml'),
      `name: checkout\nservice: shop\nobjective: 99.9\nsli:\n  prometheus:\n    url: ${url}\n    total: http_requests_total\n    errors: http_requests_total{code=~"5.."}\n    interval: 1s\n`,
    );
    const database = await createTestDatabase(inject('databaseUrl'), 'scraped');
    cleanup.push(() => database[Symbol.asyncDispose]());
    const f = await eventsFixture(inject('natsUrl'), { label: 'scraped' });
    cleanup.push(() => f[Symbol.asyncDispose]());
    const common = { NATS_URL: inject('natsUrl'), DATABASE_URL: database.url, VIGIL_NAMESPACE: f.namespaceId };
    const relay = ServiceProcess.start('outbox-relay', { ...common, PORT: String(await freePort()) });
    cleanup.push(() => relay.kill('SIGTERM'));
    const port = await freePort();
    const slo = ServiceProcess.start('slo-engine', { ...common, PORT: String(port), SLO_DIR: dir, LOG_LEVEL: 'info' });
    cleanup.push(() => slo.kill('SIGTERM'));
    await slo.waitReady(60_000);

    // The engine evaluates at each minute boundary: the page is there within about a minute.
    const page = await waitFor(
      async () => {
        for await (const r of replay(f.nc, { ns: f.ns, start: { from: 'beginning' }, types: ['slo.burn'] })) {
          const e = r.event;
          if (e.data.slo === 'checkout' && e.data.state === 'firing' && e.data.severity === 'page') return e;
        }
        return undefined;
      },
      { timeoutMs: 150_000, intervalMs: 500, message: 'a page for the scraped SLO' },
    );
    expect(page.data.explanation).toMatch(/^checkout is spending its error budget [\d.]+× as fast/);
    // /slos names the source and when it was last read; /metrics counts the scrapes.
    const status = (await (await fetch(`http://127.0.0.1:${port}/slos/checkout`)).json()) as {
      scrape: { url: string; lastScrapeAt: string | null; error: string | null };
    };
    expect(status.scrape).toMatchObject({ url, error: null });
    expect(Date.parse(status.scrape.lastScrapeAt ?? '')).toBeGreaterThan(started);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/^vigil_slo_scrapes_total\{slo="checkout",outcome="ok"\} [1-9]\d*$/m);
  }, 200_000);
});
