import type { DayCell, Health, Incident } from './model.js';
import type { ComponentView, OverallState, Overview } from './overview.js';

/** Text for HTML element content and attribute values (double-quoted). */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Status by text and shape, never by colour alone: each has its own mark. */
const mark: Record<Health, string> = { PASS: '✓', WARN: '!', FAIL: '✕' };
const stateText: Record<OverallState, string> = {
  operational: 'Operational',
  degraded: 'Degraded',
  failing: 'Failing',
  unknown: 'No data',
};
const stateMark: Record<OverallState, string> = { operational: '✓', degraded: '!', failing: '✕', unknown: '?' };

const time = (iso: string) =>
  `<time datetime="${escapeHtml(iso)}">${escapeHtml(iso.slice(0, 16).replace('T', ' '))} UTC</time>`;
const score = (n: number) => n.toFixed(1);

function cellText(day: string, c: DayCell | null): string {
  if (c === null) return `${day}: no runs`;
  return `${day}: worst ${c.worst}, lowest score ${score(c.minScore)}, last ${score(c.lastScore)}`;
}

function bar(c: ComponentView, days: readonly string[], id: string): string {
  const counts = { PASS: 0, WARN: 0, FAIL: 0, none: 0 };
  for (const d of c.days) counts[d === null ? 'none' : d.worst]++;
  const summary = `${c.days.length} days: ${counts.PASS} passing, ${counts.WARN} warning, ${counts.FAIL} failing, ${counts.none} without runs`;
  const cells = c.days
    .map((d, i) => {
      const day = d?.day ?? days[i] ?? '';
      const cls = d === null ? 'none' : d.worst.toLowerCase();
      return `<span class="cell ${cls}" title="${escapeHtml(cellText(day, d))}"></span>`;
    })
    .join('');
  // The cells carry the figures on hover; the list's label and the table below carry them for
  // keyboards and screen readers (90 tab stops per component would be no help).
  const notable = c.days.filter((d): d is DayCell => d !== null && d.worst !== 'PASS');
  const details =
    notable.length === 0
      ? ''
      : `<details id="${id}"><summary>Days not passing (${notable.length})</summary><table><thead><tr><th scope="col">Day</th><th scope="col">Worst</th><th scope="col">Lowest score</th><th scope="col">Last score</th></tr></thead><tbody>${notable
          .map(
            (d) =>
              `<tr><td>${escapeHtml(d.day)}</td><td>${mark[d.worst]} ${d.worst}</td><td>${score(d.minScore)}</td><td>${score(d.lastScore)}</td></tr>`,
          )
          .join('')}</tbody></table></details>`;
  // One image to assistive technology (its label counts the days); the cells are decoration.
  return `<div class="bar" role="img" aria-label="${escapeHtml(summary)}">${cells}</div>${details}`;
}

function incidentItem(i: Incident): string {
  const when =
    i.state === 'firing'
      ? `firing since ${time(i.since)}`
      : `${time(i.since)} – ${i.resolvedAt === undefined ? 'resolved' : time(i.resolvedAt)}`;
  const label = i.state === 'firing' ? `${i.severity === 'page' ? '✕' : '!'} Firing` : '✓ Resolved';
  return `<li class="incident ${i.state} ${i.severity}"><p><strong>${escapeHtml(label)}: ${escapeHtml(i.slo)}</strong> (${escapeHtml(i.severity)}, ${when})</p><p>${escapeHtml(i.explanation)}</p></li>`;
}

const style = `
:root{--pass:#1a7f37;--warn:#9a6700;--fail:#cf222e;--none:#8c959f;--fg:#1f2328;--bg:#fff;--muted:#59636e}
@media (prefers-color-scheme:dark){:root{--pass:#3fb950;--warn:#d29922;--fail:#f85149;--none:#6e7681;--fg:#e6edf3;--bg:#0d1117;--muted:#9198a1}}
*{box-sizing:border-box}body{font:16px/1.5 system-ui,sans-serif;color:var(--fg);background:var(--bg);margin:0 auto;max-width:60rem;padding:1rem}
h1{font-size:1.5rem}h2{font-size:1.25rem;margin-top:2rem}h3{font-size:1rem;margin:1rem 0 .25rem}
.state{font-size:1.25rem;padding:.75rem 1rem;border:2px solid;border-radius:.5rem}
.state.operational{border-color:var(--pass)}.state.degraded{border-color:var(--warn);border-style:dashed}.state.failing{border-color:var(--fail);border-width:4px}
.component{display:grid;grid-template-columns:1fr auto;gap:.25rem 1rem;margin:.75rem 0}
.status.PASS{color:var(--pass)}.status.WARN{color:var(--warn)}.status.FAIL{color:var(--fail)}
.bar{grid-column:1/-1;display:flex;gap:1px;height:2rem;align-items:flex-end}
.cell{flex:1;min-width:2px;height:100%;background:var(--pass)}
.cell.warn{height:66%;background:var(--warn)}
.cell.fail{height:33%;background:var(--fail)}
.cell.none{height:100%;background:transparent;border-bottom:2px solid var(--none)}
.cell:hover{outline:2px solid var(--fg)}
details{grid-column:1/-1;font-size:.9rem}table{border-collapse:collapse}td,th{padding:.1rem .5rem;text-align:left}
.muted,time{color:var(--muted)}ul.incidents{list-style:none;padding:0}.incident{border-left:4px solid var(--pass);padding-left:.75rem;margin:.75rem 0}
.incident.firing.page{border-left-color:var(--fail);border-left-width:8px}.incident.firing.ticket{border-left-color:var(--warn);border-left-style:dashed}
.incident p{margin:.1rem 0}
`;

