import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createEvent, type EventDataInput, type VigilEvent } from '@vigil/events';
import { samples } from '@vigil/events/testing';
import { applyEvent, componentKey, createModel, pruneDays, type ReadModel, type StoredEvent } from './model.js';
import { overview } from './overview.js';
import { renderDashboardMain } from './dashboard.js';
import { escapeHtml, renderStatusPage } from './page.js';
import { completedRun as run } from '../testing/runs.js';

const t0 = new Date('2026-12-01T10:00:00.000Z');
const hours = (h: number) => new Date(t0.getTime() + h * 3_600_000);

function burn(seq: number, state: 'firing' | 'resolved', severity: 'page' | 'ticket' = 'page'): StoredEvent {
  const data: EventDataInput<'slo.burn'> = {
    ...samples['slo.burn'],
    state,
    severity,
    ...(state === 'resolved' ? { resolvedAt: '2026-12-01T11:00:00.000Z' } : {}),
  };
  return { event: createEvent('slo.burn', data, { source: 'vigil/test' }), seq, storedAt: hours(1) };
}

const snapshot = (m: ReadModel) =>
  JSON.stringify({
    suites: [...m.suites].sort(),
    components: [...m.components].sort(),
    days: [...m.days].map(([k, v]) => [k, [...v].sort()]).sort(),
    incidents: [...m.incidents].sort(),
    experiments: [...m.experiments].sort(),
  });

