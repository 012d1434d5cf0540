import {
  request as httpRequest,
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';

/**
 * A read-only Docker Engine API: the validator's container checks need to list and inspect
 * containers, while a socket mounted `:ro` still takes every API call (create, exec, kill), which
 * is root on the host. The proxy forwards GET and HEAD of the few paths it names, and refuses the
 * rest with 403 before anything reaches the engine.
 */
export interface ReadOnlyProxyOptions {
  /** The engine's socket. @default /var/run/docker.sock */
  readonly socketPath?: string;
  readonly port: number;
  /** @default 127.0.0.1 */
  readonly host?: string;
}

/** Paths (after an optional `/v1.NN` version prefix) the proxy forwards: what the checks use. */
const ALLOWED: readonly RegExp[] = [
  /^\/_ping$/,
  /^\/version$/,
  /^\/containers\/json$/,
  /^\/containers\/[A-Za-z0-9][A-Za-z0-9_.-]*\/json$/,
];

/** Whether `method path` (path with its query) is a read the proxy forwards. */
export function isAllowedDockerRead(method: string, url: string): boolean {
  if (method !== 'GET' && method !== 'HEAD') return false;
  const path = (url.split('?')[0] ?? '').replace(/^\/v1\.\d+(?=\/)/, '');
  // Encoded slashes or dots would let a path match here and mean another path to the engine.
  if (/%2f|%2e|\.\./i.test(path)) return false;
  return ALLOWED.some((r) => r.test(path));
}

function refuse(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  // Docker clients show an error response's `message`.
  res.end(JSON.stringify({ message }));
}

/** Starts the proxy; `/readyz` answers whether the engine does (a ping). */
export async function startReadOnlyDockerProxy(
  o: ReadOnlyProxyOptions,
): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const socketPath = o.socketPath ?? '/var/run/docker.sock';
  const forward = (req: IncomingMessage, res: ServerResponse, path: string, method: string) => {
    const upstream = httpRequest(
      { socketPath, path, method, headers: { ...req.headers, host: 'docker' } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', (e) => {
      if (!res.headersSent)
        refuse(res, 502, `vigil docker proxy: the engine at ${socketPath} does not answer (${e.message})`);
      else res.destroy();
    });
    upstream.end();
  };
  const server = createServer((req, res) => {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    if (url === '/readyz' && method === 'GET') return forward(req, res, '/_ping', 'GET');
    if (!isAllowedDockerRead(method, url)) {
      return refuse(
        res,
        403,
        `vigil docker proxy: ${method} ${url.split('?')[0]} is not allowed; it forwards only GET of /_ping, /version, /containers/json and /containers/{id}/json`,
      );
    }
    // Nothing is read from the request body: a GET has none, and none is forwarded.
    forward(req, res, url, method);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  return {
    server,
    port: typeof addr === 'object' && addr ? addr.port : o.port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
