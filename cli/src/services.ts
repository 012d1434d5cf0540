import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The services `vigil up` runs, in start order; each serves /healthz, /readyz and /metrics on the
 * base port plus its offset (9470-9475 by default, see docs/decisions.md).
 */
export const services = [
  { name: 'outbox-relay', entry: 'services/outbox-relay/dist/main.js', offset: 4 },
  { name: 'validator', entry: 'services/validator/dist/main.js', offset: 0 },
  { name: 'slo-engine', entry: 'services/slo-engine/dist/main.js', offset: 1 },
  { name: 'chaos', entry: 'services/chaos/dist/main.js', offset: 2 },
  { name: 'anomaly', entry: 'services/anomaly/dist/main.js', offset: 3 },
  { name: 'status', entry: 'services/status/dist/main.js', offset: 5 },
] as const;

export type ServiceName = (typeof services)[number]['name'];

/** The first port of `vigil up`'s services unless VIGIL_PORT_BASE moves them. */
export const DEFAULT_PORT_BASE = 9470;

/** Each service's port for a base port. */
export function portsFrom(base: number): Record<ServiceName, number> {
  return Object.fromEntries(services.map((s) => [s.name, base + s.offset])) as Record<ServiceName, number>;
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const levels: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

/** One line of a service's JSON log, shortened for a terminal. */
export function formatLogLine(service: string, line: string): string {
  try {
    const j = JSON.parse(line) as Record<string, unknown>;
    const { level, msg, time: _t, service: _s, ...rest } = j;
    const extra = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : '';
    return `${service.padEnd(13)}| ${(levels[Number(level)] ?? String(level)).padEnd(5)} ${typeof msg === 'string' ? msg : JSON.stringify(msg)}${extra}`;
  } catch {
    return `${service.padEnd(13)}| ${line}`;
  }
}

export interface RunningService {
  readonly name: string;
  readonly port: number;
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
}

/** Starts a built service with the stack's environment; its log lines go to `print`, prefixed. */
export function startService(
  s: (typeof services)[number],
  port: number,
  env: NodeJS.ProcessEnv,
  print: (line: string) => void,
): RunningService {
  const entry = join(root, s.entry);
  if (!existsSync(entry)) throw new Error(`${s.name} is not built (${s.entry} missing): run pnpm build`);
  const child = spawn(process.execPath, [entry], {
    env: { ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  for (const stream of [child.stdout, child.stderr]) {
    let buf = '';
    stream?.on('data', (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        print(formatLogLine(s.name, buf.slice(0, i)));
        buf = buf.slice(i + 1);
      }
    });
  }
  return { name: s.name, port, child, exited };
}

/** Waits until the service's /readyz answers 200, or fails naming the service. */
export async function waitReady(s: RunningService, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (s.child.exitCode !== null) throw new Error(`${s.name} exited with code ${s.child.exitCode} during start`);
    try {
      const r = await fetch(`http://127.0.0.1:${s.port}/readyz`);
      if (r.ok) return;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline)
      throw new Error(`${s.name} was not ready within ${timeoutMs / 1000} s (http://127.0.0.1:${s.port}/readyz)`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function stopService(s: RunningService): Promise<void> {
  if (s.child.exitCode !== null || s.child.signalCode !== null) return;
  s.child.kill('SIGTERM');
  const timer = setTimeout(() => s.child.kill('SIGKILL'), 15_000);
  await s.exited;
  clearTimeout(timer);
}

/**
 * `vigil anomaly backtest`: the anomaly service's own backtest entry in a child process (the
 * service's code stays in the service), with this process's standard streams; its exit code.
 */
export function runAnomalyBacktest(args: readonly string[]): Promise<number> {
  const entry = join(root, 'services/anomaly/dist/backtest/main.js');
  if (!existsSync(entry))
    throw new Error('the anomaly service is not built (services/anomaly/dist missing): run pnpm build');
  const child = spawn(process.execPath, [entry, ...args], { stdio: 'inherit' });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? (signal === 'SIGPIPE' ? 0 : 1)));
  });
}
