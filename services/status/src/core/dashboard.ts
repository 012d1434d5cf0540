import type { Anomaly, Experiment, Incident, ReadModel } from './model.js';
import { escapeHtml, followLiveSource } from './page.js';

/** What the dashboard shows of an SLO (the slo-engine's /slos). */
export interface SloSummary {
  readonly name: string;
  readonly service: string;
  readonly objective: number;
  readonly window: string;
  readonly budget: { readonly remainingPercent: number };
  readonly tiers: readonly {
    readonly severity: string;
    readonly long: string;
    readonly short: string;
    readonly threshold: number;
  }[];
  readonly alerts: readonly { readonly severity: string; readonly since: string }[];
}

const time = (iso: string | undefined) =>
  iso === undefined
    ? '–'
    : `<time datetime="${escapeHtml(iso)}">${escapeHtml(iso.slice(0, 19).replace('T', ' '))}</time>`;
const num = (n: number | undefined, digits = 1) => (n === undefined ? '–' : n.toFixed(digits));

/** A link to the trace in Jaeger, or a dash. */
function trace(jaegerUrl: string, traceId: string | undefined): string {
  if (traceId === undefined) return '–';
  const href = `${jaegerUrl.replace(/\/$/, '')}/trace/${traceId}`;
  return `<a href="${escapeHtml(href)}">trace ${escapeHtml(traceId.slice(0, 8))}</a>`;
}

function gateText(x: Experiment): string {
  if (x.gate === undefined || x.gate.length === 0) return '–';
  return x.gate
    .map(
      (g) =>
        `${g.passed ? '✓' : '✕'} ${escapeHtml(g.check)}${g.value === undefined ? '' : ` ${escapeHtml(String(g.value))}`}`,
    )
    .join('<br>');
}

function experimentRow(x: Experiment, jaegerUrl: string): string {
  const recovered = x.recovered === undefined ? '–' : x.recovered ? '✓ recovered' : '✕ not recovered';
  return `<tr><td>${escapeHtml(x.experimentId)}</td><td>${escapeHtml(x.kind)}${x.dryRun === true ? ' (dry run)' : ''}</td><td>${escapeHtml(x.targets.join(', '))}</td><td>${gateText(x)}</td><td>${time(x.startedAt)}</td><td>${time(x.injectedAt)}</td><td>${time(x.rolledBackAt)}</td><td>${escapeHtml(x.state)}, ${recovered}</td><td>${num(x.scoreBefore)} → ${num(x.scoreAfter)}</td><td>${trace(jaegerUrl, x.traceId)}</td></tr>`;
}

function anomalyRow(a: Anomaly, jaegerUrl: string): string {
  const features = a.features.map((f) => `${escapeHtml(f.name)} ${num(f.contribution, 2)}`).join(', ');
  return `<tr><td>${escapeHtml(a.series)}</td><td>${time(a.timestamp)}</td><td>${num(a.value, 3)}</td><td>${num(a.likelihood, 3)} (≥ ${num(a.threshold, 2)})</td><td>${features}</td><td>${trace(jaegerUrl, a.traceId)}</td></tr>`;
}

function incidentRow(i: Incident, jaegerUrl: string): string {
  return `<tr><td>${escapeHtml(i.slo)}</td><td>${escapeHtml(i.severity)}</td><td>${i.state === 'firing' ? '✕ firing' : '✓ resolved'}</td><td>${time(i.since)}</td><td>${time(i.resolvedAt)}</td><td>${escapeHtml(i.explanation)}</td><td>${trace(jaegerUrl, i.traceId)}</td></tr>`;
}

function sloFigure(s: SloSummary): string {
  const firing = s.alerts.length === 0 ? 'no alert firing' : `firing: ${s.alerts.map((a) => a.severity).join(', ')}`;
  const tiers = s.tiers.map((t) => `${t.severity} ${t.threshold}× over ${t.long} and ${t.short}`).join('; ');
  return `<figure class="slo" data-slo="${escapeHtml(s.name)}" data-tiers="${escapeHtml(JSON.stringify(s.tiers))}"><figcaption><strong>${escapeHtml(s.name)}</strong> (${escapeHtml(s.service)}, ${s.objective}% over ${escapeHtml(s.window)}): ${num(s.budget.remainingPercent)}% of the budget left, ${escapeHtml(firing)}. Alert tiers: ${escapeHtml(tiers)}.</figcaption><div class="chart budget" role="img" aria-label="${escapeHtml(`${s.name}: error budget left over time`)}"></div><div class="chart burn" role="img" aria-label="${escapeHtml(`${s.name}: burn rate of each window over time, with the alert thresholds`)}"></div></figure>`;
}

const table = (head: readonly string[], rows: string, empty: string) =>
  rows === ''
    ? `<p>${empty}</p>`
    : `<div class="scroll"><table><thead><tr>${head.map((h) => `<th scope="col">${h}</th>`).join('')}</tr></thead><tbody>${rows}</tbody></table></div>`;

