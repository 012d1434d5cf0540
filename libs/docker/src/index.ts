import Docker from 'dockerode';
import type { ContainerInspectInfo } from 'dockerode';
import { engineCall, setEnginePolicy, type EnginePolicyOptions } from './policy.js';

export {
  DockerUnavailableError,
  engineAddress,
  engineCall,
  setEnginePolicy,
  type EngineCallOptions,
  type EnginePolicyOptions,
} from './policy.js';

export type { ContainerCreateOptions, ContainerInspectInfo } from 'dockerode';
/** A Docker Engine API client (dockerode). */
export type DockerClient = Docker;

/** The engine's address when DOCKER_HOST is not set. */
export const defaultDockerHost = 'unix:///var/run/docker.sock';

/**
 * Connects to the Docker Engine API at `host`: `unix:///path/to/docker.sock`, a bare socket path,
 * or `tcp://host:port` / `http(s)://host:port`. Nothing is sent until the first call. Every call
 * through {@link engineCall} is bounded by `policy` (timeout, breaker, retries of reads).
 */
export function connectDocker(host: string = defaultDockerHost, policy: EnginePolicyOptions = {}): DockerClient {
  const docker = dockerAt(host);
  setEnginePolicy(docker, policy);
  return docker;
}

function dockerAt(host: string): DockerClient {
  if (host.startsWith('/')) return new Docker({ socketPath: host });
  const url = parseHost(host);
  if (url.protocol === 'unix:') return new Docker({ socketPath: url.pathname });
  const protocol = url.protocol === 'https:' ? 'https' : 'http';
  return new Docker({
    protocol,
    host: url.hostname,
    port: url.port === '' ? (protocol === 'https' ? 2376 : 2375) : Number(url.port),
  });
}

function parseHost(host: string): URL {
  let url: URL;
  try {
    url = new URL(host);
  } catch {
    throw new Error(`DOCKER_HOST ${JSON.stringify(host)} is not unix:///path, tcp://host:port or a socket path`);
  }
  if (!['unix:', 'tcp:', 'http:', 'https:'].includes(url.protocol)) {
    throw new Error(`DOCKER_HOST ${JSON.stringify(host)}: scheme ${url.protocol} is not unix, tcp, http or https`);
  }
  return url;
}

/** Which containers a check or an experiment means: an exact name, labels (all must match), or both. */
export interface ContainerSelector {
  readonly name?: string | undefined;
  readonly labels?: Readonly<Record<string, string>> | undefined;
}

/** `name=nats, labels vigil.service=true` — for messages. */
export function describeSelector(selector: ContainerSelector): string {
  const parts: string[] = [];
  if (selector.name !== undefined) parts.push(`name=${selector.name}`);
  const labels = Object.entries(selector.labels ?? {});
  if (labels.length > 0) parts.push(`labels ${labels.map(([k, v]) => `${k}=${v}`).join(',')}`);
  return parts.join(', ');
}

/**
 * Every container (running or not) that `selector` matches, inspected. The engine's own name
 * filter matches substrings, so names are compared exactly here.
 */
export async function findContainers(
  docker: DockerClient,
  selector: ContainerSelector,
  options: { signal?: AbortSignal } = {},
): Promise<ContainerInspectInfo[]> {
  const filters: Record<string, string[]> = {};
  if (selector.name !== undefined) filters['name'] = [selector.name];
  const labels = Object.entries(selector.labels ?? {});
  if (labels.length > 0) filters['label'] = labels.map(([k, v]) => `${k}=${v}`);
  const listed = await engineCall(docker, (abortSignal) => docker.listContainers({ all: true, filters, abortSignal }), {
    idempotent: true,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const wanted = selector.name === undefined ? listed : listed.filter((c) => c.Names.includes(`/${selector.name}`));
  const inspected = await Promise.all(
    wanted.map((c) =>
      engineCall(docker, (abortSignal) => docker.getContainer(c.Id).inspect({ abortSignal }), {
        idempotent: true,
        ...(options.signal ? { signal: options.signal } : {}),
      }).catch((e: unknown) => {
        // Removed between list and inspect: it no longer matches.
        if (statusOf(e) === 404) return undefined;
        throw e;
      }),
    ),
  );
  return inspected.filter((c): c is ContainerInspectInfo => c !== undefined);
}

/** The container's name without the engine's leading slash. */
export function containerName(info: Pick<ContainerInspectInfo, 'Name'>): string {
  return info.Name.replace(/^\//, '');
}

/** Whether a container's configured user runs as root (an empty user is root too). */
export function isRootUser(user: string | undefined): boolean {
  const name = (user ?? '').split(':')[0]?.trim() ?? '';
  return name === '' || name === '0' || name === 'root';
}

/** The HTTP status of an engine error, if it has one. */
export function statusOf(e: unknown): number | undefined {
  const status = (e as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

export { isAllowedDockerRead, startReadOnlyDockerProxy, type ReadOnlyProxyOptions } from './proxy.js';
