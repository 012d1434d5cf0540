import type { EventData } from '@vigil/events';
import { VigilError } from '@vigil/events';

type Request = EventData<'chaos.requested'>;
export type ChaosKind = Request['kind'];

/** One step on one container; each injection has the rollback that undoes it. */
export type Action =
  | { readonly op: 'kill'; readonly signal: string }
  | { readonly op: 'stop' | 'start' | 'restart' | 'pause' | 'unpause' }
  | { readonly op: 'disconnect' | 'connect'; readonly network: string }
  | { readonly op: 'netem-add'; readonly delayMs?: number; readonly jitterMs?: number; readonly lossPercent?: number }
  | { readonly op: 'netem-remove' }
  | { readonly op: 'stress-start'; readonly cpuWorkers?: number; readonly memoryMb?: number }
  | { readonly op: 'stress-stop' };

export interface Plan {
  readonly kind: ChaosKind;
  readonly holdMs: number;
  readonly inject: readonly Action[];
  /** Undoes `inject`, in order; run after the hold, on abort, and on restart after a crash. */
  readonly rollback: readonly Action[];
}

/** A request whose parameters do not fit its kind; the message names the parameter. */
export class PlanError extends VigilError {
  readonly code = 'PLAN_INVALID';
}

function num(p: Request['parameters'], key: string, def: number, min: number, max: number): number {
  const v = p[key] ?? def;
  // Stryker disable next-line ConditionalExpression: equivalent, Number.isFinite is false for every non-number too; the typeof is there for the type
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new PlanError(`parameters.${key} must be a number from ${min} to ${max}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function str(p: Request['parameters'], key: string, def?: string): string {
  const v = p[key] ?? def;
  if (typeof v !== 'string' || v === '') throw new PlanError(`parameters.${key} must be a non-empty string`);
  return v;
}

/**
 * The signals a container-kill may send: ones that end or poke a process. SIGSTOP and SIGTSTP
 * would freeze the workload while the container still reads as running, which no rollback (a
 * start) undoes; SIGCONT and the rest fault nothing.
 */
export const ALLOWED_SIGNALS: readonly string[] = [
  'SIGKILL',
  'SIGTERM',
  'SIGINT',
  'SIGQUIT',
  'SIGHUP',
  'SIGUSR1',
  'SIGUSR2',
];

const known: Record<ChaosKind, readonly string[]> = {
  'container-kill': ['signal'],
  'container-stop': [],
  'container-restart': [],
  'container-pause': [],
  'network-disconnect': ['network'],
  'network-latency': ['delayMs', 'jitterMs'],
  'network-loss': ['lossPercent'],
  'cpu-stress': ['workers'],
  'memory-stress': ['memoryMb'],
};

/**
 * The plan for a request, with the seed's defaults: latency 100-500 ms (300 ± 200), stress 2 CPU
 * workers or 256 MB. A kill is undone by starting the container again.
 */
export function planFor(request: Request): Plan {
  const p = request.parameters;
  const unknown = Object.keys(p).filter((k) => !known[request.kind].includes(k));
  if (unknown.length > 0) {
    throw new PlanError(
      `parameters.${unknown[0]} is not a parameter of ${request.kind} (it takes: ${known[request.kind].join(', ') || 'none'})`,
    );
  }
  const holdMs = Math.round(request.durationSeconds * 1000);
  const plan = (inject: Action[], rollback: Action[]): Plan => ({ kind: request.kind, holdMs, inject, rollback });
  switch (request.kind) {
    case 'container-kill': {
      const signal = str(p, 'signal', 'SIGKILL').toUpperCase();
      if (!ALLOWED_SIGNALS.includes(signal)) {
        throw new PlanError(
          `parameters.signal ${JSON.stringify(p['signal'])} is not allowed (one of ${ALLOWED_SIGNALS.join(', ')})`,
        );
      }
      return plan([{ op: 'kill', signal }], [{ op: 'start' }]);
    }
    case 'container-stop':
      return plan([{ op: 'stop' }], [{ op: 'start' }]);
    case 'container-restart':
      return plan([{ op: 'restart' }], []);
    case 'container-pause':
      return plan([{ op: 'pause' }], [{ op: 'unpause' }]);
    case 'network-disconnect': {
      const network = str(p, 'network');
      return plan([{ op: 'disconnect', network }], [{ op: 'connect', network }]);
    }
    case 'network-latency':
      return plan(
        [{ op: 'netem-add', delayMs: num(p, 'delayMs', 300, 1, 60_000), jitterMs: num(p, 'jitterMs', 200, 0, 60_000) }],
        [{ op: 'netem-remove' }],
      );
    case 'network-loss':
      return plan([{ op: 'netem-add', lossPercent: num(p, 'lossPercent', 10, 0.01, 100) }], [{ op: 'netem-remove' }]);
    case 'cpu-stress':
      return plan([{ op: 'stress-start', cpuWorkers: num(p, 'workers', 2, 1, 64) }], [{ op: 'stress-stop' }]);
    case 'memory-stress':
      return plan([{ op: 'stress-start', memoryMb: num(p, 'memoryMb', 256, 1, 65_536) }], [{ op: 'stress-stop' }]);
  }
}

/** `pause`, `netem-add delay 300ms ± 200ms`: the plan's steps as the chaos.started event lists them. */
export function describeAction(a: Action): string {
  switch (a.op) {
    case 'kill':
      return `kill ${a.signal}`;
    case 'disconnect':
    case 'connect':
      return `${a.op} ${a.network}`;
    case 'netem-add':
      return a.lossPercent !== undefined
        ? `netem-add loss ${a.lossPercent}%`
        : `netem-add delay ${a.delayMs}ms ± ${a.jitterMs}ms`;
    case 'stress-start':
      return a.memoryMb !== undefined ? `stress-start ${a.memoryMb} MB` : `stress-start ${a.cpuWorkers} CPU workers`;
    default:
      return a.op;
  }
}
