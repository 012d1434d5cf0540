import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Kysely } from 'kysely';
import { queryLimit, sendJson } from '@vigil/service-kit';
import { getRun, listRuns, type ValidatorDatabase } from './store.js';

/** `GET /runs?suite=&limit=` (newest first, limit 1-500, default 50) and `GET /runs/:id`. */
export function runsRoutes(db: Kysely<ValidatorDatabase>) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET') return false;
    if (url.pathname === '/runs') {
      const limit = queryLimit(url, 50, 500);
      const suite = url.searchParams.get('suite') ?? undefined;
      return sendJson(res, 200, { runs: await listRuns(db, { suite, limit }) });
    }
    const m = /^\/runs\/([^/]+)$/.exec(url.pathname);
    if (m) {
      const run = await getRun(db, decodeURIComponent(m[1] as string));
      return run ? sendJson(res, 200, run) : sendJson(res, 404, { error: `no run '${m[1]}'` });
    }
    return false;
  };
}
