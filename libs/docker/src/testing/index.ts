import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { ContainerCreateOptions } from 'dockerode';
import {
  connectDocker,
  defaultDockerHost,
  engineCall,
  statusOf,
  type ContainerInspectInfo,
  type DockerClient,
} from '../index.js';

/** The label every container made by a testbed carries, with the testbed's run id as its value. */
export const testRunLabel = 'vigil.test.run';

export interface TestContainerSpec {
  /** Suffix of the container's name; the testbed prefixes its run id so names never collide. */
  readonly name: string;
  /** @default ['sleep', '3600'] */
  readonly cmd?: readonly string[];
  readonly labels?: Readonly<Record<string, string>>;
  /** @default the image's (root) */
  readonly user?: string;
  /** @default false */
  readonly readOnlyRootfs?: boolean;
  /** Bytes; @default no limit */
  readonly memory?: number;
  /** @default false */
  readonly privileged?: boolean;
  /** A shell command the engine runs as the container's healthcheck every `intervalMs`. */
  readonly healthcheck?: { readonly shell: string; readonly intervalMs?: number };
  /** @default 'no' */
  readonly restart?: 'no' | 'always' | 'on-failure' | 'unless-stopped';
  /** @default true */
  readonly start?: boolean;
  /** Legacy links, `other:alias` with `other` a spec name of this testbed. @default none */
  readonly links?: readonly string[];
}

/** A Docker engine for one test file, with a local image and the containers it made removed on dispose. */
export interface DockerTestbed extends AsyncDisposable {
  readonly docker: DockerClient;
  /** A busybox image imported from the host's static busybox (no registry needed). */
  readonly image: string;
  /** Unique per testbed; prefixes container names and labels them under `vigil.test.run`. */
  readonly runId: string;
  /** Creates (and by default starts) a container from `image`; returns its inspection. */
  run(spec: TestContainerSpec): Promise<ContainerInspectInfo>;
  /** The full name a spec's `name` gets. */
  nameOf(name: string): string;
}

/**
 * Connects to the engine at DOCKER_HOST (or the default socket), checks it answers, and makes sure
 * the busybox test image exists. Fails with what to install when there is no engine. Long because
 * the testbed's methods are closures over its connection and the containers it made.
 */
export async function dockerTestbed(label: string): Promise<DockerTestbed> {
  const host = process.env['DOCKER_HOST'] ?? defaultDockerHost;
  const docker = connectDocker(host);
  try {
    await engineCall(docker, () => docker.ping());
  } catch (e) {
    throw new Error(
      `these tests need a Docker engine and none answers at ${host}: install docker.io and start dockerd ` +
        `(bash scripts/bootstrap.sh --docker does both), or set DOCKER_HOST`,
      { cause: e },
    );
  }
  const image = await ensureBusyboxImage(docker);
  const runId = `vt-${label.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}-${randomBytes(3).toString('hex')}`;
  const nameOf = (name: string) => `${runId}-${name}`;
  return {
    docker,
    image,
    runId,
    nameOf,
    async run(spec) {
      const options: ContainerCreateOptions = {
        name: nameOf(spec.name),
        Image: image,
        Cmd: [...(spec.cmd ?? ['sleep', '3600'])],
        Labels: { ...spec.labels, [testRunLabel]: runId },
        ...(spec.user === undefined ? {} : { User: spec.user }),
        ...(spec.healthcheck === undefined
          ? {}
          : {
              Healthcheck: {
                Test: ['CMD-SHELL', spec.healthcheck.shell],
                Interval: (spec.healthcheck.intervalMs ?? 200) * 1e6,
                Timeout: 2e9,
                Retries: 1,
              },
            }),
        HostConfig: {
          ReadonlyRootfs: spec.readOnlyRootfs ?? false,
          Memory: spec.memory ?? 0,
          Privileged: spec.privileged ?? false,
          RestartPolicy: { Name: spec.restart ?? 'no' },
          ...(spec.links === undefined ? {} : { Links: spec.links.map((l) => nameOf(l)) }),
          // Busybox's sleep ignores SIGTERM as PID 1; an init makes stops quick.
          Init: true,
        },
      };
      const container = await docker.createContainer(options);
      if (spec.start ?? true) await container.start();
      return container.inspect();
    },
    async [Symbol.asyncDispose]() {
      const mine = await docker.listContainers({ all: true, filters: { label: [`${testRunLabel}=${runId}`] } });
      await Promise.all(
        mine.map((c) =>
          docker
            .getContainer(c.Id)
            .remove({ force: true, v: true })
            .catch((e: unknown) => {
              if (statusOf(e) !== 404 && statusOf(e) !== 409) throw e;
            }),
        ),
      );
    },
  };
}

const busyboxCandidates = ['/bin/busybox', '/usr/bin/busybox'];

