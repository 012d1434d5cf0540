import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from '@vigil/service-kit';
import { sloStatuses, type SloEngineDeps } from './service.js';

/** `GET /slos` (every SLO) and `GET /slos/:name`: objective, budget, burn rates per window, active alerts. */
export function slosRoutes(deps: SloEngineDeps) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    if (req.method !== 'GET') return false;
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path === '/slos') return sendJson(res, 200, { slos: await sloStatuses(deps) });
    const m = /^\/slos\/([^/]+)$/.exec(path);
    if (m === null) return false;
    const name = decodeURIComponent(m[1]!);
    if (!deps.slos.has(name)) {
      return sendJson(res, 404, { error: `no SLO '${name}' (known: ${[...deps.slos.keys()].sort().join(', ')})` });
    }
    const [status] = await sloStatuses(deps, [name]);
    return sendJson(res, 200, status);
  };
}
