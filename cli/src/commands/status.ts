import { z } from 'zod';
import { getJson } from '../http-json.js';
import { table, type Output } from '../output.js';

const health = z.enum(['PASS', 'WARN', 'FAIL']);
const incident = z.object({
  slo: z.string(),
  severity: z.string(),
  state: z.string(),
  since: z.string(),
  resolvedAt: z.string().optional(),
  explanation: z.string(),
  budgetRemaining: z.number(),
});
/** The part of the status service's /api/status this command shows. */
const overviewSchema = z.object({
  state: z.enum(['operational', 'degraded', 'failing', 'unknown']),
  headline: z.string(),
  generatedAt: z.string(),
  seq: z.number(),
  suites: z.array(
    z.object({
      name: z.string(),
      components: z.array(z.object({ name: z.string(), status: health, score: z.number(), at: z.string() })),
    }),
  ),
  incidents: z.object({ open: z.array(incident), recent: z.array(incident) }),
  experiments: z.object({
    running: z.array(
      z.object({ experimentId: z.string(), kind: z.string(), targets: z.array(z.string()), startedAt: z.string() }),
    ),
  }),
});
const slosSchema = z.object({
  slos: z.array(
    z.object({
      name: z.string(),
      objective: z.number(),
      window: z.string(),
      budget: z.object({ remainingPercent: z.number() }),
      alerts: z.array(z.object({ severity: z.string(), since: z.string() })),
    }),
  ),
});
type StatusOverview = z.infer<typeof overviewSchema>;
type Slos = z.infer<typeof slosSchema>['slos'];

export interface StatusSources {
  /** The status service, e.g. http://127.0.0.1:9475. */
  readonly statusUrl: string;
  /** The slo-engine, for the budgets, e.g. http://127.0.0.1:9471. */
  readonly sloEngineUrl: string;
}

const mark = { PASS: '✓', WARN: '!', FAIL: '✕' } as const;
const stateMark = { operational: '✓', degraded: '!', failing: '✕', unknown: '?' } as const;
const minute = (iso: string) => iso.slice(0, 16).replace('T', ' ');

/** The overview as lines: components, budgets, firing alerts, running experiments. */
export function renderStatus(o: StatusOverview, slos: Slos | string): string[] {
  const lines = [
    `${stateMark[o.state]} ${o.state.toUpperCase()}  ${o.headline}  (as of ${minute(o.generatedAt)} UTC)`,
    '',
  ];
  const components = o.suites.flatMap((s) =>
    s.components.map((c) => [s.name, c.name, `${mark[c.status]} ${c.status}`, c.score.toFixed(1), minute(c.at)]),
  );
  if (components.length === 0) lines.push('no validation results yet');
  else lines.push(...table(['SUITE', 'COMPONENT', 'STATUS', 'SCORE', 'LAST RUN (UTC)'], components));
  lines.push('');
  if (typeof slos === 'string') lines.push(`budgets: ${slos}`);
  else if (slos.length === 0) lines.push('no SLOs');
  else
    lines.push(
      ...table(
        ['SLO', 'OBJECTIVE', 'WINDOW', 'BUDGET LEFT', 'FIRING'],
        slos.map((s) => [
          s.name,
          `${s.objective}%`,
          s.window,
          `${s.budget.remainingPercent.toFixed(1)}%`,
          s.alerts.length === 0 ? '-' : s.alerts.map((a) => a.severity).join(', '),
        ]),
      ),
    );
  lines.push('');
  if (o.incidents.open.length === 0) lines.push('no alerts firing');
  else {
    lines.push('FIRING');
    for (const i of o.incidents.open)
      lines.push(`  ${i.severity} ${i.slo} since ${minute(i.since)} UTC: ${i.explanation}`);
  }
  if (o.experiments.running.length === 0) lines.push('no chaos experiments running');
  else {
    lines.push('RUNNING EXPERIMENTS');
    for (const x of o.experiments.running)
      lines.push(`  ${x.experimentId} ${x.kind} on ${x.targets.join(', ')} since ${minute(x.startedAt)} UTC`);
  }
  return lines;
}

/**
 * `vigil status [--json] [--watch]`: the status service's overview and the slo-engine's budgets.
 * `--watch` prints again whenever something changed (a terminal is redrawn); stops on `signal`.
 */
export async function statusCommand(
  sources: StatusSources,
  o: {
    json: boolean;
    watch: boolean;
    signal: AbortSignal;
    /** Between looks with `watch`. @default 1000 */
    intervalMs?: number;
    /** Clears the terminal before a redraw (on a terminal only; piped output gets each change appended). */
    clear?: () => void;
  },
  out: Output,
): Promise<number> {
  let last = '';
  for (;;) {
    const overview = await getJson(`${sources.statusUrl}/api/status`, overviewSchema, 'the status service');
    const slos = await getJson(`${sources.sloEngineUrl}/slos`, slosSchema, 'the slo-engine').then(
      (s) => s.slos,
      (e: Error) => e.message,
    );
    const shown = o.json
      ? [JSON.stringify({ ...overview, slos: typeof slos === 'string' ? { error: slos } : slos })]
      : renderStatus(overview, slos);
    // Changes only, so that a watch piped to a file or `jq` gets one record per change.
    const key = JSON.stringify({ ...overview, generatedAt: '', slos });
    if (key !== last) {
      if (o.watch && !o.json) o.clear?.();
      for (const l of shown) out.line(l);
      await out.drained();
      last = key;
    }
    if (!o.watch) return 0;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, o.intervalMs ?? 1000);
      o.signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
    });
    if (o.signal.aborted) return 0;
  }
}