describe('status read model', () => {
  it('keeps the latest result per component by stream order and the worst of each day', () => {
    const m = createModel();
    applyEvent(m, run(1, hours(0), [{ name: 'db', status: 'PASS', score: 10 }]));
    applyEvent(m, run(2, hours(1), [{ name: 'db', status: 'FAIL', score: 2 }]));
    applyEvent(m, run(3, hours(2), [{ name: 'db', status: 'WARN', score: 7 }]));
    const c = m.components.get(componentKey('vigil-self', 'db'));
    expect(c).toMatchObject({ status: 'WARN', score: 7, seq: 3 });
    expect(m.days.get(componentKey('vigil-self', 'db'))?.get('2026-12-01')).toEqual({
      day: '2026-12-01',
      worst: 'FAIL',
      minScore: 2,
      lastScore: 7,
      lastSeq: 3,
    });
  });

  it('an event seen again, or an older one seen late, changes nothing', () => {
    const m = createModel();
    const a = run(5, hours(0), [{ name: 'db', status: 'PASS', score: 9 }]);
    expect(applyEvent(m, a).length).toBeGreaterThan(0);
    expect(applyEvent(m, a)).toEqual([]);
    // An older run arriving after (a replay overlapping the durable) does not replace the latest.
    applyEvent(m, run(4, hours(0), [{ name: 'db', status: 'PASS', score: 8 }]));
    expect(m.components.get(componentKey('vigil-self', 'db'))?.score).toBe(9);
  });

  it('folds the same events to the same model in any order and with any repeats', () => {
    const events = [
      run(1, hours(0), [
        { name: 'db', status: 'PASS', score: 10 },
        { name: 'bus', status: 'WARN', score: 6 },
      ]),
      run(2, hours(30), [{ name: 'db', status: 'FAIL', score: 1 }]),
      run(3, hours(31), [{ name: 'bus', status: 'PASS', score: 9 }], { partial: true }),
      burn(4, 'firing'),
      burn(5, 'resolved'),
    ];
    const reference = createModel();
    for (const e of events) applyEvent(reference, e);
    fc.assert(
      fc.property(
        fc
          .array(fc.constantFrom(...events), { minLength: events.length, maxLength: 15 })
          .map((xs) => [...events, ...xs]),
        fc.infiniteStream(fc.integer()),
        (all, keys) => {
          const shuffled = all
            .map((e) => ({ e, k: keys.next().value as number }))
            .sort((a, b) => a.k - b.k)
            .map((x) => x.e);
          const m = createModel();
          for (const e of shuffled) applyEvent(m, e);
          expect(snapshot(m)).toBe(snapshot(reference));
        },
      ),
    );
  });

  it('a partial or ERROR run updates its components but not the suite; SKIPPED components are not shown', () => {
    const m = createModel();
    applyEvent(m, run(1, hours(0), [{ name: 'db', status: 'PASS', score: 10 }], { score: 10 }));
    applyEvent(
      m,
      run(2, hours(1), [{ name: 'db', status: 'FAIL', score: 0 }], { partial: true, score: 0, status: 'FAIL' }),
    );
    applyEvent(m, run(3, hours(2), [], { status: 'ERROR', score: 0 }));
    applyEvent(m, run(4, hours(3), [{ name: 'disk', status: 'SKIPPED' }]));
    expect(m.suites.get('vigil-self')).toMatchObject({ score: 9, seq: 4 });
    expect(m.components.get(componentKey('vigil-self', 'db'))?.status).toBe('FAIL');
    expect(m.components.has(componentKey('vigil-self', 'disk'))).toBe(false);
  });

  it('holds at most maxComponents components and counts the results refused', () => {
    const m = createModel({ maxComponents: 2 });
    applyEvent(
      m,
      run(1, hours(0), [
        { name: 'a', status: 'PASS', score: 10 },
        { name: 'b', status: 'PASS', score: 10 },
        { name: 'c', status: 'PASS', score: 10 },
      ]),
    );
    expect([...m.components.keys()]).toEqual([componentKey('vigil-self', 'a'), componentKey('vigil-self', 'b')]);
    expect(m.days.has(componentKey('vigil-self', 'c'))).toBe(false);
    expect(m.refused).toBe(1);
  });

  it('an alert episode is one incident, firing then resolved; the oldest resolved go past the limit', () => {
    const m = createModel({ maxIncidents: 2 });
    applyEvent(m, burn(1, 'firing'));
    expect(overview(m, hours(1)).incidents.open).toHaveLength(1);
    applyEvent(m, burn(2, 'resolved'));
    const o = overview(m, hours(2));
    expect(o.incidents.open).toEqual([]);
    expect(o.incidents.recent).toHaveLength(1);
    expect(o.incidents.recent[0]).toMatchObject({ state: 'resolved', resolvedAt: '2026-12-01T11:00:00.000Z' });
    applyEvent(m, burn(3, 'firing', 'ticket'));
    const third = {
      ...burn(4, 'firing'),
      event: createEvent(
        'slo.burn',
        { ...samples['slo.burn'], slo: 'latency' },
        { source: 'vigil/test' },
      ) as VigilEvent,
    };
    applyEvent(m, third);
    // Open incidents are never evicted; the resolved one went.
    expect([...m.incidents.values()].map((i) => i.state)).toEqual(['firing', 'firing']);
  });

  it('an experiment that ended stays ended when its start is seen after', () => {
    const m = createModel();
    const started: StoredEvent = {
      event: createEvent('chaos.started', samples['chaos.started'], { source: 'vigil/test' }),
      seq: 1,
      storedAt: hours(0),
    };
    const completed: StoredEvent = {
      event: createEvent('chaos.completed', samples['chaos.completed'], { source: 'vigil/test' }),
      seq: 2,
      storedAt: hours(1),
    };
    applyEvent(m, completed);
    applyEvent(m, started);
    const o = overview(m, hours(2));
    expect(o.experiments.running).toEqual([]);
    expect(o.experiments.recent[0]).toMatchObject({
      state: 'completed',
      recovered: samples['chaos.completed'].recovery.recovered,
    });
  });

  it('drops days older than the window', () => {
    const m = createModel({ days: 3 });
    applyEvent(m, run(1, hours(-24 * 5), [{ name: 'db', status: 'FAIL', score: 1 }]));
    applyEvent(m, run(2, hours(0), [{ name: 'db', status: 'PASS', score: 10 }]));
    pruneDays(m, hours(0));
    expect([...(m.days.get(componentKey('vigil-self', 'db'))?.keys() ?? [])]).toEqual(['2026-12-01']);
  });
});

