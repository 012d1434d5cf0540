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

/** Experiments on the timeline: the newest this many. */
const TIMELINE_EXPERIMENTS = 30;
/** Series drawn with their anomalies: those with the newest this many. */
const ANOMALY_CHARTS = 6;

// Stryker disable next-line ConditionalExpression: equivalent, Date.parse(undefined) is NaN, which JSON writes as null too
const ms = (iso: string | undefined) => (iso === undefined ? null : Date.parse(iso));

/**
 * The experiments as a timeline (drawn by the script from `data-experiments`): per experiment,
 * the gate and preparation, the fault injected, the recovery after the rollback.
 */
function timelineFigure(xs: readonly Experiment[]): string {
  if (xs.length === 0) return '';
  const data = xs.map((x) => ({
    id: x.experimentId,
    start: ms(x.startedAt),
    injected: ms(x.injectedAt),
    rolledBack: ms(x.rolledBackAt),
    end: ms(x.endedAt),
    outcome: x.recovered === false ? 'not recovered' : x.state,
  }));
  const running = xs.filter((x) => x.state === 'running').length;
  return `<figure class="timeline" data-experiments="${escapeHtml(JSON.stringify(data))}"><figcaption>The ${xs.length} latest experiments over time (${running} running): grey while the gate is checked and the fault prepared, red while the fault is injected, amber from the rollback until recovery is verified. The table below has the same, with every gate value.</figcaption><div class="chart" role="img" aria-label="${escapeHtml(`timeline of ${xs.length} chaos experiments`)}"></div></figure>`;
}

/**
 * A series' chart with its flagged points (drawn by the script: the series from the anomaly
 * service, the flags from `data-flags`), captioned with the newest anomaly's feature contributions.
 */
function anomalyFigure(series: string, anomalies: readonly Anomaly[]): string {
  const newest = anomalies[0]!;
  const flags = anomalies.map((a) => ({ t: Date.parse(a.timestamp), v: a.value }));
  const features = newest.features.map((f) => `${f.name} ${num(f.contribution, 2)}`).join(', ');
  const caption = `<strong>${escapeHtml(series)}</strong>: ${anomalies.length} flagged point${anomalies.length === 1 ? '' : 's'} (red); the newest at ${time(newest.timestamp)}, value ${num(newest.value, 3)}, likelihood ${num(newest.likelihood, 3)} (threshold ${num(newest.threshold, 2)}), set apart by ${escapeHtml(features || 'no feature')}.`;
  return `<figure class="anomaly" data-series="${escapeHtml(series)}" data-flags="${escapeHtml(JSON.stringify(flags))}"><figcaption>${caption}</figcaption><div class="chart" role="img" aria-label="${escapeHtml(`${series}: values with the flagged points marked`)}"></div></figure>`;
}

