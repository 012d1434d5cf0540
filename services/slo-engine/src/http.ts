import type { IncomingMessage, ServerResponse } from 'node:http';
import { duration, sendJson } from '@vigil/service-kit';
import { prometheusRuleYaml } from './core/prometheus.js';
import { HistoryRequestError, sloHistoryOf, sloStatuses, type SloEngineDeps } from './service.js';

/** A duration query parameter (`30d`, `1h`, …), or a 400 naming it. */
function durationParam(url: URL, name: string): number | undefined | { error: string } {
  const text = url.searchParams.get(name);
  if (text === null) return undefined;
  const r = duration.safeParse(text);
  return r.success ? r.data : { error: `${name} must be a duration like 5m, 1h or 30d, got '${text}'` };
}

/**
 * `GET /slos` (every SLO) and `GET /slos/:name`: objective, budget, burn rates per window, active
 * alerts; `GET /slos/:name/history?window=30d&step=1h`: budget and burn rates over time;
 * `GET /rules/prometheus[?slo=NAME…]`: Prometheus recording and alerting rules equivalent to the
 * engine's, as a rule file (YAML).
 */
export function slosRoutes(deps: SloEngineDeps) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    if (req.method !== 'GET') return false;
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path === '/slos') return sendJson(res, 200, { slos: await sloStatuses(deps) });
    if (path === '/rules/prometheus') {
      const names = new URL(req.url ?? '/', 'http://localhost').searchParams.getAll('slo');
      const unknown = names.filter((n) => !deps.slos.has(n));
      if (unknown.length > 0) {
        return sendJson(res, 404, {
          error: `no SLO '${unknown[0]!}' (known: ${[...deps.slos.keys()].sort().join(', ')})`,
        });
      }
      const chosen = names.length === 0 ? [...deps.slos.values()] : names.map((n) => deps.slos.get(n)!);
      res.writeHead(200, { 'content-type': 'application/yaml; charset=utf-8' });
      res.end(prometheusRuleYaml(chosen));
      return true;
    }
    const m = /^\/slos\/([^/]+)(\/history)?$/.exec(path);
    if (m === null) return false;
    const name = decodeURIComponent(m[1]!);
    const slo = deps.slos.get(name);
    if (slo === undefined) {
      return sendJson(res, 404, { error: `no SLO '${name}' (known: ${[...deps.slos.keys()].sort().join(', ')})` });
    }
    if (m[2] !== undefined) {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const rangeMs = durationParam(url, 'window');
      if (typeof rangeMs === 'object') return sendJson(res, 400, rangeMs);
      const stepMs = durationParam(url, 'step');
      if (typeof stepMs === 'object') return sendJson(res, 400, stepMs);
      try {
        return sendJson(res, 200, await sloHistoryOf(deps, slo, { rangeMs, stepMs }));
      } catch (e) {
        if (e instanceof HistoryRequestError) return sendJson(res, 400, { error: e.message });
        throw e;
      }
    }
    const [status] = await sloStatuses(deps, [name]);
    return sendJson(res, 200, status);
  };
}
