/// <reference lib="dom" />
import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { createPublisher, defaultNamespace } from '@vigil/events';
import { samples } from '@vigil/events/testing';
import { waitFor } from '@vigil/testkit';
import { startTestStack } from './support/cli.js';

/** Screenshots land here (the README shows one of them). */
const outputDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'test-results');
const require = createRequire(import.meta.url);

const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking'],
  });
}

describe('the status page in a browser', () => {
  it('follows live without a reload (a run within 1 s of reaching JetStream, an incident firing then resolved), works without script, and axe finds no serious violation', async () => {
    const { portBase, natsUrl } = await startTestStack(cleanup, 'status-page');
    const statusUrl = `http://127.0.0.1:${portBase + 5}/`;
    const nc = await connect({ servers: natsUrl });
    cleanup.push(() => nc.close());
    const publisher = createPublisher({ js: jetstream(nc), source: 'vigil/e2e' });
    const jsm = await jetstreamManager(nc);

    const browser = await launch();
    cleanup.push(() => browser.close());
    const page = await browser.newPage();
    await page.goto(statusUrl);
    expect(await page.locator('.state').textContent()).toContain('No data');
    // Set on this document only: still there afterwards means the page was never reloaded.
    await page.evaluate(() => Object.assign(window, { notReloaded: true }));
    await page.evaluate(() => {
      const w = window as unknown as { seenAt?: number };
      new MutationObserver(() => {
        if (w.seenAt === undefined && document.querySelector('main')?.textContent?.includes('vigil-self')) {
          w.seenAt = Date.now();
        }
      }).observe(document.querySelector('main')!, { childList: true, subtree: true, characterData: true });
    });

    // A real run: the validator answers the request, the relay publishes the result.
    await publisher.publish('validation.requested', { suite: 'vigil-self', requestedBy: 'e2e' });
    await page.waitForFunction(() => (window as unknown as { seenAt?: number }).seenAt !== undefined, undefined, {
      timeout: 30_000,
    });
    const seenAt = await page.evaluate(() => (window as unknown as { seenAt: number }).seenAt);
    const info = await jsm.streams.info(defaultNamespace.stream);
    let storedAt = 0;
    for (let seq = info.state.last_seq; seq >= info.state.first_seq; seq--) {
      const m = await jsm.streams.getMessage(defaultNamespace.stream, { seq });
      if (m?.subject === `${defaultNamespace.subjectPrefix}.validation.completed`) {
        storedAt = m.time.getTime();
        break;
      }
    }
    expect(storedAt).toBeGreaterThan(0);
    const lagMs = seenAt - storedAt;
    process.stdout.write(`status page: the run on the page ${lagMs} ms after JetStream stored it\n`);
    expect(lagMs).toBeLessThan(1000);
    expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
    expect(await page.locator('.component', { hasText: 'database' }).textContent()).toContain('PASS');

    // An incident: firing, then resolved, each on the page without a reload.
    const since = new Date().toISOString();
    await publisher.publish('slo.burn', { ...samples['slo.burn'], since, state: 'firing' });
    await page.locator('.incident.firing', { hasText: samples['slo.burn'].slo }).waitFor({ timeout: 10_000 });
    expect(await page.locator('.state').textContent()).toContain('Failing');
    await mkdir(outputDir, { recursive: true });
    await page.screenshot({ path: join(outputDir, 'status-page-incident.png'), fullPage: true });
    await publisher.publish('slo.burn', {
      ...samples['slo.burn'],
      since,
      state: 'resolved',
      resolvedAt: new Date().toISOString(),
    });
    await page.locator('.incident.resolved', { hasText: samples['slo.burn'].slo }).waitFor({ timeout: 10_000 });
    expect(await page.locator('.incident.firing').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
    await page.screenshot({ path: join(outputDir, 'status-page.png'), fullPage: true });

    // A failing day: its table is reached by keyboard and opens with Enter.
    await publisher.publish('validation.completed', {
      ...samples['validation.completed'],
      runId: 'e2e-failing',
      suite: 'web',
      status: 'FAIL',
      score: 2,
      components: [{ name: 'checkout', weight: 1, score: 2, status: 'FAIL', checks: [] }],
    });
    await page.locator('.component', { hasText: 'checkout' }).waitFor({ timeout: 10_000 });
    const summary = page.locator('details summary').first();
    let reached = false;
    for (let i = 0; i < 20 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await summary.evaluate((el) => el === document.activeElement);
    }
    expect(reached, 'Tab reaches the failing days table').toBe(true);
    await page.keyboard.press('Enter');
    expect(await page.locator('details[open] table').textContent()).toContain('FAIL');

    // Accessibility: axe-core in the page (CSP bypassed for its script alone).
    const axeContext = await browser.newContext({ bypassCSP: true });
    const axePage = await axeContext.newPage();
    await axePage.goto(statusUrl);
    await axePage.addScriptTag({ content: await readFile(require.resolve('axe-core/axe.min.js'), 'utf8') });
    const axeRun = () =>
      axePage.evaluate(async () => {
        const axe = (
          window as unknown as {
            axe: { run(): Promise<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }> };
          }
        ).axe;
        return (await axe.run()).violations.map((v) => ({ id: v.id, impact: v.impact, at: v.nodes[0]?.target }));
      });
    const serious = (vs: { impact: string }[]) => vs.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    expect(serious(await axeRun())).toEqual([]);
    // The dashboard too, once its charts are drawn.
    await axePage.goto(`http://127.0.0.1:${portBase + 5}/dashboard`);
    await axePage.waitForFunction(() => Number(document.documentElement.dataset['drawn'] ?? 0) >= 1, undefined, {
      timeout: 30_000,
    });
    await axePage.addScriptTag({ content: await readFile(require.resolve('axe-core/axe.min.js'), 'utf8') });
    expect(serious(await axeRun())).toEqual([]);

    // The operator dashboard: each SLO's charts drawn from the slo-engine's history, experiments
    // and anomalies with links to their traces, following live.
    const dash = await browser.newPage();
    await dash.goto(`http://127.0.0.1:${portBase + 5}/dashboard`);
    await dash.waitForFunction(() => Number(document.documentElement.dataset['drawn'] ?? 0) >= 1, undefined, {
      timeout: 30_000,
    });
    const charts = await dash.evaluate(() =>
      Array.from(document.querySelectorAll('figure.slo .chart canvas'), (c) => {
        const canvas = c as HTMLCanvasElement;
        const pixels = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
        let painted = 0;
        for (let i = 3; i < pixels.length; i += 4) if ((pixels[i] ?? 0) > 0) painted++;
        return painted;
      }),
    );
    // Two charts per shipped SLO (availability, error-rate, latency), each with something drawn.
    expect(charts.length).toBe(6);
    expect(charts.every((painted) => painted > 100)).toBe(true);
    await dash.evaluate(() => Object.assign(window, { notReloaded: true }));
    // An anomaly on a series the anomaly service holds (the run's component scores): the
    // series is drawn from the anomaly service, the flagged point marked in red on it.
    const anomalyUrl = `http://127.0.0.1:${portBase + 3}`;
    const seriesName = await waitFor(
      async () => {
        const r = (await (await fetch(`${anomalyUrl}/series`)).json()) as { series: { series: string }[] };
        return r.series.find((x) => x.series.startsWith('component-score/vigil-self/'))?.series;
      },
      { timeoutMs: 30_000, message: 'the anomaly service to hold the run component scores' },
    );
    const points = (await (
      await fetch(`http://127.0.0.1:${portBase + 5}/api/anomalies/points?series=${encodeURIComponent(seriesName)}`)
    ).json()) as { times: number[]; values: number[] };
    expect(points.values.length).toBeGreaterThanOrEqual(1);
    const unknown = await fetch(`http://127.0.0.1:${portBase + 5}/api/anomalies/points?series=no%2Fsuch`);
    expect([unknown.status, await unknown.json()]).toEqual([404, { error: "no series named 'no/such'" }]);
    const unnamed = await fetch(`${anomalyUrl}/series/points`);
    expect([unnamed.status, await unnamed.json()]).toEqual([400, { error: 'name (a series) is required' }]);
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await publisher.publish(
      'anomaly.detected',
      { ...samples['anomaly.detected'], series: seriesName, value: 3, timestamp: new Date().toISOString() },
      { extensions: { traceparent } },
    );
    await dash
      .locator('section[aria-labelledby="anomalies"] .scroll a[href$="/trace/0af7651916cd43dd8448eb211c80319c"]')
      .waitFor({ timeout: 10_000 });
    // An experiment of the last minute: the fault held for most of it.
    const ago = (s: number) => new Date(Date.now() - s * 1000).toISOString();
    await publisher.publish('chaos.completed', {
      ...samples['chaos.completed'],
      startedAt: ago(61),
      injectedAt: ago(60),
      rolledBackAt: ago(3),
      completedAt: ago(1),
    });
    await dash
      .locator('section[aria-labelledby="chaos"] tbody tr', { hasText: samples['chaos.completed'].experimentId })
      .filter({ hasText: 'completed' })
      .waitFor({ timeout: 10_000 });
    // Drawn: the flagged point and the injected fault's bar, both in the dashboard's red.
    const redPixels = (selector: string) =>
      dash.evaluate((sel) => {
        const canvas = document.querySelector<HTMLCanvasElement>(sel);
        if (canvas === null) return 0;
        const px = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
        let red = 0;
        for (let i = 0; i < px.length; i += 4) if (px[i] === 207 && px[i + 1] === 34 && px[i + 2] === 46) red++;
        return red;
      }, selector);
    await waitFor(async () => (await redPixels('figure.anomaly canvas')) >= 20, {
      timeoutMs: 10_000,
      message: 'the anomaly chart to mark the flagged point',
    });
    await waitFor(async () => (await redPixels('figure.timeline canvas')) >= 100, {
      timeoutMs: 10_000,
      message: 'the timeline to draw the injected fault',
    });
    expect(await dash.locator('figure.anomaly figcaption').first().textContent()).toContain(seriesName);
    expect(await dash.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
    await dash.screenshot({ path: join(outputDir, 'dashboard.png'), fullPage: true });
    // axe again, with the timeline and the anomaly chart on the page.
    await axePage.goto(`http://127.0.0.1:${portBase + 5}/dashboard`);
    await axePage.waitForFunction(() => Number(document.documentElement.dataset['drawn'] ?? 0) >= 1, undefined, {
      timeout: 30_000,
    });
    expect(await axePage.locator('figure.timeline canvas, figure.anomaly canvas').count()).toBe(2);
    await axePage.addScriptTag({ content: await readFile(require.resolve('axe-core/axe.min.js'), 'utf8') });
    expect(serious(await axeRun())).toEqual([]);

    // Without script the same page is complete.
    const noScript = await browser.newContext({ javaScriptEnabled: false });
    const plain = await noScript.newPage();
    await plain.goto(statusUrl);
    expect(await plain.locator('.component', { hasText: 'checkout' }).textContent()).toContain('FAIL');
    expect(await plain.locator('.incident.resolved').count()).toBe(1);
    await waitFor(async () => (await plain.locator('.bar').count()) >= 5, { message: 'a bar per component' });
  });
});
