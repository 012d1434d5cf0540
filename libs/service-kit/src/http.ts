import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { VigilError } from '@vigil/events';

export type ReadinessCheck = () => Promise<Record<string, boolean | string>>;

export interface HttpServerOptions {
  readonly port: number;
  /** @default 127.0.0.1 */
  readonly host?: string;
  /** What /readyz reports; ready when every value is `true`. */
  readonly ready: ReadinessCheck;
  /** Served as Prometheus text on /metrics. */
  readonly metrics: Registry;
  /** Extra routes of the service (GET only); return true when handled. */
  readonly routes?: (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;
  /** Where an unexpected error of a route is logged; the client gets a 500 without internals. @default none */
  readonly logger?: { error(o: object, msg: string): void };
}

/** A request that cannot be served as sent: answered 400 with this message. */
class BadRequest extends VigilError {
  readonly code = 'BAD_REQUEST';
}

/**
 * The `limit` query parameter of a listing route: a whole number from 1 to `max`, `byDefault`
 * when absent. Anything else is answered 400 naming the bounds (thrown inside a route).
 */
export function queryLimit(url: URL, byDefault: number, max: number): number {
  const text = url.searchParams.get('limit') ?? String(byDefault);
  const limit = Number(text);
  if (!Number.isInteger(limit) || limit < 1 || limit > max) {
    throw new BadRequest(`limit must be a whole number from 1 to ${max}, got '${text}'`);
  }
  return limit;
}

/**
 * The path and every query value decoded, or BadRequest: malformed percent-encoding, and NUL or
 * other control characters, which no name of vigil's holds and PostgreSQL text cannot store.
 */
function checkUrl(raw: string): string {
  const [path = '/', query = ''] = raw.split('?', 2);
  const decode = (part: string, what: string) => {
    let text: string;
    try {
      text = decodeURIComponent(part.replace(/\+/g, ' '));
    } catch {
      throw new BadRequest(`malformed percent-encoding in the ${what}`);
    }
    // eslint-disable-next-line no-control-regex -- refusing control characters is the point
    if (/[\u0000-\u001f\u007f]/.test(text)) throw new BadRequest(`control character in the ${what}`);
    return text;
  };
  decode(path, 'path');
  for (const pair of query.split('&')) if (pair !== '') decode(pair, 'query');
  return path;
}

function send(res: ServerResponse, status: number, body: string, type = 'application/json'): void {
  res.writeHead(status, { 'content-type': type });
  res.end(body);
}

/** Writes `body` as JSON with `status`; returns true so a route can `return sendJson(...)`. */
export function sendJson(res: ServerResponse, status: number, body: unknown): true {
  send(res, status, JSON.stringify(body));
  return true;
}

/** /healthz (the process runs), /readyz (its dependencies answer), /metrics (Prometheus). */
export async function startHttpServer(
  o: HttpServerOptions,
): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    void (async () => {
      try {
        const path = checkUrl(req.url ?? '/');
        // Every endpoint reads; nothing here changes state.
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          res.setHeader('allow', 'GET, HEAD');
          return send(res, 405, JSON.stringify({ error: `method ${req.method ?? '?'} not allowed: use GET` }));
        }
        if (path === '/healthz') return send(res, 200, JSON.stringify({ status: 'ok' }));
        if (path === '/readyz') {
          const checks = await o.ready();
          const ok = Object.values(checks).every((v) => v === true);
          return send(res, ok ? 200 : 503, JSON.stringify({ status: ok ? 'ready' : 'not ready', checks }));
        }
        if (path === '/metrics') return send(res, 200, await o.metrics.metrics(), o.metrics.contentType);
        if (o.routes && (await o.routes(req, res))) return;
        send(res, 404, JSON.stringify({ error: `no route ${req.method ?? 'GET'} ${path}` }));
      } catch (e) {
        if (e instanceof BadRequest) return send(res, 400, JSON.stringify({ error: e.message }));
        // Internals (a database error, its query) stay in the log.
        o.logger?.error({ err: e, url: req.url, method: req.method }, 'HTTP request failed');
        if (!res.headersSent)
          send(res, 500, JSON.stringify({ error: 'internal error; the service log has the details' }));
        else res.destroy();
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port;
  return {
    server,
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
