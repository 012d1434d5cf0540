import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { sendJson } from '@vigil/service-kit';
import { dashboardScript, renderDashboardMain, renderDashboardPage, type SloSummary } from './core/dashboard.js';
import { liveScript, renderStatusMain, renderStatusPage } from './core/page.js';
import type { Live } from './live.js';
import type { StatusService } from './service.js';

/** The page loads its own script and talks to its own server, and nothing else. */
const pagePolicy =
  "default-src 'none'; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const require = createRequire(import.meta.url);
/** uPlot, served by the service itself: the pages load nothing from elsewhere and work offline. */
const assets: Record<string, { type: string; body: string }> = {
  '/assets/live.js': { type: 'text/javascript', body: liveScript },
  '/assets/dashboard.js': { type: 'text/javascript', body: dashboardScript },
  '/assets/uplot.js': {
    type: 'text/javascript',
    body: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
  },
  '/assets/uplot.css': { type: 'text/css', body: readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8') },
};

export interface RouteOptions {
  readonly title: string;
  /** The slo-engine, whose SLOs and histories the dashboard shows. */
  readonly sloEngineUrl: string;
  /** The anomaly service, whose series the dashboard draws the anomalies on. */
  readonly anomalyUrl: string;
  /** The Jaeger UI that trace links point to. */
  readonly jaegerUrl: string;
}

/** GETs another vigil service (`name` at `base`); the answer, or an error message naming it. */
async function fromService(
  name: string,
  base: string,
  path: string,
): Promise<{ status: number; body: unknown } | string> {
  try {
    const r = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(5000) });
    return { status: r.status, body: await r.json() };
  } catch (e) {
    return `the ${name} is not reachable at ${base}: ${(e as Error).message}`;
  }
}

function sendHtml(req: IncomingMessage, res: ServerResponse, body: string, seq: number): true {
  res.writeHead(200, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': pagePolicy,
    'x-content-type-options': 'nosniff',
    'x-vigil-seq': String(seq),
  });
  res.end(req.method === 'HEAD' ? undefined : body);
  return true;
}

/**
 * `/` the public status page (HTML; `?fragment=main` its content alone, for the live script),
 * `/api/status` the same overview as JSON (what `vigil status` prints), `/events` the live stream,
 * `/dashboard` the operator dashboard with `/api/slos/:name/history` (the slo-engine's, passed
 * through) and `/api/anomalies/points?series=` (the anomaly service's), `/assets/*` the pages' scripts and uPlot. All but the SLOs from memory.
 */
export function statusRoutes(status: StatusService, live: Live, o: RouteOptions) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    if (path === '/' || path === '/index.html') {
      const overview = status.overview();
      const fragment = url.searchParams.get('fragment');
      if (fragment !== null && fragment !== 'main') {
        return sendJson(res, 400, { error: `fragment must be main, got '${fragment}'` });
      }
      const body = fragment === 'main' ? renderStatusMain(overview, o.title) : renderStatusPage(overview, o.title);
      return sendHtml(req, res, body, overview.seq);
    }
    if (path === '/dashboard') {
      const fragment = url.searchParams.get('fragment');
      if (fragment !== null && fragment !== 'main') {
        return sendJson(res, 400, { error: `fragment must be main, got '${fragment}'` });
      }
      const seq = status.model.lastSeq;
      const slos = await fromService('slo-engine', o.sloEngineUrl, '/slos');
      const list =
        typeof slos === 'string'
          ? slos
          : slos.status === 200
            ? (slos.body as { slos: SloSummary[] }).slos
            : `the slo-engine answered ${slos.status} at ${o.sloEngineUrl}/slos`;
      const main = renderDashboardMain(status.model, list, o.jaegerUrl);
      return sendHtml(req, res, fragment === 'main' ? main : renderDashboardPage(main, seq), seq);
    }
    const history = /^\/api\/slos\/([^/]+)\/history$/.exec(path);
    if (history !== null) {
      // The slo-engine's answer as it is (the same errors, 400 and 404, with their messages).
      const r = await fromService('slo-engine', o.sloEngineUrl, `/slos/${history[1]!}/history${url.search}`);
      return typeof r === 'string' ? sendJson(res, 502, { error: r }) : sendJson(res, r.status, r.body);
    }
    if (path === '/api/anomalies/points') {
      // The anomaly service's points of one series, for its chart (its 400 and 404 as they are).
      const series = url.searchParams.get('series');
      if (series === null || series === '') return sendJson(res, 400, { error: 'series is required' });
      const q = new URLSearchParams({ name: series });
      const r = await fromService('anomaly service', o.anomalyUrl, `/series/points?${q}`);
      return typeof r === 'string' ? sendJson(res, 502, { error: r }) : sendJson(res, r.status, r.body);
    }
    const asset = assets[path];
    if (asset !== undefined) {
      res.writeHead(200, {
        'content-type': `${asset.type}; charset=utf-8`,
        'cache-control': 'no-cache',
        'x-content-type-options': 'nosniff',
      });
      res.end(req.method === 'HEAD' ? undefined : asset.body);
      return true;
    }
    if (path === '/api/status') return sendJson(res, 200, status.overview());
    return live.handle(req, res);
  };
}
