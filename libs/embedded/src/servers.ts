import { NatsServerProcess, natsServerBinary } from './nats-server.js';
import { PrivatePostgres, postgresBinDir } from './postgres.js';
import pg from 'pg';
import { isReachable } from './wait.js';

/** Where a server came from, in the order they are tried. */
export type ServerSource = 'env' | 'local' | 'spawned' | 'container';

export interface ResolvedServer {
  readonly url: string;
  readonly source: ServerSource;
  /** Why this source was taken over an earlier one, when it was. */
  readonly note?: string;
  /** Stops what was started for this resolution (nothing for env and local). */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

function resolved(url: string, source: ServerSource, stop: () => Promise<void>, note?: string): ResolvedServer {
  return { url, source, stop, [Symbol.asyncDispose]: stop, ...(note === undefined ? {} : { note }) };
}

const noop = async () => undefined;

/** A server started some other way (tests: a testcontainer), tried when no binary is installed. */
export type ServerFallback = () => Promise<{ url: string; stop: () => Promise<void> } | undefined>;

export interface ResolveOptions {
  /** Tried last, when there is no local server and no binary to start one. @default none */
  readonly fallback?: ServerFallback;
  /** @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** Skip the environment and the local default port: always start a server of our own. @default false */
  readonly ownServer?: boolean;
  /** Start our own server on the default port (4222 / 5432) when it is free. @default false (a free port) */
  readonly preferDefaultPort?: boolean;
}

/**
 * NATS for the embedded stack and tests: `NATS_URL` when set; else a local server on 4222 when
 * reachable; else a spawned `nats-server -js` (temporary store, free port); else the fallback
 * (tests: a testcontainer); else an error naming what to install.
 */
export async function resolveNats(o: ResolveOptions & { storeDir?: string } = {}): Promise<ResolvedServer> {
  const env = o.env ?? process.env;
  if (!o.ownServer) {
    if (env['NATS_URL']) return resolved(env['NATS_URL'], 'env', noop);
    if (await isReachable('127.0.0.1', 4222)) return resolved('nats://127.0.0.1:4222', 'local', noop);
  }
  if (natsServerBinary()) {
    const port = o.preferDefaultPort && !(await isReachable('127.0.0.1', 4222)) ? 4222 : undefined;
    const s = await NatsServerProcess.start({
      ...(o.storeDir === undefined ? {} : { storeDir: o.storeDir }),
      ...(port ? { port } : {}),
    });
    return resolved(s.url, 'spawned', () => s.stop());
  }
  const c = await o.fallback?.();
  if (c) return resolved(c.url, 'container', c.stop);
  throw new Error(
    'no NATS server: set NATS_URL, run nats-server -js on 127.0.0.1:4222, or install it (apt-get install nats-server)',
  );
}

const LOCAL_POSTGRES = 'postgres://postgres@127.0.0.1:5432/postgres';

/** `wal_level` of the server at `url`, or undefined when it cannot be asked. */
async function walLevel(url: string): Promise<string | undefined> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    return (await c.query<{ wal_level: string }>('show wal_level')).rows[0]?.wal_level;
  } catch {
    return undefined;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/**
 * Postgres, in the same order as {@link resolveNats}: `DATABASE_URL`, local 5432, a private
 * cluster, the fallback. A local server without `wal_level = logical` is passed over for a private
 * cluster when the server binaries are installed: on it the outbox relay would fall back to its
 * xmin mode, where any open transaction of any database of that server holds vigil's events back.
 */
export async function resolvePostgres(
  o: ResolveOptions & {
    dataDir?: string;
    /** Take a local server only when it has `wal_level = logical` (see above). @default true */
    logical?: boolean;
  } = {},
): Promise<ResolvedServer> {
  const env = o.env ?? process.env;
  let note: string | undefined;
  if (!o.ownServer) {
    if (env['DATABASE_URL']) return resolved(env['DATABASE_URL'], 'env', noop);
    if (await isReachable('127.0.0.1', 5432)) {
      const level = o.logical === false || !postgresBinDir() ? 'logical' : await walLevel(LOCAL_POSTGRES);
      if (level === 'logical') return resolved(LOCAL_POSTGRES, 'local', noop);
      note = `the server on 5432 has wal_level = ${level ?? 'unknown'}; a private one with wal_level = logical instead, so that no transaction of that server holds vigil's events back`;
    }
  }
  if (postgresBinDir()) {
    const port = o.preferDefaultPort && !(await isReachable('127.0.0.1', 5432)) ? 5432 : undefined;
    const p = await PrivatePostgres.start({
      ...(o.dataDir === undefined ? {} : { dataDir: o.dataDir }),
      ...(port ? { port } : {}),
    });
    return resolved(p.url, 'spawned', () => p.stop(), note);
  }
  const c = await o.fallback?.();
  if (c) return resolved(c.url, 'container', c.stop);
  throw new Error(
    'no PostgreSQL: set DATABASE_URL, run PostgreSQL on 127.0.0.1:5432, or install it (apt-get install postgresql)',
  );
}
