import {
  engineCall,
  type EngineCallOptions,
  statusOf,
  type ContainerCreateOptions,
  type ContainerInspectInfo,
  type DockerClient,
} from '@vigil/docker';
import type { Candidate } from './core/gate.js';
import { describeAction, type Action } from './core/plan.js';
import type { Target } from './store.js';
import { VigilError } from '@vigil/events';

/** Labels on every helper container, so a rollback (or a person) can find them. */
export const helperLabels = {
  experiment: 'vigil.chaos/experiment',
  target: 'vigil.chaos/target',
  role: 'vigil.chaos/helper',
} as const;

/**
 * An action the engine refused or that did not take effect; permanent for this experiment (it is
 * rolled back and reported), the message says which action, on what, and why.
 */
export class ActionError extends VigilError {
  readonly code = 'CHAOS_ACTION_FAILED';
}

export interface EngineOptions {
  /** Image of the helper containers (netem, stress): busybox or a shell, and `tc` at /sbin/tc. */
  readonly helperImage: string;
  /** Seconds a stop waits before SIGKILL. @default 10 */
  readonly stopTimeoutSeconds?: number;
}

/** The experiment's view of the Docker engine: list candidates, act, undo, and read health. */
export interface ChaosEngine {
  candidates(): Promise<Candidate[]>;
  /**
   * What the undo of `action` will need, read before acting (so it can be journalled first).
   * For a disconnect: the endpoint's aliases and addresses.
   */
  prepare(target: Target, action: Action): Promise<Record<string, unknown> | undefined>;
  /** Performs `action`; undoing something already undone is not an error (rollback is idempotent). */
  act(experimentId: string, target: Target, action: Action, detail: Record<string, unknown> | undefined): Promise<void>;
  /** Whether the container is running, unpaused, and healthy when it has a healthcheck. */
  health(target: Target): Promise<{ ok: boolean; state: string }>;
}

