import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';

export type ReadinessCheck = () => Promise<Record<string, boolean | string>>;

export interface HttpServerOptions {
  readonly port: number;
  /** @default 127.0.0.1 */
  readonly host?: string;
  /** What /readyz reports; ready when every value is `true`. */
  readonly ready: ReadinessCheck;
  /** Served as Prometheus text on /metrics. */
  readonly metrics: Registry;
  /** Extra routes of the service; return true when handled. */
  readonly routes?: (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;
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
        const path = (req.url ?? '/').split('?')[0];
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
        send(res, 500, JSON.stringify({ error: e instanceof Error ? e.message : String(e) }));
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