describe('overview', () => {
  it('is unknown without results, operational when all pass, degraded on WARN or a ticket, failing on FAIL or a page', () => {
    const m = createModel();
    expect(overview(m, t0).state).toBe('unknown');
    applyEvent(m, run(1, hours(0), [{ name: 'db', status: 'PASS', score: 10 }]));
    expect(overview(m, t0)).toMatchObject({ state: 'operational', headline: 'All 1 component operational.' });
    applyEvent(m, burn(2, 'firing', 'ticket'));
    expect(overview(m, t0)).toMatchObject({ state: 'degraded', headline: 'Degraded: 1 ticket open.' });
    applyEvent(m, run(3, hours(1), [{ name: 'db', status: 'FAIL', score: 2 }]));
    expect(overview(m, t0)).toMatchObject({ state: 'failing', headline: 'Failing: 1 component failing.' });
  });

  it('gives each component one cell per day, oldest first, ending today', () => {
    const m = createModel({ days: 3 });
    applyEvent(m, run(1, hours(-24), [{ name: 'db', status: 'WARN', score: 6 }]));
    const o = overview(m, t0);
    expect(o.days).toEqual(['2026-11-29', '2026-11-30', '2026-12-01']);
    expect(o.suites[0]?.components[0]?.days.map((d) => d?.worst ?? null)).toEqual([null, 'WARN', null]);
  });
});

describe('status page', () => {
  it('escapes every name and sentence it shows', () => {
    expect(escapeHtml(`<script>"x"&'y'</script>`)).toBe('&#60;script&#62;&#34;x&#34;&#38;&#39;y&#39;&#60;/script&#62;');
    const m = createModel();
    applyEvent(
      m,
      run(1, hours(0), [{ name: '<img src=x onerror=alert(1)>', status: 'PASS', score: 10 }], { suite: 's"><b>' }),
    );
    const page = renderStatusPage(overview(m, t0));
    expect(page).not.toContain('<img');
    expect(page).not.toContain('"><b>');
    expect(page).toContain('&#60;img src=x onerror=alert(1)&#62;');
  });

  it('shows status by text and mark, and never a check message', () => {
    const m = createModel();
    const e = run(1, hours(0), [{ name: 'db', status: 'FAIL', score: 2 }]);
    (e.event.data as { components: { checks: unknown[] }[] }).components[0]!.checks.push({
      name: 'connect',
      kind: 'postgres',
      status: 'FAIL',
      durationMs: 1,
      message: 'connection to db.internal.example:5432 refused',
    });
    applyEvent(m, e);
    const page = renderStatusPage(overview(m, t0));
    expect(page).toContain('✕ FAIL');
    expect(page).toContain('✕ Failing');
    expect(page).not.toContain('db.internal.example');
  });
});

describe('dashboard', () => {
  it('lists experiments with their gate, anomalies with their top features, incidents; each with its trace in Jaeger, every value escaped', () => {
    const m = createModel();
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    applyEvent(m, {
      event: createEvent('chaos.started', samples['chaos.started'], {
        source: 'vigil/test',
        extensions: { traceparent },
      }),
      seq: 1,
      storedAt: hours(0),
    });
    applyEvent(m, {
      event: createEvent(
        'anomaly.detected',
        {
          ...samples['anomaly.detected'],
          series: '<b>cpu</b>',
          features: [
            { name: 'level', contribution: 0.2 },
            { name: 'slope', contribution: 0.7 },
          ],
        },
        { source: 'vigil/test' },
      ),
      seq: 2,
      storedAt: hours(1),
    });
    applyEvent(m, burn(3, 'firing'));
    const html = renderDashboardMain(m, 'the slo-engine is not reachable at http://x', 'http://jaeger:16686/');
    expect(html).toContain('<a href="http://jaeger:16686/trace/0af7651916cd43dd8448eb211c80319c">trace 0af76519</a>');
    expect(html).toContain(`✓ ${samples['chaos.started'].gate[0]!.check}`);
    expect(html).toContain('&#60;b&#62;cpu&#60;/b&#62;');
    expect(html).not.toContain('<b>cpu');
    // Largest contribution first.
    expect(html).toMatch(/slope 0\.70, level 0\.20/);
    expect(html).toContain('the slo-engine is not reachable at http://x');
    expect(html).toContain(samples['slo.burn'].explanation);
  });
});