/** Imports `vigil-test/busybox:<hash of the binary>` from the host's static busybox unless it exists. */
export async function ensureBusyboxImage(docker: DockerClient): Promise<string> {
  const busybox = staticBusybox();
  const hash = createHash('sha256').update(readFileSync(busybox)).digest('hex').slice(0, 12);
  return importTree(docker, `vigil-test/busybox:${hash}`, busybox, []);
}

/**
 * Imports `vigil-test/chaos-helper:<hash>`: the busybox image plus the host's `tc` (iproute2) and
 * the shared libraries it loads, which is what the chaos service's helper containers run. Made
 * from the host's binaries because no registry can be reached here; production builds
 * services/chaos/helper/Dockerfile instead.
 */
export async function ensureChaosHelperImage(docker: DockerClient): Promise<string> {
  const busybox = staticBusybox();
  const tc = ['/usr/sbin/tc', '/sbin/tc'].find((p) => existsSync(p));
  if (tc === undefined) throw new Error("the chaos helper test image needs the host's tc: install iproute2");
  const ldd = spawnSync('ldd', [tc], { encoding: 'utf8' });
  if (ldd.status !== 0) throw new Error(`ldd ${tc} failed: ${ldd.stderr}`);
  // "libbpf.so.1 => /lib/x86_64-linux-gnu/libbpf.so.1 (0x…)" and "/lib64/ld-linux-x86-64.so.2 (0x…)"
  const libs = [...ldd.stdout.matchAll(/(\/\S+) \(0x[0-9a-f]+\)/g)].map((m) => m[1] as string);
  // At /sbin/tc, as in Debian: busybox's shell runs its own `tc` applet for a bare `tc`.
  const files = [tc, ...libs].map((path) => ({ path, target: tc === path ? '/sbin/tc' : path }));
  const hash = createHash('sha256');
  hash.update(readFileSync(busybox));
  for (const f of files) hash.update(f.target).update(readFileSync(f.path));
  return importTree(docker, `vigil-test/chaos-helper:${hash.digest('hex').slice(0, 12)}`, busybox, files);
}

function staticBusybox(): string {
  const env = process.env['VIGIL_TEST_BUSYBOX'];
  const candidates = env === undefined ? busyboxCandidates : [env];
  const binary = candidates.find((p) => existsSync(p) && isStaticElf(readFileSync(p)));
  if (binary === undefined) {
    throw new Error(
      `the Docker tests build their image from a statically linked busybox and none is at ${candidates.join(' or ')}: ` +
        'install busybox-static (or set VIGIL_TEST_BUSYBOX)',
    );
  }
  return binary;
}

/** Imports a busybox root filesystem plus `files` (host path → path in the image) as `tag`, unless it exists. */
async function importTree(
  docker: DockerClient,
  tag: string,
  busybox: string,
  files: readonly { path: string; target: string }[],
): Promise<string> {
  try {
    await docker.getImage(tag).inspect();
    return tag;
  } catch (e) {
    if (statusOf(e) !== 404) throw e;
  }
  const root = await mkdtemp(join(tmpdir(), 'vigil-image-'));
  try {
    await mkdir(join(root, 'bin'));
    await mkdir(join(root, 'etc'));
    await mkdir(join(root, 'tmp'), { mode: 0o1777 });
    await copyFile(busybox, join(root, 'bin/busybox'));
    const applets = spawnSync(busybox, ['--list'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
    await Promise.all(
      applets
        .filter((a) => a !== 'busybox')
        .map((a) => symlink('busybox', join(root, 'bin', a)).catch(() => undefined)),
    );
    for (const f of files) {
      await mkdir(join(root, dirname(f.target)), { recursive: true });
      await rm(join(root, f.target), { force: true });
      await copyFile(f.path, join(root, f.target));
    }
    await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
    await writeFile(join(root, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
    const [repo, version] = tag.split(':') as [string, string];
    const tar = spawn('tar', ['-C', root, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const progress = await docker.importImage(tar.stdout, { repo, tag: version, changes: ['ENV PATH=/bin'] } as object);
    await new Promise<void>((resolve, reject) => {
      docker.modem.followProgress(progress, (err: Error | null) => (err ? reject(err) : resolve()));
    });
    await docker.getImage(tag).inspect();
    return tag;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** An ELF executable without a PT_INTERP program header needs no dynamic loader. */
function isStaticElf(b: Buffer): boolean {
  if (b.length < 64 || b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2) return false;
  const phoff = Number(b.readBigUInt64LE(32));
  const phentsize = b.readUInt16LE(54);
  const phnum = b.readUInt16LE(56);
  for (let i = 0; i < phnum; i++) {
    if (b.readUInt32LE(phoff + i * phentsize) === 3) return false;
  }
  return true;
}
