import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from '@vigil/service-kit';
import { liveScript, renderStatusMain, renderStatusPage } from './core/page.js';
import type { Live } from './live.js';
import type { StatusService } from './service.js';

/** The page loads its own script and talks to its own server, and nothing else. */
const pagePolicy =
  "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * `/` the public status page (HTML; `?fragment=main` its content alone, for the live script),
 * `/api/status` the same overview as JSON (what `vigil status` prints), `/events` the live stream,
 * `/assets/live.js` the page's script. All from memory.
 */
export function statusRoutes(status: StatusService, live: Live, o: { title: string }) {
  return (req: IncomingMessage, res: ServerResponse): boolean => {
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
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'content-security-policy': pagePolicy,
        'x-content-type-options': 'nosniff',
        'x-vigil-seq': String(overview.seq),
      });
      res.end(req.method === 'HEAD' ? undefined : body);
      return true;
    }
    if (path === '/assets/live.js') {
      res.writeHead(200, {
        'content-type': 'text/javascript; charset=utf-8',
        'cache-control': 'no-cache',
        'x-content-type-options': 'nosniff',
      });
      res.end(req.method === 'HEAD' ? undefined : liveScript);
      return true;
    }
    if (path === '/api/status') return sendJson(res, 200, status.overview());
    return live.handle(req, res);
  };
}