/** The operator dashboard's content: SLO charts (drawn by the script), experiments, anomalies, incidents. */
export function renderDashboardMain(m: ReadModel, slos: readonly SloSummary[] | string, jaegerUrl: string): string {
  const bySeq = <T extends { readonly seq: number }>(xs: Iterable<T>) => [...xs].sort((a, b) => b.seq - a.seq);
  const sloSection =
    typeof slos === 'string'
      ? `<p>${escapeHtml(slos)}</p>`
      : slos.length === 0
        ? '<p>No SLOs configured.</p>'
        : slos.map(sloFigure).join('');
  return `<h1>vigil dashboard</h1>
<p><a href="/">Public status page</a></p>
<h2 id="slos">SLOs</h2>${sloSection}
<h2 id="chaos">Chaos experiments</h2>${table(
    [
      'Experiment',
      'Kind',
      'Targets',
      'Gate',
      'Started',
      'Injected',
      'Rolled back',
      'Outcome',
      'Score before → after',
      'Trace',
    ],
    bySeq(m.experiments.values())
      .map((x) => experimentRow(x, jaegerUrl))
      .join(''),
    'No experiments yet.',
  )}
<h2 id="anomalies">Anomalies</h2>${table(
    ['Series', 'Point at', 'Value', 'Likelihood', 'Top features', 'Trace'],
    bySeq(m.anomalies.values())
      .map((a) => anomalyRow(a, jaegerUrl))
      .join(''),
    'No anomalies detected.',
  )}
<h2 id="incidents">Incidents</h2>${table(
    ['SLO', 'Severity', 'State', 'Since', 'Resolved', 'Explanation', 'Trace'],
    bySeq(m.incidents.values())
      .map((i) => incidentRow(i, jaegerUrl))
      .join(''),
    'No incidents.',
  )}`;
}

const style = `
:root{--fg:#1f2328;--bg:#fff;--muted:#59636e;--line:#d1d9e0}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--bg:#0d1117;--muted:#9198a1;--line:#3d444d}}
body{font:15px/1.45 system-ui,sans-serif;color:var(--fg);background:var(--bg);margin:0 auto;max-width:80rem;padding:1rem}
a{color:inherit}figure{margin:1rem 0;border-top:1px solid var(--line);padding-top:.5rem}
.chart{min-height:12rem}.scroll{overflow-x:auto}table{border-collapse:collapse;font-size:.9rem}
td,th{padding:.2rem .5rem;text-align:left;vertical-align:top;border-bottom:1px solid var(--line)}
time{color:var(--muted)}
`;

/** The operator dashboard: tables server-rendered; the SLO charts and live updates need script. */
export function renderDashboardPage(main: string, seq: number): string {
  return `<!doctype html>
<html lang="en" data-seq="${seq}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>vigil dashboard</title><link rel="stylesheet" href="/assets/uplot.css"><style>${style}</style>
<script src="/assets/uplot.js" defer></script><script src="/assets/dashboard.js" defer></script></head>
<body><main>
${main}
</main></body></html>
`;
}

/**
 * The dashboard's script: draws each SLO's budget and burn-rate charts (uPlot) from the
 * slo-engine's history, thresholds as dashed lines; follows /events like the status page, and
 * draws the charts again after each swap.
 */
export const dashboardScript = `(() => {
  const root = document.documentElement;
  const main = document.querySelector('main');
  const palette = ['#0969da', '#8250df', '#bf3989', '#bc4c00', '#1a7f37', '#9a6700', '#57606a', '#cf222e'];
  async function draw() {
    for (const fig of main.querySelectorAll('figure.slo')) {
      const name = fig.dataset.slo;
      const tiers = JSON.parse(fig.dataset.tiers || '[]');
      const r = await fetch('/api/slos/' + encodeURIComponent(name) + '/history', { cache: 'no-store' });
      if (!r.ok) continue;
      const h = await r.json();
      const x = h.times.map((t) => t / 1000);
      const width = Math.max(300, fig.clientWidth);
      const budget = fig.querySelector('.chart.budget');
      budget.replaceChildren();
      new uPlot({ width, height: 180, title: name + ': error budget left (%)',
        series: [{}, { label: 'budget left %', stroke: '#0969da', width: 2 }],
        axes: [{}, { label: '%' }] }, [x, h.budgetRemaining.map((v) => v * 100)], budget);
      const windows = Object.keys(h.burnRates);
      const series = [{}];
      const data = [x];
      windows.forEach((w, i) => { series.push({ label: 'burn ' + w, stroke: palette[i % palette.length], width: 1.5 }); data.push(h.burnRates[w]); });
      for (const t of tiers) {
        series.push({ label: t.severity + ' ' + t.threshold + '× (' + t.long + '/' + t.short + ')', stroke: t.severity === 'page' ? '#cf222e' : '#9a6700', dash: [6, 4], width: 1 });
        data.push(x.map(() => t.threshold));
      }
      const burn = fig.querySelector('.chart.burn');
      burn.replaceChildren();
      new uPlot({ width, height: 220, title: name + ': burn rate by window, thresholds dashed',
        series, axes: [{}, { label: '×' }] }, data, burn);
    }
    root.dataset.drawn = String(Number(root.dataset.drawn || 0) + 1);
  }
  draw();
${followLiveSource('await draw();')}
})();
`;