/** The page's content (what `<main>` holds): the live script swaps it for a fresh one. */
export function renderStatusMain(o: Overview, title = 'vigil status'): string {
  const suites = o.suites
    .map((s) => {
      const head =
        s.status === undefined || s.score === undefined || s.at === undefined
          ? ''
          : ` <span class="muted">latest run ${escapeHtml(s.status)} ${score(s.score)}, ${time(s.at)}</span>`;
      const components = s.components
        .map((c) => {
          const id = escapeHtml(`${s.name}/${c.name}`);
          return `<section class="component" aria-labelledby="c-${id}"><h3 id="c-${id}">${escapeHtml(c.name)}</h3><p class="status ${c.status}">${mark[c.status]} ${c.status} <span class="score">${score(c.score)}</span>/10 <span class="muted">at ${time(c.at)}</span></p>${bar(c, o.days, `d-${id}`)}</section>`;
        })
        .join('');
      return `<section class="suite"><h2>${escapeHtml(s.name)}${head}</h2>${components}</section>`;
    })
    .join('');
  const open =
    o.incidents.open.length === 0
      ? '<p>No open incidents.</p>'
      : `<ul class="incidents">${o.incidents.open.map(incidentItem).join('')}</ul>`;
  const recent =
    o.incidents.recent.length === 0
      ? '<p>No recent incidents.</p>'
      : `<ul class="incidents">${o.incidents.recent.map(incidentItem).join('')}</ul>`;
  return `<h1>${escapeHtml(title)}</h1>
<p class="state ${o.state}" role="status"><strong>${stateMark[o.state]} ${stateText[o.state]}</strong> — ${escapeHtml(o.headline)}</p>
<h2>Open incidents</h2>${open}
${suites}
<h2>Recent incidents</h2>${recent}
<p class="muted">Updated ${time(o.generatedAt)}. Each bar is the last ${o.days.length} days, one cell per day (UTC), the worst status of the day: full height passing, two thirds warning, one third failing, a baseline alone without runs.</p>`;
}

/**
 * The public status page: server-rendered and complete without script, safe to expose. It shows
 * names, statuses, scores and the SLO engine's explanation sentences; never check messages,
 * requests or hosts. With script, `/assets/live.js` keeps it current over Server-Sent Events.
 */
export function renderStatusPage(o: Overview, title = 'vigil status'): string {
  return `<!doctype html>
<html lang="en" data-seq="${o.seq}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title><style>${style}</style><script src="/assets/live.js" defer></script></head>
<body><main>
${renderStatusMain(o, title)}
</main></body></html>
`;
}

/**
 * What both pages' scripts share (`root` and `main` declared before it): on each `change` from
 * /events newer than what the page shows, the content is fetched again and swapped in (open
 * tables kept open), then `afterSwap` runs. EventSource reconnects by itself and sends
 * Last-Event-ID; the server answers a client that is behind at once.
 */
export function followLiveSource(afterSwap = ''): string {
  return `
  let busy = false;
  let again = false;
  async function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      const r = await fetch(location.pathname + '?fragment=main', { cache: 'no-store' });
      if (r.ok) {
        const open = Array.from(main.querySelectorAll('details[open]'), (d) => d.id);
        main.innerHTML = await r.text();
        for (const id of open) document.getElementById(id)?.setAttribute('open', '');
        root.dataset.seq = r.headers.get('x-vigil-seq') || root.dataset.seq;
        ${afterSwap}
      }
    } catch { /* the next change or reconnect tries again */ }
    busy = false;
    if (again) { again = false; refresh(); }
  }
  if ('EventSource' in window) {
    new EventSource('/events').addEventListener('change', (e) => {
      if (Number(JSON.parse(e.data).seq) > Number(root.dataset.seq || 0)) refresh();
    });
  }`;
}

/** The status page's only script. */
export const liveScript = `(() => {
  const root = document.documentElement;
  const main = document.querySelector('main');
${followLiveSource()}
})();
`;
