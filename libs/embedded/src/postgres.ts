import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { freePort, onFreshPorts, waitFor, signalAndWait } from './wait.js';

/** The directory with initdb and postgres: `PG_BIN`, else the newest /usr/lib/postgresql/N/bin. */
export function postgresBinDir(): string | undefined {
  const env = process.env['PG_BIN'];
  if (env && existsSync(join(env, 'initdb'))) return env;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin');
}

function unprivilegedUser(): { uid: number; gid: number; name: string } | undefined {
  if (userInfo().uid !== 0) return undefined;
  // initdb refuses to run as root; `nobody` exists on every Debian/Ubuntu machine.
  const id = (flag: string) => Number(spawnSync('id', [flag, 'nobody']).stdout.toString().trim());
  return { uid: id('-u'), gid: id('-g'), name: 'nobody' };
}

/**
 * A private PostgreSQL cluster (initdb in a temporary folder, a free port, trust auth for user
 * `postgres`, `wal_level = logical`). As root it runs as `nobody`, since postgres refuses root.
 */
export class PrivatePostgres {
  private child: ChildProcess | undefined;
  private constructor(
    readonly dataDir: string,
    readonly port: number,
    private readonly bin: string,
    private readonly runAs: { uid: number; gid: number } | undefined,
    private readonly ownsDir: boolean,
    private readonly settings: Readonly<Record<string, string>>,
  ) {}

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  /**
   * @param dataDir keep the cluster here (reused when it already holds one); default: a temporary folder removed on stop
   * @param settings server settings (`-c name=value`) over the defaults, e.g. `{ wal_level: 'replica' }`
   */
  static async start(
    o: { dataDir?: string; port?: number; settings?: Record<string, string> } = {},
  ): Promise<PrivatePostgres> {
    const bin = postgresBinDir();
    if (!bin) throw new Error('PostgreSQL server binaries not found: apt-get install postgresql (or set PG_BIN)');
    const user = unprivilegedUser();
    const dataDir = o.dataDir ?? (await mkdtemp(join(tmpdir(), 'vigil-pg-')));
    mkdirSync(dataDir, { recursive: true });
    if (user) {
      // The unprivileged server must be able to reach its folder through the parent we may have made.
      const parent = dirname(dataDir);
      chmodSync(parent, statSync(parent).mode | 0o111);
      chownSync(dataDir, user.uid, user.gid);
      chmodSync(dataDir, 0o700);
    }
    if (!existsSync(join(dataDir, 'PG_VERSION'))) {
      const r = spawnSync(
        join(bin, 'initdb'),
        ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync'],
        {
          ...(user ? { uid: user.uid, gid: user.gid } : {}),
          encoding: 'utf8',
        },
      );
      if (r.status !== 0) throw new Error(`initdb failed: ${r.stderr || r.error?.message}`);
    }
    return onFreshPorts(
      async () => {
        const p = new PrivatePostgres(
          dataDir,
          o.port ?? (await freePort()),
          bin,
          user,
          o.dataDir === undefined,
          o.settings ?? {},
        );
        await p.launch();
        return p;
      },
      // A port the caller chose is not ours to redraw.
      () => o.port === undefined,
    );
  }

  private async launch(): Promise<void> {
    const settings: Record<string, string> = {
      fsync: 'off',
      max_connections: '200',
      // The outbox relay reads the WAL through a logical replication slot (one per database).
      wal_level: 'logical',
      max_replication_slots: '100',
      max_wal_senders: '100',
      ...this.settings,
    };
    const args = ['-D', this.dataDir, '-p', String(this.port), '-h', '127.0.0.1', '-k', this.dataDir];
    for (const [k, v] of Object.entries(settings)) args.push('-c', `${k}=${v}`);
    const child = spawn(join(this.bin, 'postgres'), args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      ...(this.runAs ? { uid: this.runAs.uid, gid: this.runAs.gid } : {}),
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    this.child = child;
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) => reject(new Error(`postgres exited with ${code}: ${stderr}`))),
    );
    exited.catch(() => undefined);
    await Promise.race([
      exited,
      waitFor(
        async () => {
          const c = new pg.Client({ connectionString: this.url });
          try {
            await c.connect();
            await c.query('select 1');
            return true;
          } finally {
            await c.end().catch(() => undefined);
          }
        },
        { timeoutMs: 30_000, message: `private postgres on port ${this.port}` },
      ),
    ]);
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await signalAndWait(this.child, signal);
    this.child = undefined;
  }

  async restart(): Promise<void> {
    await this.kill('SIGINT');
    await this.launch();
  }

  async stop(): Promise<void> {
    await this.kill('SIGINT'); // fast shutdown
    if (this.ownsDir) await rm(this.dataDir, { recursive: true, force: true });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
