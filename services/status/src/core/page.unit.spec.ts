import { describe, expect, it } from 'vitest';
import type { DayCell, Incident } from './model.js';
import type { Overview, OverallState } from './overview.js';
import { followLiveSource, liveScript, renderStatusMain, renderStatusPage } from './page.js';
import { incidentOf } from '../testing/model.js';

const at = '2026-12-01T08:00:00.000Z';
const timeAt = `<time datetime="${at}">2026-12-01 08:00 UTC</time>`;
const cell = (day: string, worst: DayCell['worst'], minScore: number, lastScore: number): DayCell => ({
  day,
  worst,
  minScore,
  lastScore,
  lastSeq: 1,
});

// The explanation holds what must be escaped.
const incident = (over: Partial<Incident>) => incidentOf({ seq: 1, explanation: 'Burning <fast> & "loud".', ...over });

function overviewOf(over: Partial<Overview> = {}): Overview {
  return {
    state: 'degraded',
    headline: 'Degraded: 1 component warning.',
    generatedAt: '2026-12-01T10:00:00.000Z',
    seq: 7,
    days: ['2026-11-28', '2026-11-29', '2026-11-30', '2026-12-01'],
    suites: [
      {
        name: 'shop',
        status: 'WARN',
        score: 7.5,
        at,
        components: [
          {
            name: 'db',
            status: 'WARN',
            score: 6,
            at,
            days: [
              null,
              cell('2026-11-29', 'PASS', 9, 9.5),
              cell('2026-11-30', 'WARN', 6, 7),
              cell('2026-12-01', 'FAIL', 2, 6),
            ],
          },
          { name: 'web', status: 'PASS', score: 10, at, days: [null, null, null, cell('2026-12-01', 'PASS', 10, 10)] },
        ],
      },
      // Only partial runs seen: no status line for the suite.
      { name: 'partial', components: [] },
    ],
    incidents: { open: [], recent: [] },
    experiments: { running: [], recent: [] },
    ...over,
  };
}

