import { containerName, describeSelector, findContainers, isRootUser } from '@vigil/docker';
import type { CheckOutcome, CheckRunner } from './types.js';

/** Running / healthy / restarted fewer than `maxRestarts` times, for every container the selector matches. */
export const dockerContainer: CheckRunner<'docker.container'> = async (p, ctx) => {
  const found = await findContainers(ctx.docker, p.container, { signal: ctx.signal });
  const what = describeSelector(p.container);
  if (found.length === 0) return { status: 'FAIL', message: `no container matches ${what}`, observed: { matched: 0 } };
  const problems: string[] = [];
  const pending: string[] = [];
  let maxRestarts = 0;
  for (const c of found) {
    const n = containerName(c);
    maxRestarts = Math.max(maxRestarts, c.RestartCount);
    if (p.running && (!c.State.Running || c.State.Paused)) problems.push(`${n} is ${c.State.Status}`);
    if (p.healthy) {
      const health = c.State.Health?.Status;
      if (health === undefined || health === 'none') problems.push(`${n} has no healthcheck`);
      else if (health === 'starting') pending.push(`${n} is still starting`);
      else if (health !== 'healthy') problems.push(`${n} is ${health}`);
    }
    if (p.maxRestarts !== undefined && c.RestartCount >= p.maxRestarts) {
      problems.push(`${n} restarted ${c.RestartCount} times (limit: fewer than ${p.maxRestarts})`);
    }
  }
  const observed = {
    matched: found.length,
    running: found.filter((c) => c.State.Running && !c.State.Paused).length,
    healthy: found.filter((c) => c.State.Health?.Status === 'healthy').length,
    maxRestartCount: maxRestarts,
  };
  const expected = [p.running ? 'running' : '', p.healthy ? 'healthy' : ''].filter(Boolean).join(' and ');
  return verdict(
    problems,
    pending,
    `${found.length} container(s) matching ${what}${expected ? ` ${expected}` : ''}`,
    observed,
  );
};

/** Read-only root filesystem, non-root user, memory limit, not privileged — each unless turned off. */
export const dockerHardening: CheckRunner<'docker.hardening'> = async (p, ctx) => {
  const found = await findContainers(ctx.docker, p.container, { signal: ctx.signal });
  const what = describeSelector(p.container);
  if (found.length === 0) return { status: 'FAIL', message: `no container matches ${what}`, observed: { matched: 0 } };
  const problems: string[] = [];
  let hardened = 0;
  for (const c of found) {
    const gaps: string[] = [];
    if (p.require.readOnlyRootfs && c.HostConfig.ReadonlyRootfs !== true) gaps.push('writable root filesystem');
    if (p.require.nonRoot && isRootUser(c.Config.User)) gaps.push(`runs as root (user "${c.Config.User}")`);
    if (p.require.memoryLimit && !((c.HostConfig.Memory ?? 0) > 0)) gaps.push('no memory limit');
    if (p.require.notPrivileged && c.HostConfig.Privileged === true) gaps.push('privileged');
    if (gaps.length === 0) hardened++;
    else problems.push(`${containerName(c)}: ${gaps.join(', ')}`);
  }
  return verdict(problems, [], `${found.length} container(s) matching ${what} hardened`, {
    matched: found.length,
    hardened,
  });
};

function verdict(
  problems: readonly string[],
  pending: readonly string[],
  passMessage: string,
  observed: Record<string, number>,
): CheckOutcome {
  if (problems.length > 0) return { status: 'FAIL', message: [...problems, ...pending].join('; '), observed };
  if (pending.length > 0) return { status: 'WARN', message: pending.join('; '), observed };
  return { status: 'PASS', message: passMessage, observed };
}
