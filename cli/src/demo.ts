import { connectDocker, engineCall, statusOf, type DockerClient } from '@vigil/docker';
import { DEFAULT_PORT_BASE } from './services.js';

/**
 * The container `vigil up --demo` starts for chaos experiments to act on: `vigil-demo-target`, or
 * with a port base of its own `vigil-demo-target-<base>`, so that two stacks on one engine (a
 * test beside `npm run up`) never replace each other's.
 */
export function demoTargetName(portBase: number): string {
  return portBase === DEFAULT_PORT_BASE ? 'vigil-demo-target' : `vigil-demo-target-${portBase}`;
}

export interface DemoTarget {
  readonly name: string;
  readonly image: string;
  /** Removes the container. */
  stop(): Promise<void>;
}

async function ensureImage(docker: DockerClient, image: string, print: (line: string) => void): Promise<void> {
  try {
    await engineCall(docker, () => docker.getImage(image).inspect());
    return;
  } catch (e) {
    if (statusOf(e) !== 404) throw e;
  }
  print(`vigil: pulling ${image} for the demo target…`);
  try {
    const stream = await engineCall(docker, () => docker.pull(image));
    await new Promise<void>((resolve, reject) =>
      docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())),
    );
  } catch (e) {
    throw new Error(
      `the demo target's image ${image} is not here and cannot be pulled (${(e as Error).message}); set VIGIL_DEMO_IMAGE to an image the engine has`,
      { cause: e },
    );
  }
}

/**
 * Starts (or replaces) the demo target: a small container that opted in to chaos experiments
 * (`vigil.chaos/enabled=true`), with a healthcheck, so a scheduled or requested experiment has
 * something to pause, kill or restart, then roll back and verify.
 */
export async function startDemoTarget(o: {
  readonly name: string;
  readonly dockerHost: string | undefined;
  readonly image: string;
  readonly print: (line: string) => void;
}): Promise<DemoTarget> {
  const docker = connectDocker(o.dockerHost);
  await engineCall(docker, () => docker.ping());
  await ensureImage(docker, o.image, o.print);
  await removeContainer(docker, o.name);
  const container = await engineCall(docker, () =>
    docker.createContainer({
      name: o.name,
      Image: o.image,
      // A shell loop: busybox's sleep as PID 1 would ignore SIGTERM.
      Cmd: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'],
      Labels: { 'vigil.chaos/enabled': 'true', 'vigil.demo': 'true' },
      Healthcheck: { Test: ['CMD-SHELL', 'true'], Interval: 2e9, Timeout: 2e9, Retries: 1 },
      HostConfig: { RestartPolicy: { Name: 'no' }, Memory: 64 * 1024 * 1024, ReadonlyRootfs: true },
    }),
  );
  await engineCall(docker, () => container.start());
  return { name: o.name, image: o.image, stop: () => removeContainer(docker, o.name) };
}

async function removeContainer(docker: DockerClient, name: string): Promise<void> {
  try {
    await engineCall(docker, () => docker.getContainer(name).remove({ force: true }));
  } catch (e) {
    if (statusOf(e) !== 404) throw e;
  }
}