describe('status page', () => {
  it('states the overall state with its mark and text, then the headline', () => {
    const cases: [OverallState, string][] = [
      ['operational', '✓ Operational'],
      ['degraded', '! Degraded'],
      ['failing', '✕ Failing'],
      ['unknown', '? No data'],
    ];
    for (const [state, text] of cases) {
      expect(renderStatusMain(overviewOf({ state, headline: 'It & <b>' }))).toContain(
        `<p class="state ${state}" role="status"><strong>${text}</strong> — It &#38; &#60;b&#62;</p>`,
      );
    }
  });

  it("a suite's heading shows its latest complete run; a suite with only partial runs shows its name alone", () => {
    const html = renderStatusMain(overviewOf());
    expect(html).toContain(`<h2>shop <span class="muted">latest run WARN 7.5, ${timeAt}</span></h2>`);
    // Suites and their components follow each other with nothing between.
    expect(html).toContain('</section></section><section class="suite"><h2>partial</h2></section>');
    expect(html).toContain('</details></section><section class="component" aria-labelledby="c-shop/web">');
    // Any of the three missing: no status line rather than a half one.
    const partial = [
      { score: 7, at },
      { status: 'PASS' as const, at },
      { status: 'PASS' as const, score: 7 },
    ];
    for (const [i, fields] of partial.entries()) {
      const suites = [{ name: `s${i}`, ...fields, components: [] }];
      expect(renderStatusMain(overviewOf({ suites }))).toContain(`<section class="suite"><h2>s${i}</h2></section>`);
    }
  });

  it('each component: status by mark and text, its score, when, and a bar of its days labelled with their counts', () => {
    const html = renderStatusMain(overviewOf());
    expect(html).toContain(
      `<section class="component" aria-labelledby="c-shop/db"><h3 id="c-shop/db">db</h3><p class="status WARN">! WARN <span class="score">6.0</span>/10 <span class="muted">at ${timeAt}</span></p>` +
        '<div class="bar" role="img" aria-label="4 days: 1 passing, 1 warning, 1 failing, 1 without runs">' +
        '<span class="cell none" title="2026-11-28: no runs"></span>' +
        '<span class="cell pass" title="2026-11-29: worst PASS, lowest score 9.0, last 9.5"></span>' +
        '<span class="cell warn" title="2026-11-30: worst WARN, lowest score 6.0, last 7.0"></span>' +
        '<span class="cell fail" title="2026-12-01: worst FAIL, lowest score 2.0, last 6.0"></span></div>',
    );
    expect(html).toContain('<p class="status PASS">✓ PASS <span class="score">10.0</span>/10');
    expect(html).toContain('aria-label="4 days: 1 passing, 0 warning, 0 failing, 3 without runs"');
  });

  it('the days not passing in a table a keyboard reaches; none for a component that passed every day it ran', () => {
    const html = renderStatusMain(overviewOf());
    expect(html).toContain(
      '<details id="d-shop/db"><summary>Days not passing (2)</summary><table><thead><tr><th scope="col">Day</th><th scope="col">Worst</th><th scope="col">Lowest score</th><th scope="col">Last score</th></tr></thead><tbody>' +
        '<tr><td>2026-11-30</td><td>! WARN</td><td>6.0</td><td>7.0</td></tr>' +
        '<tr><td>2026-12-01</td><td>✕ FAIL</td><td>2.0</td><td>6.0</td></tr></tbody></table></details></section>',
    );
    expect(html).not.toContain('id="d-shop/web"');
    expect(html).toContain(
      '<span class="cell pass" title="2026-12-01: worst PASS, lowest score 10.0, last 10.0"></span></div></section>',
    );
    expect(html.match(/<details/g)).toHaveLength(1);
  });

  it('a cell without its own day takes the day of its column', () => {
    const html = renderStatusMain(
      overviewOf({
        days: ['2026-11-30', '2026-12-01'],
        suites: [{ name: 's', components: [{ name: 'c', status: 'PASS', score: 9, at, days: [null, null, null] }] }],
      }),
    );
    // A third column the overview has no day for is still a cell, without a date.
    expect(html).toContain(
      '<span class="cell none" title="2026-11-30: no runs"></span><span class="cell none" title="2026-12-01: no runs"></span><span class="cell none" title=": no runs"></span>',
    );
  });

  it('incidents: open ones firing since when, marked by severity; resolved ones with their span; the sentence escaped', () => {
    const html = renderStatusMain(
      overviewOf({
        incidents: {
          open: [incident({}), incident({ severity: 'ticket', slo: 'latency' })],
          recent: [
            incident({ state: 'resolved', resolvedAt: '2026-12-01T09:30:00.000Z' }),
            incident({ state: 'resolved', severity: 'ticket' }),
          ],
        },
      }),
    );
    const explained = '<p>Burning &#60;fast&#62; &#38; &#34;loud&#34;.</p></li>';
    expect(html).toContain(
      `<h2>Open incidents</h2><ul class="incidents"><li class="incident firing page"><p><strong>✕ Firing: availability</strong> (page, firing since ${timeAt})</p>${explained}` +
        `<li class="incident firing ticket"><p><strong>! Firing: latency</strong> (ticket, firing since ${timeAt})</p>${explained}</ul>`,
    );
    expect(html).toContain(
      `<h2>Recent incidents</h2><ul class="incidents"><li class="incident resolved page"><p><strong>✓ Resolved: availability</strong> (page, ${timeAt} – <time datetime="2026-12-01T09:30:00.000Z">2026-12-01 09:30 UTC</time>)</p>${explained}` +
        `<li class="incident resolved ticket"><p><strong>✓ Resolved: availability</strong> (ticket, ${timeAt} – resolved)</p>${explained}</ul>`,
    );
  });

  it('says so when there are no incidents, and what a bar is, with the time it was made', () => {
    const html = renderStatusMain(overviewOf());
    expect(html).toContain('<h2>Open incidents</h2><p>No open incidents.</p>');
    expect(html).toContain('<h2>Recent incidents</h2><p>No recent incidents.</p>');
    expect(html).toContain(
      '<p class="muted">Updated <time datetime="2026-12-01T10:00:00.000Z">2026-12-01 10:00 UTC</time>. Each bar is the last 4 days, one cell per day (UTC)',
    );
    expect(html.startsWith('<h1>vigil status</h1>\n')).toBe(true);
    expect(renderStatusMain(overviewOf(), 'Shop & co')).toMatch(/^<h1>Shop &#38; co<\/h1>/);
  });

  it('the page: its sequence for the live script, its title, its style and script, the content in <main>', () => {
    const o = overviewOf();
    const page = renderStatusPage(o, 'Shop & co');
    expect(page.startsWith('<!doctype html>\n<html lang="en" data-seq="7">')).toBe(true);
    expect(page).toContain('<title>Shop &#38; co</title><style>');
    expect(page).toContain('.cell.fail');
    expect(page).toContain('<script src="/assets/live.js" defer></script></head>\n<body><main>\n');
    expect(page).toContain(`${renderStatusMain(o, 'Shop & co')}\n</main></body></html>\n`);
    expect(renderStatusPage(o)).toContain('<title>vigil status</title>');
  });

  it('the live script follows /events and swaps <main> for the fragment; what runs after a swap is the caller’s', () => {
    expect(liveScript).toContain("const main = document.querySelector('main');");
    expect(liveScript).toContain(followLiveSource());
    expect(followLiveSource()).toBe(followLiveSource(''));
    expect(followLiveSource('redraw();')).toContain('root.dataset.seq;\n        redraw();\n');
    expect(followLiveSource()).toContain("new EventSource('/events')");
  });
});
