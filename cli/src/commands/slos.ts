import { z } from 'zod';
import { getJson, getText } from '../http-json.js';
import { table, type Output } from '../output.js';

const slo = z.object({
  name: z.string(),
  service: z.string(),
  objective: z.number(),
  window: z.string(),
  evaluatedAt: z.string(),
  budget: z.object({ remainingPercent: z.number(), consumed: z.number(), allowed: z.number() }),
  burnRates: z.array(z.object({ window: z.string(), burnRate: z.number(), good: z.number(), total: z.number() })),
  tiers: z.array(
    z.object({
      severity: z.string(),
      long: z.string(),
      short: z.string(),
      threshold: z.number(),
      burnRateLong: z.number(),
      burnRateShort: z.number(),
      holds: z.boolean(),
    }),
  ),
  alerts: z.array(z.object({ severity: z.string(), since: z.string() })),
});
const history = z.object({
  slo: z.string(),
  objective: z.number(),
  window: z.string(),
  step: z.string(),
  times: z.array(z.number()),
  budgetRemaining: z.array(z.number()),
  burnRates: z.record(z.string(), z.array(z.number())),
  firing: z.array(z.array(z.string())),
});

const pct = (fraction: number) => `${(fraction * 100).toFixed(1)}%`;
const minute = (iso: string) => iso.slice(0, 16).replace('T', ' ');

interface SlosOptions {
  name?: string | undefined;
  history: boolean;
  window?: string | undefined;
  step?: string | undefined;
  json: boolean;
}

/**
 * `vigil slos [NAME] [--history [--window 30d] [--step 1h]] [--json]`: the slo-engine's SLOs
 * (budget left, burn rates, firing alerts), one SLO's tiers, or its budget and burn rates over time.
 */
export async function slosCommand(sloEngineUrl: string, o: SlosOptions, out: Output): Promise<number> {
  if (o.history) {
    if (o.name === undefined) throw new Error('vigil slos --history needs an SLO name');
    return historyView(sloEngineUrl, o.name, o, out);
  }
  if (o.name !== undefined) return oneSloView(sloEngineUrl, o.name, o.json, out);
  const all = await getJson(`${sloEngineUrl}/slos`, z.object({ slos: z.array(slo) }), 'the slo-engine');
  if (o.json) {
    for (const s of all.slos) out.json(s);
    return 0;
  }
  for (const l of table(
    ['SLO', 'SERVICE', 'OBJECTIVE', 'WINDOW', 'BUDGET LEFT', 'FIRING'],
    all.slos.map((s) => [
      s.name,
      s.service,
      `${s.objective}%`,
      s.window,
      `${s.budget.remainingPercent.toFixed(1)}%`,
      s.alerts.map((a) => a.severity).join(', ') || '-',
    ]),
  ))
    out.line(l);
  return 0;
}

/** One SLO's budget and burn rates over time, a row per step. */
async function historyView(sloEngineUrl: string, name: string, o: SlosOptions, out: Output): Promise<number> {
  const q = new URLSearchParams();
  if (o.window !== undefined) q.set('window', o.window);
  if (o.step !== undefined) q.set('step', o.step);
  const url = `${sloEngineUrl}/slos/${encodeURIComponent(name)}/history${q.size > 0 ? `?${q}` : ''}`;
  const h = await getJson(url, history, 'the slo-engine');
  if (o.json) {
    out.json(h);
    return 0;
  }
  const windows = Object.keys(h.burnRates);
  out.line(`${h.slo}: ${h.objective}% over ${h.window}, a point every ${h.step} (UTC)`);
  for (const l of table(
    ['TIME', 'BUDGET LEFT', ...windows.map((w) => `BURN ${w}`), 'FIRING'],
    h.times.map((t, i) => [
      minute(new Date(t).toISOString()),
      pct(h.budgetRemaining[i] ?? 0),
      ...windows.map((w) => (h.burnRates[w]?.[i] ?? 0).toFixed(2)),
      (h.firing[i] ?? []).join(', ') || '-',
    ]),
  ))
    out.line(l);
  await out.drained();
  return 0;
}

/** One SLO: its budget, each tier's burn rates and whether it holds, and its firing alerts. */
async function oneSloView(sloEngineUrl: string, name: string, json: boolean, out: Output): Promise<number> {
  const s = await getJson(`${sloEngineUrl}/slos/${encodeURIComponent(name)}`, slo, 'the slo-engine');
  if (json) {
    out.json(s);
    return 0;
  }
  out.line(`${s.name} (${s.service}): ${s.objective}% over ${s.window}, as of ${minute(s.evaluatedAt)} UTC`);
  out.line(
    `budget: ${s.budget.remainingPercent.toFixed(1)}% left (${s.budget.consumed} bad of ${s.budget.allowed.toFixed(1)} allowed)`,
  );
  for (const l of table(
    ['SEVERITY', 'WINDOWS', 'THRESHOLD', 'BURN LONG', 'BURN SHORT', 'HOLDS'],
    s.tiers.map((t) => [
      t.severity,
      `${t.long}/${t.short}`,
      `${t.threshold}×`,
      t.burnRateLong.toFixed(2),
      t.burnRateShort.toFixed(2),
      t.holds ? 'yes' : 'no',
    ]),
  ))
    out.line(l);
  for (const a of s.alerts) out.line(`firing: ${a.severity} since ${minute(a.since)} UTC`);
  return 0;
}

/**
 * `vigil slo export --prometheus [NAME…]`: the slo-engine's rule file for Prometheus (recording
 * and alerting rules equivalent to its own tiers), for every SLO or the ones named.
 */
export async function sloExportCommand(sloEngineUrl: string, names: readonly string[], out: Output): Promise<number> {
  const q = new URLSearchParams(names.map((n): [string, string] => ['slo', n]));
  const text = await getText(`${sloEngineUrl}/rules/prometheus${q.size > 0 ? `?${q}` : ''}`, 'the slo-engine');
  out.line(text.trimEnd());
  return 0;
}
