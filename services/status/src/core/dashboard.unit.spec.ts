import { describe, expect, it } from 'vitest';
import { dashboardScript, renderDashboardMain, renderDashboardPage, type SloSummary } from './dashboard.js';
import { createModel, putAnomaly, putExperiment, putIncident, type Anomaly } from './model.js';
import { followLiveSource } from './page.js';
import { experimentOf, incidentOf } from '../testing/model.js';

const at = '2026-12-01T08:00:00.000Z';
const shown = `<time datetime="${at}">2026-12-01 08:00:00</time>`;
const jaeger = 'http://jaeger:16686/';
const traceId = '0af7651916cd43dd8448eb211c80319c';
const traceLink = `<a href="http://jaeger:16686/trace/${traceId}">trace 0af76519</a>`;

function anomaly(over: Partial<Anomaly> & Pick<Anomaly, 'seq'>): Anomaly {
  return { series: 'cpu', timestamp: at, value: 1.23456, likelihood: 0.99912, threshold: 0.995, features: [], ...over };
}

const slo: SloSummary = {
  name: 'availability',
  service: 'vigil',
  objective: 99.9,
  window: '30d',
  budget: { remainingPercent: 87.654 },
  tiers: [
    { severity: 'page', long: '1h', short: '5m', threshold: 14.4 },
    { severity: 'ticket', long: '1d', short: '2h', threshold: 3 },
  ],
  alerts: [],
};

const empty = () => renderDashboardMain(createModel(), [], jaeger);

