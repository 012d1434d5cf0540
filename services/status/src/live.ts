import type { IncomingMessage, ServerResponse } from 'node:http';
import type { StatusService } from './service.js';

export interface LiveOptions {
  /** Open streams at once; more are answered 503. @default 1000 */
  readonly maxClients?: number;
  /** A comment line this often keeps proxies from closing an idle stream. @default 15000 */
  readonly heartbeatMs?: number;
}

export interface Live {
  /** Serves `GET /events`; false for any other request. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  clients(): number;
  /** Ends every stream (before the HTTP server closes: it waits for open responses). */
  close(): void;
}

/**
 * Server-Sent Events for pages that follow live. Each change of the read model is one `change`
 * event whose id is its stream sequence. The page's state is always the whole overview, so a
 * client that comes back with `Last-Event-ID` (after any disconnect, of the browser or of NATS)
 * and is behind gets one `change` at once and loads the current overview: nothing is lost, and
 * nothing has to be buffered here.
 */
export function createLive(status: StatusService, o: LiveOptions = {}): Live {
  const open = new Set<ServerResponse>();
  const maxClients = o.maxClients ?? 1000;
  const send = (res: ServerResponse, seq: number, type: string) =>
    res.write(`id: ${seq}\nevent: change\ndata: ${JSON.stringify({ seq, type })}\n\n`);
  status.onChange((event) => {
    for (const res of open) send(res, event.seq, event.event.type);
  });
  const heartbeat = setInterval(() => {
    for (const res of open) res.write(': keep-alive\n\n');
  }, o.heartbeatMs ?? 15_000);
  heartbeat.unref();

  return {
    handle(req, res) {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname !== '/events') return false;
      if (open.size >= maxClients) {
        res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '10' });
        res.end(JSON.stringify({ error: `too many live clients (${maxClients}); try again later` }));
        return true;
      }
      const header = req.headers['last-event-id'];
      const text = (Array.isArray(header) ? header[0] : header) ?? url.searchParams.get('lastEventId') ?? undefined;
      const last = text === undefined || text === '' ? undefined : Number(text);
      if (last !== undefined && !(Number.isInteger(last) && last >= 0)) {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: `Last-Event-ID must be a stream sequence (a whole number), got '${text}'` }));
        return true;
      }
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      // A reconnecting client is told at once how far the model has moved.
      res.write('retry: 1000\n\n');
      const now = status.model.lastSeq;
      if (last === undefined || last < now) send(res, now, last === undefined ? 'hello' : 'resume');
      open.add(res);
      const drop = () => open.delete(res);
      req.once('close', drop);
      res.once('close', drop);
      return true;
    },
    clients: () => open.size,
    close() {
      clearInterval(heartbeat);
      for (const res of open) res.end();
      open.clear();
    },
  };
}