describe('dashboard charts', () => {
  const unescape = (s: string) => s.replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)));
  const attrs = (html: string, name: string) =>
    [...html.matchAll(new RegExp(`${name}="([^"]*)"`, 'g'))].map((x) => unescape(x[1]!));

  it('draws the series with the newest anomalies (at most 6), each with all its flagged points, newest first', () => {
    const m = createModel();
    const anomaly = (seq: number, series: string, value: number) =>
      applyEvent(m, {
        event: createEvent(
          'anomaly.detected',
          { ...samples['anomaly.detected'], series, value, timestamp: hours(seq).toISOString() },
          { source: 'vigil/test' },
        ),
        seq,
        storedAt: hours(seq),
      });
    anomaly(1, 'sli-value/shop/latency', 160);
    for (let i = 0; i < 7; i++) anomaly(2 + i, `component-score/s/c${i}`, i);
    anomaly(9, 'sli-value/shop/latency', 400);
    const html = renderDashboardMain(m, [], 'http://jaeger');
    const series = attrs(html, 'data-series');
    expect(series).toEqual([
      'sli-value/shop/latency',
      'component-score/s/c6',
      'component-score/s/c5',
      'component-score/s/c4',
      'component-score/s/c3',
      'component-score/s/c2',
    ]);
    expect(JSON.parse(attrs(html, 'data-flags')[0]!)).toEqual([
      { t: hours(9).getTime(), v: 400 },
      { t: hours(1).getTime(), v: 160 },
    ]);
    const top = samples['anomaly.detected'].features[0]!;
    expect(html).toContain(`set apart by ${top.name} ${top.contribution.toFixed(2)}`);
  });

  it('puts each experiment on the timeline with its phases; a running one has no end yet', () => {
    const m = createModel();
    applyEvent(m, {
      event: createEvent('chaos.completed', samples['chaos.completed'], { source: 'vigil/test' }),
      seq: 1,
      storedAt: hours(0),
    });
    applyEvent(m, {
      event: createEvent(
        'chaos.started',
        { ...samples['chaos.started'], experimentId: 'exp-running' },
        { source: 'vigil/test', time: hours(1).toISOString() },
      ),
      seq: 2,
      storedAt: hours(1),
    });
    const html = renderDashboardMain(m, [], 'http://jaeger');
    const [timeline] = attrs(html, 'data-experiments');
    const c = samples['chaos.completed'];
    expect(JSON.parse(timeline!)).toEqual([
      { id: 'exp-running', start: hours(1).getTime(), injected: null, rolledBack: null, end: null, outcome: 'running' },
      {
        id: c.experimentId,
        start: Date.parse(c.startedAt),
        injected: Date.parse(c.injectedAt!),
        rolledBack: Date.parse(c.rolledBackAt!),
        end: expect.any(Number),
        outcome: c.recovery.recovered ? 'completed' : 'not recovered',
      },
    ]);
    expect(html).toContain('The 2 latest experiments over time (1 running)');
    expect(renderDashboardMain(createModel(), [], 'http://jaeger')).not.toContain('figure class="timeline"');
  });
});
