import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { freePort, onFreshPorts, waitFor, signalAndWait } from './wait.js';

/** Where the nats-server binary is: `NATS_SERVER_BIN`, Debian's path, or the PATH. */
export function natsServerBinary(): string | undefined {
  const candidates = [
    process.env['NATS_SERVER_BIN'],
    '/usr/sbin/nats-server',
    '/usr/local/bin/nats-server',
    '/usr/bin/nats-server',
  ];
  for (const c of candidates) if (c && existsSync(c)) return c;
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    if (dir && existsSync(join(dir, 'nats-server'))) return join(dir, 'nats-server');
  }
  return undefined;
}

export interface NatsServerOptions {
  /** @default a free port */
  readonly port?: number;
  /** JetStream store directory; kept across restarts. @default a new temporary directory */
  readonly storeDir?: string;
  /** Cluster membership, for {@link startNatsCluster}. */
  readonly cluster?: { name: string; port: number; routes: readonly number[]; serverName: string };
  readonly extraArgs?: readonly string[];
}

/** A nats-server process of the test's own, with JetStream; kill it, restart it, stop it. */
export class NatsServerProcess {
  private child: ChildProcess | undefined;
  private ownsStore: boolean;
  private constructor(
    readonly port: number,
    readonly monitorPort: number,
    readonly storeDir: string,
    private readonly opts: NatsServerOptions,
    ownsStore: boolean,
  ) {
    this.ownsStore = ownsStore;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  static async start(opts: NatsServerOptions = {}): Promise<NatsServerProcess> {
    const bin = natsServerBinary();
    if (!bin) throw new Error('nats-server not found: install it (apt-get install nats-server) or set NATS_SERVER_BIN');
    const storeDir = opts.storeDir ?? (await mkdtemp(join(tmpdir(), 'vigil-nats-')));
    try {
      return await onFreshPorts(
        async () => {
          const s = new NatsServerProcess(
            opts.port ?? (await freePort()),
            await freePort(),
            storeDir,
            opts,
            opts.storeDir === undefined,
          );
          await s.launch(bin);
          return s;
        },
        // The cluster port is the cluster's to redraw (NatsCluster.start), so that failure goes up.
        (e) => !opts.cluster || !e.message.includes(`:${opts.cluster.port}`),
      );
    } catch (e) {
      if (opts.storeDir === undefined) await rm(storeDir, { recursive: true, force: true });
      throw e;
    }
  }

  private async launch(bin = natsServerBinary() ?? 'nats-server'): Promise<void> {
    const args = [
      '-a',
      '127.0.0.1',
      '-p',
      String(this.port),
      '-m',
      String(this.monitorPort),
      '-js',
      '-sd',
      this.storeDir,
    ];
    const c = this.opts.cluster;
    if (c) {
      args.push('--name', c.serverName, '--cluster_name', c.name, '--cluster', `nats://127.0.0.1:${c.port}`);
      args.push('--routes', c.routes.map((p) => `nats://127.0.0.1:${p}`).join(','));
    }
    args.push(...(this.opts.extraArgs ?? []));
    const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    this.child = child;
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) => reject(new Error(`nats-server exited with ${code}: ${stderr}`))),
    );
    exited.catch(() => undefined);
    await Promise.race([
      exited,
      waitFor(
        async () => {
          // /healthz answers 200 once JetStream has recovered its streams (clusters: once it has a meta leader or none is needed).
          const r = await fetch(
            `http://127.0.0.1:${this.monitorPort}/healthz${this.opts.cluster ? '?js-enabled-only=true' : ''}`,
          );
          return r.ok;
        },
        { timeoutMs: 30_000, message: `nats-server on port ${this.port} to be healthy` },
      ),
    ]);
  }

  /** Sends a signal (SIGKILL by default) and waits for the process to exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await signalAndWait(this.child, signal);
    this.child = undefined;
  }

  /** Starts the server again on the same ports and store. */
  async restart(): Promise<void> {
    await this.kill('SIGTERM');
    await this.launch();
  }

  async stop(): Promise<void> {
    await this.kill('SIGTERM');
    if (this.ownsStore) await rm(this.storeDir, { recursive: true, force: true });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** A JetStream cluster of `size` nats-server processes on loopback, ready for R3 streams. */
export class NatsCluster {
  private constructor(readonly servers: NatsServerProcess[]) {}

  /** Client URLs of every node, for a connection that fails over. */
  get urls(): string[] {
    return this.servers.map((s) => s.url);
  }

  static async start(size = 3): Promise<NatsCluster> {
    const cluster = new NatsCluster(await NatsCluster.launch(size));
    const nc = await connect({ servers: cluster.urls });
    try {
      // JetStream answers only once the meta group has elected a leader.
      await waitFor(
        async () => {
          const jsm = await jetstreamManager(nc, { timeout: 1000 });
          await jsm.getAccountInfo();
          return true;
        },
        { timeoutMs: 30_000, message: 'JetStream meta leader in the test cluster' },
      );
    } finally {
      await nc.close();
    }
    return cluster;
  }

  /** Starts the nodes; when one cannot bind its cluster port, stops the rest and tries new ports. */
  private static launch(size: number): Promise<NatsServerProcess[]> {
    return onFreshPorts(async () => {
      const name = `vigil-test-${Math.random().toString(36).slice(2, 8)}`;
      const clusterPorts: number[] = [];
      for (let i = 0; i < size; i++) clusterPorts.push(await freePort());
      const started = await Promise.allSettled(
        clusterPorts.map((port, i) =>
          NatsServerProcess.start({
            cluster: { name, port, routes: clusterPorts.filter((p) => p !== port), serverName: `n${i + 1}` },
          }),
        ),
      );
      const servers = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      const failure = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (!failure) return servers;
      await Promise.all(servers.map((s) => s.stop()));
      throw failure.reason;
    });
  }

  async stop(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.stop()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