// Over 60 lines: the engine adapter, one closure over the client and its policy; each method is short but `act`, one case per action kind.
export function dockerEngine(docker: DockerClient, o: EngineOptions): ChaosEngine {
  const call = <T>(fn: (abortSignal: AbortSignal) => Promise<T>, opts?: EngineCallOptions) =>
    engineCall(docker, fn, opts);
  const read = { idempotent: true } as const;
  // A stop or restart waits for the container's own stop timeout before the engine answers.
  const stopping = { timeoutMs: ((o.stopTimeoutSeconds ?? 10) + 30) * 1000 };
  const fail = (action: Action, target: Target, e: unknown): never => {
    const msg = (e as { json?: { message?: string } }).json?.message ?? (e as Error).message;
    throw new ActionError(`${describeAction(action)} on ${target.name}: ${msg}`, { cause: e });
  };
  /** Runs `fn`, treating the engine statuses in `fine` as "already in the wanted state". */
  const tolerate = async (
    action: Action,
    target: Target,
    fine: readonly number[],
    fn: (abortSignal: AbortSignal) => Promise<unknown>,
    opts?: EngineCallOptions,
  ) => {
    try {
      await call(fn, opts);
    } catch (e) {
      const status = statusOf(e);
      if (status !== undefined && fine.includes(status)) return;
      fail(action, target, e);
    }
  };

  async function helperImage(): Promise<void> {
    try {
      // (dockerode cannot abort an image inspect: the timeout alone bounds it.)
      await call(() => docker.getImage(o.helperImage).inspect(), read);
    } catch (e) {
      if (statusOf(e) !== 404) throw e;
      throw new ActionError(
        `the helper image ${o.helperImage} is not on the Docker engine: build it from services/chaos/helper (see services/chaos/README.md) or set CHAOS_HELPER_IMAGE`,
      );
    }
  }

  /** Runs a helper in the target's network namespace to completion; its output is the error on failure. */
  async function netemHelper(experimentId: string, target: Target, script: string): Promise<string> {
    await helperImage();
    const options: ContainerCreateOptions = {
      Image: o.helperImage,
      Cmd: ['sh', '-c', script],
      Labels: {
        [helperLabels.experiment]: experimentId,
        [helperLabels.target]: target.id,
        [helperLabels.role]: 'netem',
      },
      HostConfig: { NetworkMode: `container:${target.id}`, CapAdd: ['NET_ADMIN'], CapDrop: ['ALL'] },
    };
    const helper = await call((abortSignal) => docker.createContainer({ ...options, abortSignal }));
    try {
      await call((abortSignal) => helper.start({ abortSignal }));
      const { StatusCode } = (await call((abortSignal) => helper.wait({ abortSignal }))) as { StatusCode: number };
      const logs = await call((abortSignal) => helper.logs({ stdout: true, stderr: true, abortSignal }), read);
      const output = demux(logs).trim();
      if (StatusCode !== 0) {
        throw new ActionError(
          /qdisc kind is unknown/i.test(output)
            ? `the Docker engine's kernel has no netem queueing discipline (sch_netem), which network-latency and network-loss need: ${output}`
            : `the netem helper exited with ${StatusCode}: ${output || 'no output'}`,
        );
      }
      return output;
    } finally {
      await call((abortSignal) => helper.remove({ force: true, abortSignal })).catch(() => undefined);
    }
  }

  async function stressStart(experimentId: string, target: Target, action: Extract<Action, { op: 'stress-start' }>) {
    await helperImage();
    const info = await call((abortSignal) => docker.getContainer(target.id).inspect({ abortSignal }), read);
    const engine = (await call(() => docker.info(), read)) as {
      CgroupDriver?: string;
      CgroupVersion?: string;
    };
    // With cgroup v1 and the cgroupfs driver the helper can live inside the target's cgroup, so
    // its load counts against the target's CPU and memory limits, as Pumba does it.
    const nested = engine.CgroupDriver === 'cgroupfs' && engine.CgroupVersion !== '2';
    const parent = `${info.HostConfig.CgroupParent || '/docker'}/${info.Id}`;
    const mb = action.memoryMb;
    const script =
      mb !== undefined
        ? `dd if=/dev/zero of=/stress/fill bs=1M count=${mb} 2>/dev/null; exec sleep 2147483647`
        : `i=0; while [ $i -lt ${action.cpuWorkers ?? 1} ]; do (while :; do :; done) & i=$((i+1)); done; wait`;
    const options: ContainerCreateOptions = {
      Image: o.helperImage,
      name: `vigil-chaos-stress-${experimentId.slice(0, 8)}-${target.id.slice(0, 12)}`,
      Cmd: ['sh', '-c', script],
      Labels: {
        [helperLabels.experiment]: experimentId,
        [helperLabels.target]: target.id,
        [helperLabels.role]: 'stress',
      },
      HostConfig: {
        NetworkMode: 'none',
        PidMode: `container:${target.id}`,
        Init: true,
        CapDrop: ['ALL'],
        ...(mb === undefined ? {} : { Tmpfs: { '/stress': `size=${mb + 1}m` } }),
        ...(nested ? { CgroupParent: parent } : {}),
      },
    };
    const helper = await call((abortSignal) => docker.createContainer({ ...options, abortSignal }));
    await call((abortSignal) => helper.start({ abortSignal }));
  }

  async function removeHelpers(experimentId: string, target: Target, role: 'stress' | 'netem') {
    const found = await call((abortSignal) =>
      docker.listContainers({
        abortSignal,
        all: true,
        filters: {
          label: [
            `${helperLabels.experiment}=${experimentId}`,
            `${helperLabels.target}=${target.id}`,
            `${helperLabels.role}=${role}`,
          ],
        },
      }),
    );
    for (const c of found) {
      await tolerate({ op: 'stress-stop' }, target, [404, 409], (abortSignal) =>
        docker.getContainer(c.Id).remove({ force: true, abortSignal }),
      );
    }
  }

  // Only the root qdisc vigil put there (netem) is removed, on every interface but lo.
  const devices = `for d in $(ls /sys/class/net); do [ "$d" = lo ] && continue;`;

  return {
    async candidates() {
      const list = await call((abortSignal) => docker.listContainers({ all: true, abortSignal }), read);
      return list.map((c) => {
        const names = c.Names.map((n) => n.replace(/^\//, ''));
        // A link adds `<linker>/<alias>` names, listed in any order; the own name has no slash.
        const own = names.find((n) => !n.includes('/')) ?? names[0] ?? c.Id;
        return {
          id: c.Id,
          name: own,
          names,
          labels: c.Labels,
          running: c.State === 'running',
        };
      });
    },

    async prepare(target, action) {
      if (action.op !== 'disconnect') return undefined;
      const info = await call((abortSignal) => docker.getContainer(target.id).inspect({ abortSignal }), read);
      const endpoint = info.NetworkSettings.Networks[action.network];
      if (endpoint === undefined) {
        throw new ActionError(`${target.name} is not connected to network ${action.network}`);
      }
      const ipam = endpoint.IPAMConfig as { IPv4Address?: string; IPv6Address?: string } | undefined;
      return {
        // The engine adds the short container id as an alias itself.
        aliases: ((endpoint.Aliases ?? []) as string[]).filter((a) => !info.Id.startsWith(a)),
        ipv4: ipam?.IPv4Address ?? null,
        ipv6: ipam?.IPv6Address ?? null,
      };
    },

    // Over 60 lines: one case per action kind (pause, kill, stop, restart, disconnect, netem, stress), each a few lines.
    async act(experimentId, target, action, detail) {
      const c = docker.getContainer(target.id);
      switch (action.op) {
        case 'kill':
          return tolerate(action, target, [], (abortSignal) => c.kill({ signal: action.signal, abortSignal }));
        case 'stop':
          return tolerate(
            action,
            target,
            [304],
            (abortSignal) => c.stop({ t: o.stopTimeoutSeconds ?? 10, abortSignal }),
            stopping,
          );
        case 'start':
          return tolerate(action, target, [304], (abortSignal) => c.start({ abortSignal }));
        case 'restart':
          return tolerate(
            action,
            target,
            [],
            (abortSignal) => c.restart({ t: o.stopTimeoutSeconds ?? 10, abortSignal }),
            stopping,
          );
        case 'pause':
          return tolerate(action, target, [], (abortSignal) => c.pause({ abortSignal }));
        case 'unpause':
          // 409: not paused (any more) — the state the rollback wants.
          return tolerate(action, target, [409], (abortSignal) => c.unpause({ abortSignal }));
        case 'disconnect':
          return tolerate(action, target, [], (abortSignal) =>
            docker.getNetwork(action.network).disconnect({ Container: target.id, Force: true, abortSignal }),
          );
        case 'connect': {
          const d = (detail ?? {}) as { aliases?: string[]; ipv4?: string | null; ipv6?: string | null };
          const ipam = {
            ...(d.ipv4 ? { IPv4Address: d.ipv4 } : {}),
            ...(d.ipv6 ? { IPv6Address: d.ipv6 } : {}),
          };
          // 403: already connected.
          return tolerate(action, target, [403, 409], (abortSignal) => {
            // dockerode takes abortSignal here, though its types do not say so.
            const options = {
              abortSignal,
              Container: target.id,
              EndpointConfig: {
                ...(d.aliases && d.aliases.length > 0 ? { Aliases: d.aliases } : {}),
                ...(Object.keys(ipam).length > 0 ? { IPAMConfig: ipam } : {}),
              },
            };
            return docker.getNetwork(action.network).connect(options);
          });
        }
        case 'netem-add': {
          const spec =
            action.lossPercent !== undefined
              ? `loss ${action.lossPercent}%`
              : `delay ${action.delayMs}ms ${action.jitterMs ?? 0}ms`;
          await netemHelper(
            experimentId,
            target,
            `set -e; n=0; ${devices} /sbin/tc qdisc replace dev "$d" root netem ${spec}; n=$((n+1)); done; [ $n -gt 0 ] || { echo "no network interface but lo"; exit 3; }`,
          );
          return;
        }
        case 'netem-remove': {
          const info = await call((abortSignal) => c.inspect({ abortSignal }), read).catch((e: unknown) => {
            if (statusOf(e) === 404) return undefined;
            throw e;
          });
          // A stopped or removed container has no network namespace left, and no netem either.
          if (info === undefined || !info.State.Running) return;
          await netemHelper(
            experimentId,
            target,
            `${devices} if /sbin/tc qdisc show dev "$d" | grep -q '^qdisc netem'; then /sbin/tc qdisc del dev "$d" root; fi; done; true`,
          );
          return;
        }
        case 'stress-start':
          return stressStart(experimentId, target, action);
        case 'stress-stop':
          return removeHelpers(experimentId, target, 'stress');
      }
    },

    async health(target) {
      let info: ContainerInspectInfo;
      try {
        info = await call((abortSignal) => docker.getContainer(target.id).inspect({ abortSignal }), read);
      } catch (e) {
        if (statusOf(e) === 404) return { ok: false, state: 'removed' };
        throw e;
      }
      const s = info.State;
      const health = (s as { Health?: { Status?: string } }).Health?.Status;
      const state = s.Paused
        ? 'paused'
        : s.Running
          ? health === undefined
            ? 'running'
            : `running (${health})`
          : s.Status;
      if (!s.Running || s.Paused || (health !== undefined && health !== 'healthy')) return { ok: false, state };
      // Running is not working: a process stopped by SIGSTOP leaves the container "running".
      const stopped = await stoppedProcesses(docker, target.id);
      if (stopped === undefined) return { ok: true, state: `${state}; processes unreadable` };
      if (stopped.length > 0) return { ok: false, state: `${state}, but stopped: ${stopped.join(', ')}` };
      return { ok: true, state };
    },
  };
}

/**
 * The container's processes in the stopped state (`T`, `t`: SIGSTOP, SIGTSTP, traced), as
 * `pid N (STAT)`; undefined when the engine cannot list them (no `ps` on its host).
 */
async function stoppedProcesses(docker: DockerClient, id: string): Promise<string[] | undefined> {
  try {
    const top = (await engineCall(
      docker,
      (abortSignal) => docker.getContainer(id).top({ ps_args: 'o pid,stat', abortSignal }),
      { idempotent: true },
    )) as {
      Titles?: string[];
      Processes?: string[][];
    };
    const pid = top.Titles?.indexOf('PID') ?? -1;
    const stat = top.Titles?.indexOf('STAT') ?? -1;
    if (pid < 0 || stat < 0) return undefined;
    return (top.Processes ?? [])
      .filter((row) => /^[Tt]/.test(row[stat] ?? ''))
      .map((row) => `pid ${row[pid] ?? '?'} (${row[stat] ?? '?'})`);
  } catch {
    return undefined;
  }
}

/** The engine multiplexes a non-TTY container's stdout and stderr into 8-byte-framed chunks. */
function demux(buf: Buffer): string {
  let out = '';
  let i = 0;
  while (i + 8 <= buf.length) {
    const size = buf.readUInt32BE(i + 4);
    out += buf.subarray(i + 8, i + 8 + size).toString('utf8');
    i += 8 + size;
  }
  return out;
}
