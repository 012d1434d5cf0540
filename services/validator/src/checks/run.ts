import { bulkhead, TaskCancelledError, timeout, TimeoutStrategy } from 'cockatiel';
import { DockerUnavailableError } from '@vigil/docker';
import type { CheckConfig, CheckKind, SuiteConfig } from '../config/suite.js';
import { round2, scoreRun, type CheckStatus, type ComponentResult, type Status } from '../core/scoring.js';
import { command, file, host, http, postgres, tcp } from './basic.js';
import { dockerContainer, dockerHardening } from './docker.js';
import { jetstreamDurability, nats } from './nats.js';
import { secrets } from './secrets.js';
import type { CheckContext, CheckOutcome, CheckRunner } from './types.js';

/** The runners by kind. */
export const runners: { [K in CheckKind]: CheckRunner<K> } = {
  'docker.container': dockerContainer,
  'docker.hardening': dockerHardening,
  http,
  tcp,
  postgres,
  host,
  file,
  command,
  secrets,
  nats,
  'jetstream.durability': jetstreamDurability,
};

export interface CheckResult {
  readonly name: string;
  readonly kind: CheckKind;
  readonly status: CheckStatus;
  readonly durationMs: number;
  readonly weight?: number;
  readonly message: string;
  readonly observed?: Record<string, number | string | boolean>;
}

/** The deployment a validator runs in when VIGIL_DEPLOYMENT is not set. */
export const DEFAULT_DEPLOYMENT = 'local';

/**
 * Runs one check under its timeout; anything that stops it from running is an ERROR result. A
 * check for other deployments, or a Docker check where no engine runs and none is required, is
 * SKIPPED with the reason.
 */
export async function runCheck(check: CheckConfig, ctx: Omit<CheckContext, 'signal'>): Promise<CheckResult> {
  const started = performance.now();
  const base = { name: check.name, kind: check.kind, ...(check.weight === undefined ? {} : { weight: check.weight }) };
  const runner = runners[check.kind] as CheckRunner<CheckKind>;
  const took = () => round2(performance.now() - started);
  const deployment = ctx.deployment ?? DEFAULT_DEPLOYMENT;
  if (check.deployments !== undefined && !check.deployments.includes(deployment)) {
    const where = check.deployments.join(', ');
    return {
      ...base,
      status: 'SKIPPED',
      durationMs: 0,
      message: `applies under ${where}; this validator runs under ${deployment}`,
    };
  }
  // Whether the timeout aborted the check while it ran (cockatiel also aborts once it returns).
  let cutShort = false;
  try {
    const outcome: CheckOutcome = await timeout(check.timeout, TimeoutStrategy.Aggressive).execute(({ signal }) => {
      let settled = false;
      signal.addEventListener('abort', () => (cutShort ||= !settled), { once: true });
      return runner(check.params, { ...ctx, signal }).finally(() => (settled = true));
    });
    return { ...base, ...outcome, durationMs: took() };
  } catch (e) {
    if (e instanceof DockerUnavailableError && ctx.dockerRequired !== true) {
      const message = `${e.message}: Docker checks do not apply here (set DOCKER_HOST to require an engine)`;
      return { ...base, status: 'SKIPPED', durationMs: took(), message };
    }
    // The check may fail from the abort itself just before the timeout's own error arrives; the
    // signal says so, where the clock may not (a timer can fire a fraction of a ms early).
    const timedOut = e instanceof TaskCancelledError || cutShort;
    const message = timedOut ? `did not finish within ${check.timeout} ms` : e instanceof Error ? e.message : String(e);
    return { ...base, status: 'ERROR', durationMs: took(), message };
  }
}

export interface SuiteRunResult {
  readonly score: number;
  readonly status: Status;
  readonly durationMs: number;
  readonly components: readonly ComponentResult<CheckResult>[];
}

/** Runs every check of a suite, at most `suite.concurrency` at once, and scores the run. */
export async function runSuite(suite: SuiteConfig, ctx: Omit<CheckContext, 'signal'>): Promise<SuiteRunResult> {
  const started = performance.now();
  const limit = bulkhead(suite.concurrency, Number.MAX_SAFE_INTEGER);
  const components = await Promise.all(
    suite.components.map(async (c) => ({
      name: c.name,
      weight: c.weight,
      checks: await Promise.all(c.checks.map((check) => limit.execute(() => runCheck(check, ctx)))),
    })),
  );
  const scored = scoreRun(components);
  return { ...scored, durationMs: round2(performance.now() - started) };
}