describe('operator dashboard', () => {
  it('says what is empty: no SLOs, experiments, anomalies or incidents; or why the SLOs are missing', () => {
    const html = empty();
    expect(html).toBe(`<h1>vigil dashboard</h1>
<p><a href="/">Public status page</a></p>
<section aria-labelledby="slos"><h2 id="slos">SLOs</h2><p>No SLOs configured.</p></section>
<section aria-labelledby="chaos"><h2 id="chaos">Chaos experiments</h2><p>No experiments yet.</p></section>
<section aria-labelledby="anomalies"><h2 id="anomalies">Anomalies</h2><p>No anomalies detected.</p></section>
<section aria-labelledby="incidents"><h2 id="incidents">Incidents</h2><p>No incidents.</p></section>`);
    expect(renderDashboardMain(createModel(), 'slo-engine <down>', jaeger)).toContain(
      '<h2 id="slos">SLOs</h2><p>slo-engine &#60;down&#62;</p></section>',
    );
  });

  it('an SLO: its objective, the budget left, what fires, its tiers, and the two charts the script draws', () => {
    const html = renderDashboardMain(
      createModel(),
      [
        slo,
        {
          ...slo,
          name: 'latency',
          alerts: [
            { severity: 'page', since: at },
            { severity: 'ticket', since: at },
          ],
        },
      ],
      jaeger,
    );
    const tiers = JSON.stringify(slo.tiers).replace(/"/g, '&#34;');
    expect(html).toContain(
      `<figure class="slo" data-slo="availability" data-tiers="${tiers}"><figcaption><strong>availability</strong> (vigil, 99.9% over 30d): 87.7% of the budget left, no alert firing. Alert tiers: page 14.4× over 1h and 5m; ticket 3× over 1d and 2h.</figcaption>` +
        '<div class="chart budget" role="img" aria-label="availability: error budget left over time"></div>' +
        '<div class="chart burn" role="img" aria-label="availability: burn rate of each window over time, with the alert thresholds"></div></figure><figure class="slo" data-slo="latency"',
    );
    expect(html).toContain('87.7% of the budget left, firing: page, ticket. Alert tiers');
  });

  it('experiments, newest first: kind (dry run), targets, each gate check with its value, the phases, the outcome, the scores, the trace', () => {
    const m = createModel();
    putExperiment(
      m,
      experimentOf({
        experimentId: 'x1',
        seq: 1,
        recovered: true,
        injectedAt: at,
        rolledBackAt: at,
        endedAt: at,
        scoreBefore: 9.44,
        scoreAfter: 8,
        traceId,
        gate: [
          { check: 'score', passed: true, value: 9.4 },
          { check: 'protected', passed: false },
        ],
      }),
    );
    putExperiment(m, experimentOf({ experimentId: 'x2', seq: 2, recovered: false, dryRun: true, gate: [] }));
    putExperiment(m, experimentOf({ experimentId: 'x3', seq: 3, state: 'running' }));
    const html = renderDashboardMain(m, [], jaeger);
    expect(html).toContain(
      '<div class="scroll"><table><thead><tr><th scope="col">Experiment</th><th scope="col">Kind</th><th scope="col">Targets</th><th scope="col">Gate</th><th scope="col">Started</th><th scope="col">Injected</th><th scope="col">Rolled back</th><th scope="col">Outcome</th><th scope="col">Score before → after</th><th scope="col">Trace</th></tr></thead><tbody>' +
        `<tr><td>x3</td><td>container-kill</td><td>a, b</td><td>–</td><td>${shown}</td><td>–</td><td>–</td><td>running, –</td><td>– → –</td><td>–</td></tr>` +
        `<tr><td>x2</td><td>container-kill (dry run)</td><td>a, b</td><td>–</td><td>${shown}</td><td>–</td><td>–</td><td>completed, ✕ not recovered</td><td>– → –</td><td>–</td></tr>` +
        `<tr><td>x1</td><td>container-kill</td><td>a, b</td><td>✓ score 9.4<br>✕ protected</td><td>${shown}</td><td>${shown}</td><td>${shown}</td><td>completed, ✓ recovered</td><td>9.4 → 8.0</td><td>${traceLink}</td></tr>` +
        '</tbody></table></div></section>',
    );
  });

  it('the experiments timeline: the phases of the newest 30 as data for the script, with how many run', () => {
    const m = createModel();
    putExperiment(
      m,
      experimentOf({ experimentId: 'done', seq: 1, injectedAt: at, rolledBackAt: at, endedAt: at, recovered: true }),
    );
    putExperiment(m, experimentOf({ experimentId: 'bad', seq: 2, endedAt: at, recovered: false }));
    putExperiment(m, experimentOf({ experimentId: 'stopped', seq: 3, state: 'aborted', endedAt: at }));
    putExperiment(m, experimentOf({ experimentId: 'now', seq: 4, state: 'running' }));
    const t = Date.parse(at);
    const data = [
      { id: 'now', start: t, injected: null, rolledBack: null, end: null, outcome: 'running' },
      { id: 'stopped', start: t, injected: null, rolledBack: null, end: t, outcome: 'aborted' },
      { id: 'bad', start: t, injected: null, rolledBack: null, end: t, outcome: 'not recovered' },
      { id: 'done', start: t, injected: t, rolledBack: t, end: t, outcome: 'completed' },
    ];
    expect(renderDashboardMain(m, [], jaeger)).toContain(
      `<h2 id="chaos">Chaos experiments</h2><figure class="timeline" data-experiments="${JSON.stringify(data).replace(/"/g, '&#34;')}"><figcaption>The 4 latest experiments over time (1 running): grey while the gate is checked and the fault prepared, red while the fault is injected, amber from the rollback until recovery is verified. The table below has the same, with every gate value.</figcaption><div class="chart" role="img" aria-label="timeline of 4 chaos experiments"></div></figure><div class="scroll">`,
    );
    for (let i = 5; i <= 40; i++) putExperiment(m, experimentOf({ experimentId: `e${i}`, seq: i }));
    const html = renderDashboardMain(m, [], jaeger);
    expect(html).toContain('The 30 latest experiments over time (0 running)');
    expect(html.match(/<tr><td>/g)).toHaveLength(40);
  });

  it('anomalies: a chart per series with its flagged points, captioned by the newest; a row each with its features and trace', () => {
    const m = createModel();
    putAnomaly(m, anomaly({ seq: 1, value: 1 }));
    putAnomaly(
      m,
      anomaly({
        seq: 2,
        features: [
          { name: 'slope', contribution: 0.7 },
          { name: 'level', contribution: 0.2 },
        ],
        traceId,
      }),
    );
    putAnomaly(m, anomaly({ seq: 3, series: 'mem' }));
    const html = renderDashboardMain(m, [], jaeger);
    const flags = (vs: number[]) => JSON.stringify(vs.map((v) => ({ t: Date.parse(at), v }))).replace(/"/g, '&#34;');
    expect(html).toContain(
      `<h2 id="anomalies">Anomalies</h2><figure class="anomaly" data-series="mem" data-flags="${flags([1.23456])}"><figcaption><strong>mem</strong>: 1 flagged point (red); the newest at ${shown}, value 1.235, likelihood 0.999 (threshold 0.99), set apart by no feature.</figcaption><div class="chart" role="img" aria-label="mem: values with the flagged points marked"></div></figure>` +
        `<figure class="anomaly" data-series="cpu" data-flags="${flags([1.23456, 1])}"><figcaption><strong>cpu</strong>: 2 flagged points (red); the newest at ${shown}, value 1.235, likelihood 0.999 (threshold 0.99), set apart by slope 0.70, level 0.20.</figcaption>`,
    );
    expect(html).toContain(
      '<table><thead><tr><th scope="col">Series</th><th scope="col">Point at</th><th scope="col">Value</th><th scope="col">Likelihood</th><th scope="col">Top features</th><th scope="col">Trace</th></tr></thead><tbody>' +
        `<tr><td>mem</td><td>${shown}</td><td>1.235</td><td>0.999 (≥ 0.99)</td><td></td><td>–</td></tr>` +
        `<tr><td>cpu</td><td>${shown}</td><td>1.235</td><td>0.999 (≥ 0.99)</td><td>slope 0.70, level 0.20</td><td>${traceLink}</td></tr>` +
        `<tr><td>cpu</td><td>${shown}</td><td>1.000</td><td>0.999 (≥ 0.99)</td><td></td><td>–</td></tr></tbody></table></div></section>`,
    );
  });

  it('incidents, newest first: state by mark and word, since and until, the explanation escaped, the trace', () => {
    const m = createModel();
    putIncident(m, incidentOf({ seq: 1, state: 'resolved', resolvedAt: at, explanation: 'a <b>', traceId }));
    putIncident(m, incidentOf({ seq: 2, severity: 'ticket' }));
    expect(renderDashboardMain(m, [], jaeger)).toContain(
      '<h2 id="incidents">Incidents</h2><div class="scroll"><table><thead><tr><th scope="col">SLO</th><th scope="col">Severity</th><th scope="col">State</th><th scope="col">Since</th><th scope="col">Resolved</th><th scope="col">Explanation</th><th scope="col">Trace</th></tr></thead><tbody>' +
        `<tr><td>availability</td><td>ticket</td><td>✕ firing</td><td>${shown}</td><td>–</td><td>Burning.</td><td>–</td></tr>` +
        `<tr><td>availability</td><td>page</td><td>✓ resolved</td><td>${shown}</td><td>${shown}</td><td>a &#60;b&#62;</td><td>${traceLink}</td></tr></tbody></table></div></section>`,
    );
    // A Jaeger address without the trailing slash links the same.
    expect(renderDashboardMain(m, [], 'http://jaeger:16686')).toContain(traceLink);
  });

  it('the page around it: its sequence, the chart library and script, the content in <main>', () => {
    const page = renderDashboardPage('<h1>x</h1>', 12);
    expect(page.startsWith('<!doctype html>\n<html lang="en" data-seq="12">')).toBe(true);
    expect(page).toContain(
      '<title>vigil dashboard</title><link rel="stylesheet" href="/assets/uplot.css"><style>\n:root{',
    );
    expect(page).toContain(
      '</style>\n<script src="/assets/uplot.js" defer></script><script src="/assets/dashboard.js" defer></script></head>\n<body><main>\n<h1>x</h1>\n</main></body></html>\n',
    );
  });

  it('its script draws the charts with uPlot and again after each swap of <main>', () => {
    expect(dashboardScript).toContain('new uPlot(');
    expect(dashboardScript).toContain(followLiveSource('await draw();'));
  });
});