/** The series with the newest anomalies, each with its anomalies newest first (`bySeq` order in). */
function anomalyFigures(anomalies: readonly Anomaly[]): string {
  const bySeries = new Map<string, Anomaly[]>();
  for (const a of anomalies) {
    const list = bySeries.get(a.series);
    if (list !== undefined) list.push(a);
    else if (bySeries.size < ANOMALY_CHARTS) bySeries.set(a.series, [a]);
  }
  return [...bySeries].map(([series, list]) => anomalyFigure(series, list)).join('');
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
<section aria-labelledby="slos"><h2 id="slos">SLOs</h2>${sloSection}</section>
<section aria-labelledby="chaos"><h2 id="chaos">Chaos experiments</h2>${timelineFigure(bySeq(m.experiments.values()).slice(0, TIMELINE_EXPERIMENTS))}${table(
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
  )}</section>
<section aria-labelledby="anomalies"><h2 id="anomalies">Anomalies</h2>${anomalyFigures(bySeq(m.anomalies.values()))}${table(
    ['Series', 'Point at', 'Value', 'Likelihood', 'Top features', 'Trace'],
    bySeq(m.anomalies.values())
      .map((a) => anomalyRow(a, jaegerUrl))
      .join(''),
    'No anomalies detected.',
  )}</section>
<section aria-labelledby="incidents"><h2 id="incidents">Incidents</h2>${table(
    ['SLO', 'Severity', 'State', 'Since', 'Resolved', 'Explanation', 'Trace'],
    bySeq(m.incidents.values())
      .map((i) => incidentRow(i, jaegerUrl))
      .join(''),
    'No incidents.',
  )}</section>`;
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
 * slo-engine's history, thresholds as dashed lines; the experiments' timeline; each anomaly
 * series from the anomaly service with its flagged points; follows /events like the status page, and
 * draws the charts again after each swap.
 */
export const dashboardScript = `(() => {
  const root = document.documentElement;
  const main = document.querySelector('main');
  const palette = ['#0969da', '#8250df', '#bf3989', '#bc4c00', '#1a7f37', '#9a6700', '#57606a', '#cf222e'];
  const red = '#cf222e';
  function drawTimeline(fig) {
    const xs = JSON.parse(fig.dataset.experiments || '[]');
    if (xs.length === 0) return;
    const now = Date.now();
    const endOf = (e) => e.end ?? now;
    // Every phase's time counts: they come from the chaos service's clock, the start and end
    // from the stream's.
    const times = xs.flatMap((e) => [e.start, e.injected, e.rolledBack, endOf(e)]).filter((t) => t != null);
    const t0 = Math.min(...times);
    const t1 = Math.max(...times);
    const pad = Math.max((t1 - t0) * 0.03, 1000);
    // The newest on top: experiment i at y = n - 1 - i.
    const n = xs.length;
    const el = fig.querySelector('.chart');
    el.replaceChildren();
    new uPlot({
      width: Math.max(300, fig.clientWidth), height: 70 + 24 * n,
      title: 'chaos experiments: gate (grey), fault injected (red), recovering (amber)',
      legend: { show: false }, cursor: { show: false },
      scales: { x: { time: true, range: [(t0 - pad) / 1000, (t1 + pad) / 1000] }, y: { auto: false, range: [-0.6, n - 0.4] } },
      axes: [{}, { size: 160, splits: () => xs.map((_, i) => i), values: (u, ys) => ys.map((y) => xs[n - 1 - y]?.id ?? '') }],
      series: [{}, { stroke: 'transparent' }],
      hooks: { draw: [(u) => {
        const ctx = u.ctx;
        ctx.save();
        const h = Math.max(4, Math.abs(u.valToPos(0, 'y', true) - u.valToPos(1, 'y', true)) * 0.55);
        xs.forEach((e, i) => {
          const y = u.valToPos(n - 1 - i, 'y', true);
          const bar = (from, to, colour) => {
            if (from == null) return;
            const a = u.valToPos(from / 1000, 'x', true);
            const b = u.valToPos(to / 1000, 'x', true);
            ctx.fillStyle = colour;
            ctx.fillRect(a, y - h / 2, Math.max(3, b - a), h);
          };
          bar(e.start, e.injected ?? endOf(e), '#8c959f');
          bar(e.injected, e.rolledBack ?? endOf(e), red);
          bar(e.rolledBack, endOf(e), '#bf8700');
        });
        ctx.restore();
      }] },
    }, [[t0 / 1000, t1 / 1000], [null, null]], el);
  }
  async function drawAnomaly(fig) {
    const flags = JSON.parse(fig.dataset.flags || '[]');
    const r = await fetch('/api/anomalies/points?series=' + encodeURIComponent(fig.dataset.series), { cache: 'no-store' });
    const p = r.ok ? await r.json() : { times: [], values: [] };
    // One x axis for both: the series' 5-minute points and the flagged points' own times.
    const at = new Map();
    p.times.forEach((t, i) => at.set(t, [p.values[i], null]));
    for (const f of flags) {
      const v = at.get(f.t);
      if (v) v[1] = f.v; else at.set(f.t, [null, f.v]);
    }
    const x = [...at.keys()].sort((a, b) => a - b);
    const el = fig.querySelector('.chart');
    el.replaceChildren();
    new uPlot({
      width: Math.max(300, fig.clientWidth), height: 200,
      title: fig.dataset.series + (r.ok ? '' : ' (series not available from the anomaly service)'),
      series: [{}, { label: 'value (last of each 5 min)', stroke: '#0969da', width: 1.5, spanGaps: true },
        { label: 'flagged', stroke: red, fill: red, paths: () => null, points: { show: true, size: 10, stroke: red, fill: red } }],
    }, [x.map((t) => t / 1000), x.map((t) => at.get(t)[0]), x.map((t) => at.get(t)[1])], el);
  }
  async function draw() {
    for (const fig of main.querySelectorAll('figure.timeline')) drawTimeline(fig);
    for (const fig of main.querySelectorAll('figure.anomaly')) await drawAnomaly(fig);
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
