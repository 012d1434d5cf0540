import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from '@vigil/service-kit';
import { renderStatusPage } from './core/page.js';
import type { StatusService } from './service.js';

/**
 * `/` the public status page (HTML, no script) and `/api/status` the same overview as JSON (what
 * `vigil status` prints). Both come from memory.
 */
export function statusRoutes(status: StatusService, o: { title: string }) {
  return (req: IncomingMessage, res: ServerResponse): boolean => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const path = req.url?.split('?')[0];
    if (path === '/' || path === '/index.html') {
      const body = renderStatusPage(status.overview(), o.title);
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        // The page has no script and loads nothing: a policy that says so.
        'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'",
        'x-content-type-options': 'nosniff',
      });
      res.end(req.method === 'HEAD' ? undefined : body);
      return true;
    }
    if (path === '/api/status') {
      sendJson(res, 200, status.overview());
      return true;
    }
    return false;
  };
}
