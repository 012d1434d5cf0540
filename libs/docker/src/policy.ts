import {
  circuitBreaker,
  ConsecutiveBreaker,
  ExponentialBackoff,
  handleWhen,
  isBrokenCircuitError,
  isTaskCancelledError,
  retry,
  timeout,
  TimeoutStrategy,
  type CircuitBreakerPolicy,
} from 'cockatiel';
import type Docker from 'dockerode';
import { VigilError } from '@vigil/events';

/** The engine could not be reached, refused a connection, or did not answer; the message says which engine and why. */
export class DockerUnavailableError extends VigilError {
  readonly code = 'DOCKER_UNAVAILABLE';
  constructor(
    message: string,
    options?: { cause?: unknown },
    /** A dropped connection, which the next try may not meet (a read is tried again). */
    readonly transient = false,
  ) {
    super(message, options);
  }
}

/** How calls to one engine are bounded. */
export interface EnginePolicyOptions {
  /** A call not answered within this is abandoned (its request aborted) and fails as unavailable. @default 30_000 */
  readonly timeoutMs?: number;
  /** Unavailable answers in a row that open the breaker; while open, calls fail at once. @default 5 */
  readonly breakerFailures?: number;
  /** How long the breaker stays open before one call may try again. @default 10_000 */
  readonly breakerOpenMs?: number;
  /** Attempts in all of a call that changes nothing (a read) whose connection dropped. @default 3 */
  readonly readAttempts?: number;
}

/** Per call. */
export interface EngineCallOptions {
  /** The call changes nothing (inspect, list, info): tried again when the engine is unavailable. @default false */
  readonly idempotent?: boolean;
  /** Overrides the engine's timeout for a call that takes long by design (a stop that waits, a pull). */
  readonly timeoutMs?: number;
  /** Ends the call early (the caller's own deadline). */
  readonly signal?: AbortSignal;
}

interface Policies {
  readonly options: Required<EnginePolicyOptions>;
  readonly breaker: CircuitBreakerPolicy;
}

const defaults: Required<EnginePolicyOptions> = {
  timeoutMs: 30_000,
  breakerFailures: 5,
  breakerOpenMs: 10_000,
  readAttempts: 3,
};

const policies = new WeakMap<Docker, Policies>();
const unavailable = handleWhen((e) => e instanceof DockerUnavailableError);
// Not an absent engine (a missing socket, a refused port) nor a hung one (a timeout): trying
// again would only make the caller wait longer for the same answer.
const dropped = handleWhen((e) => e instanceof DockerUnavailableError && e.transient);

/** Sets the policies of calls to `docker` (connectDocker does, with its options). */
export function setEnginePolicy(docker: Docker, o: EnginePolicyOptions = {}): void {
  policies.set(docker, makePolicies(o));
}

function makePolicies(o: EnginePolicyOptions): Policies {
  const options = { ...defaults, ...o };
  return {
    options,
    // Only an engine that does not answer opens it: an engine that answers 404 or 409 is working.
    breaker: circuitBreaker(unavailable, {
      halfOpenAfter: options.breakerOpenMs,
      breaker: new ConsecutiveBreaker(options.breakerFailures),
    }),
  };
}

/** The engine's policies; a client made without connectDocker gets the defaults. */
function policiesOf(docker: Docker): Policies {
  const known = policies.get(docker);
  if (known !== undefined) return known;
  const p = makePolicies({});
  policies.set(docker, p);
  return p;
}

const connectionCodes = ['ECONNREFUSED', 'ENOENT', 'EACCES', 'EHOSTUNREACH', 'ETIMEDOUT'];
const droppedCodes = ['ECONNRESET', 'EPIPE'];

/**
 * Runs one engine call under the engine's policies: a timeout (the request is aborted through the
 * signal handed to `call`, which passes it to dockerode as `abortSignal`), a circuit breaker
 * shared by every call to that engine, and retries with backoff for idempotent calls. Connection
 * failures, timeouts and an open breaker become a DockerUnavailableError naming the engine; the
 * engine's own answers (404, 409…) pass through unchanged.
 */
export async function engineCall<T>(
  docker: Docker,
  call: (signal: AbortSignal) => Promise<T>,
  o: EngineCallOptions = {},
): Promise<T> {
  const p = policiesOf(docker);
  const ms = o.timeoutMs ?? p.options.timeoutMs;
  // Not aborted on return: a call may return a stream (logs, a pull) that is read afterwards.
  const bounded = timeout(ms, { strategy: TimeoutStrategy.Aggressive, abortOnReturn: false });
  const once = () =>
    p.breaker.execute(async () => {
      let timedOut: AbortSignal | undefined;
      try {
        return await bounded.execute(({ signal }) => {
          timedOut = signal;
          return call(o.signal === undefined ? signal : AbortSignal.any([signal, o.signal]));
        });
      } catch (e) {
        // The aborted request may reject before the policy does: either way it was the timeout.
        const late = isTaskCancelledError(e) || (timedOut?.aborted === true && o.signal?.aborted !== true);
        throw translate(docker, e, ms, o.signal, late);
      }
    });
  try {
    if (o.idempotent !== true || p.options.readAttempts <= 1) return await once();
    return await retry(dropped, {
      maxAttempts: p.options.readAttempts - 1,
      backoff: new ExponentialBackoff({ initialDelay: 200, maxDelay: 2000 }),
    }).execute(once);
  } catch (e) {
    if (isBrokenCircuitError(e)) {
      throw new DockerUnavailableError(
        `no Docker engine answered at ${engineAddress(docker)} for ${p.options.breakerFailures} calls in a row; ` +
          `calls fail at once for ${p.options.breakerOpenMs / 1000}s before one tries again`,
        { cause: e },
      );
    }
    throw e;
  }
}

function translate(docker: Docker, e: unknown, ms: number, signal: AbortSignal | undefined, late: boolean): unknown {
  if (late) {
    return new DockerUnavailableError(
      `the Docker engine at ${engineAddress(docker)} did not answer within ${ms / 1000}s`,
      {
        cause: e,
      },
    );
  }
  // The caller's own signal: its deadline, not the engine's fault.
  if (signal?.aborted === true) return e;
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && connectionCodes.includes(code)) {
    return new DockerUnavailableError(`no Docker engine at ${engineAddress(docker)} (${code})`, { cause: e });
  }
  if (typeof code === 'string' && droppedCodes.includes(code)) {
    return new DockerUnavailableError(
      `the Docker engine at ${engineAddress(docker)} dropped the connection (${code})`,
      { cause: e },
      true,
    );
  }
  return e;
}

/** `unix:///var/run/docker.sock` or `http://host:2375`, for messages. */
export function engineAddress(docker: Docker): string {
  const modem = docker.modem as { socketPath?: unknown; host?: unknown; port?: unknown; protocol?: unknown };
  if (typeof modem.socketPath === 'string') return `unix://${modem.socketPath}`;
  return `${String(modem.protocol)}://${String(modem.host)}:${String(modem.port)}`;
}
