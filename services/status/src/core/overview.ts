import { dayOf, type DayCell, type Experiment, type Health, type Incident, type ReadModel } from './model.js';

export type OverallState = 'operational' | 'degraded' | 'failing' | 'unknown';

export interface ComponentView {
  readonly name: string;
  readonly status: Health;
  readonly score: number;
  readonly at: string;
  /** One entry per day, oldest first, ending today (UTC); null where no run was seen. */
  readonly days: readonly (DayCell | null)[];
}

export interface SuiteView {
  readonly name: string;
  /** Of the latest complete run; absent while only partial runs were seen. */
  readonly status?: 'PASS' | 'WARN' | 'FAIL' | 'ERROR';
  readonly score?: number;
  readonly at?: string;
  readonly components: readonly ComponentView[];
}

export interface Overview {
  readonly state: OverallState;
  /** One sentence for people: what the state rests on. */
  readonly headline: string;
  readonly generatedAt: string;
  /** The last stream sequence the model holds. */
  readonly seq: number;
  /** The days of every component's `days`, oldest first (YYYY-MM-DD, UTC). */
  readonly days: readonly string[];
  readonly suites: readonly SuiteView[];
  readonly incidents: { readonly open: readonly Incident[]; readonly recent: readonly Incident[] };
  readonly experiments: { readonly running: readonly Experiment[]; readonly recent: readonly Experiment[] };
}

// Names are unique where this sorts (map keys), and V8's sort only asks whether a result is below zero.
// Stryker disable next-line EqualityOperator,ConditionalExpression: equivalent, no two names are equal here and a 0 for 1 sorts the same
const byName = <T extends { readonly name: string }>(a: T, b: T) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** Each suite with its components, by name, each with a cell per day of `days`. */
function suitesOf(m: ReadModel, days: readonly string[]): SuiteView[] {
  const suites = new Map<string, ComponentView[]>();
  for (const [key, c] of m.components) {
    const cells = m.days.get(key);
    const view: ComponentView = {
      name: c.name,
      status: c.status,
      score: c.score,
      at: c.at,
      days: days.map((d) => cells?.get(d) ?? null),
    };
    const list = suites.get(c.suite);
    if (list === undefined) suites.set(c.suite, [view]);
    else list.push(view);
  }
  const views: SuiteView[] = [...suites].map(([name, components]) => {
    const s = m.suites.get(name);
    return {
      name,
      ...(s === undefined ? {} : { status: s.status, score: s.score, at: s.at }),
      components: components.sort(byName),
    };
  });
  return views.sort(byName);
}

/** The overall state and its one-line headline: failing components or pages first, then warnings or tickets. */
function verdict(
  all: readonly ComponentView[],
  open: readonly { readonly severity: string }[],
): { state: OverallState; headline: string } {
  const failing = all.filter((c) => c.status === 'FAIL').length;
  const warning = all.filter((c) => c.status === 'WARN').length;
  const pages = open.filter((i) => i.severity === 'page').length;
  // Stryker disable next-line ArithmeticOperator: equivalent, tickets are counted only when no page fires (pages is 0)
  const tickets = open.length - pages;
  const list = (parts: string[]) => parts.filter(Boolean).join(', ');
  if (all.length === 0 && open.length === 0) return { state: 'unknown', headline: 'No validation results yet.' };
  if (failing > 0 || pages > 0) {
    const what = list([
      failing > 0 ? `${plural(failing, 'component')} failing` : '',
      pages > 0 ? `${plural(pages, 'page')} firing` : '',
    ]);
    return { state: 'failing', headline: `Failing: ${what}.` };
  }
  if (warning > 0 || tickets > 0) {
    const what = list([
      warning > 0 ? `${plural(warning, 'component')} warning` : '',
      tickets > 0 ? `${plural(tickets, 'ticket')} open` : '',
    ]);
    return { state: 'degraded', headline: `Degraded: ${what}.` };
  }
  return { state: 'operational', headline: `All ${plural(all.length, 'component')} operational.` };
}

/** The read model as people see it at `now`: pure, so the page, the JSON and the CLI agree. */
export function overview(
  m: ReadModel,
  now: Date,
  o: { recentIncidents?: number; recentExperiments?: number } = {},
): Overview {
  const days: string[] = [];
  for (let i = m.limits.days - 1; i >= 0; i--) days.push(dayOf(new Date(now.getTime() - i * 86_400_000)));
  const suiteViews = suitesOf(m, days);
  const incidents = [...m.incidents.values()].sort((a, b) => b.seq - a.seq);
  const open = incidents.filter((i) => i.state === 'firing');
  const recent = incidents.filter((i) => i.state === 'resolved').slice(0, o.recentIncidents ?? 10);
  const experiments = [...m.experiments.values()].sort((a, b) => b.seq - a.seq);
  const running = experiments.filter((x) => x.state === 'running');
  const recentExperiments = experiments.filter((x) => x.state !== 'running').slice(0, o.recentExperiments ?? 10);
  const { state, headline } = verdict(
    suiteViews.flatMap((s) => s.components),
    open,
  );
  return {
    state,
    headline,
    generatedAt: now.toISOString(),
    seq: m.lastSeq,
    days,
    suites: suiteViews,
    incidents: { open, recent },
    experiments: { running, recent: recentExperiments },
  };
}
