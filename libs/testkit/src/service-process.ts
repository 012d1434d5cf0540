import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@vigil/embedded';

const servicesDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'services');

export interface LogLine {
  level: number;
  time: string;
  msg: string;
  [k: string]: unknown;
}

/**
 * A service (`services/<name>`) as its own process, run from its TypeScript sources (tsx), for
 * kill and restart tests. Its JSON log lines are collected; stderr is kept for error messages
 * (and echoed when VIGIL_SERVICE_STDERR is set).
 */
export class ServiceProcess {
  readonly logs: LogLine[] = [];
  private stderr = '';
  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly exited: Promise<number | null>,
  ) {}

  static start(name: string, env: Record<string, string>, nodeArgs: readonly string[] = []): ServiceProcess {
    const serviceDir = join(servicesDir, name);
    const child = spawn(
      process.execPath,
      [...nodeArgs, '--conditions=vigil-source', '--import', 'tsx', join(serviceDir, 'src/main.ts')],
      {
        cwd: serviceDir,
        env: { ...process.env, PORT: '0', LOG_LEVEL: 'info', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const p = new ServiceProcess(name, child, exited);
    let buf = '';
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          p.logs.push(JSON.parse(line) as LogLine);
        } catch {
          /* not a log line */
        }
      }
    });
    child.stderr?.on('data', (d: Buffer) => {
      p.stderr = (p.stderr + d.toString()).slice(-4000);
      if (process.env['VIGIL_SERVICE_STDERR']) process.stderr.write(d);
    });
    return p;
  }

  /** The last 4000 characters the process wrote to stderr. */
  get stderrText(): string {
    return this.stderr;
  }

  has(msg: string): boolean {
    return this.logs.some((l) => l.msg === msg);
  }

  /** Throws when the process has exited: a wait on it would only run into its deadline. */
  private assertRunning(): void {
    if (this.child.exitCode !== null) throw new Error(`${this.name} exited (${this.child.exitCode}): ${this.stderr}`);
  }

  async waitForLog(msg: string, timeoutMs = 20_000): Promise<LogLine> {
    return waitFor(
      () => {
        this.assertRunning();
        return this.logs.find((l) => l.msg === msg);
      },
      { timeoutMs, message: `${this.name} log '${msg}'` },
    );
  }

  /**
   * Waits until the service answers 200 on /readyz (its NATS and PostgreSQL connections up, its
   * own checks passing) and returns its HTTP port. The port is read from the `<name> started`
   * line, the one place a service started on PORT=0 tells it; readiness itself is asked, not
   * inferred from a log line. Readiness says the process can work (NATS, PostgreSQL, its streams);
   * which relay instance leads is another fact (its `vigil_outbox_relay_leader` gauge).
   */
  async waitReady(timeoutMs = 30_000): Promise<{ port: number }> {
    const started = performance.now();
    const line = await this.waitForLog(`${this.name} started`, timeoutMs);
    const port = this.port;
    if (port === undefined) throw new Error(`${this.name} started without a port: ${JSON.stringify(line)}`);
    // A refusal or a 503 is thrown, so a timeout names the last answer.
    await waitFor(
      async () => {
        this.assertRunning();
        const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) });
        if (res.status !== 200) throw new Error(`/readyz answered ${res.status}: ${await res.text()}`);
        return true;
      },
      {
        timeoutMs: Math.max(1000, timeoutMs - (performance.now() - started)),
        intervalMs: 100,
        message: `${this.name} ready on port ${port}`,
      },
    );
    return { port };
  }

  /** The HTTP port from the `<name> started` line; undefined before it. */
  get port(): number | undefined {
    const line = this.logs.find((l) => l.msg === `${this.name} started`);
    const port = Number(line?.['port']);
    return Number.isInteger(port) && port > 0 ? port : undefined;
  }

  /** The value of the first series named `name` on the service's /metrics; undefined without one. */
  async metric(name: string): Promise<number | undefined> {
    const port = this.port;
    if (port === undefined) return undefined;
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(2000) });
    for (const line of (await res.text()).split('\n')) {
      if (line.startsWith('#')) continue;
      const [series, value] = line.split(' ');
      if (series === name || series?.startsWith(`${name}{`)) return Number(value);
    }
    return undefined;
  }

  /** Waits until the metric `name` shows `value` (a gauge's state: `vigil_outbox_relay_leader` 1). */
  async waitForMetric(name: string, value: number, timeoutMs = 20_000): Promise<void> {
    await waitFor(
      async () => {
        this.assertRunning();
        return (await this.metric(name)) === value;
      },
      { timeoutMs, intervalMs: 50, message: `${this.name} metric ${name} at ${value}` },
    );
  }

  /** Stopped as a deployment stops it: SIGTERM, and its exit awaited. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.kill('SIGTERM');
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill(signal);
    await this.exited;
  }
}

/**
 * A service process for one test: started, ready on /readyz, stopped with SIGTERM when disposed
 * (`await using`). One that does not get ready in time is killed before the error is thrown, so a
 * failed start leaves no process behind.
 */
export async function serviceFixture(
  name: string,
  env: Record<string, string>,
  o: { timeoutMs?: number; nodeArgs?: readonly string[] } = {},
): Promise<ServiceProcess> {
  const p = ServiceProcess.start(name, env, o.nodeArgs);
  try {
    await p.waitReady(o.timeoutMs);
    return p;
  } catch (e) {
    await p.kill('SIGKILL');
    throw e;
  }
}
