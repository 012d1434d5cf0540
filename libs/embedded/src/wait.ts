import type { ChildProcess } from 'node:child_process';

/** Waits until `condition` returns a truthy value, checking every `intervalMs`; fails after `timeoutMs` with `message`. */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  o: { timeoutMs?: number; intervalMs?: number; message?: string } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + (o.timeoutMs ?? 10_000);
  let lastError: unknown;
  for (;;) {
    try {
      const v = await condition();
      if (v) return v;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${o.timeoutMs ?? 10_000} ms waiting for ${o.message ?? 'condition'}${why}`);
    }
    await new Promise((r) => setTimeout(r, o.intervalMs ?? 25));
  }
}

const handedOut = new Set<number>();

/** The first port the kernel hands out to outgoing connections (`ip_local_port_range`), read once. */
let ephemeralLow: Promise<number> | undefined;
function readEphemeralLow(): Promise<number> {
  ephemeralLow ??= import('node:fs/promises')
    .then(({ readFile }) => readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8'))
    .then((text) => {
      const low = Number(text.trim().split(/\s+/)[0]);
      return Number.isInteger(low) && low > 1024 ? low : 32768;
    })
    .catch(() => 32768);
  return ephemeralLow;
}

function canListen(port: number): Promise<boolean> {
  return import('node:net').then(
    ({ createServer }) =>
      new Promise<boolean>((resolve) => {
        const srv = createServer();
        srv.unref();
        srv.once('error', () => resolve(false));
        srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => resolve(true)));
      }),
  );
}

/**
 * A free TCP port on 127.0.0.1 for a server the test starts.
 *
 * Drawn at random below the kernel's ephemeral range: a port the kernel picked (port 0) is free only
 * until the next outgoing connection of any process on the machine takes it as its local port, which
 * made a test's nats-server fail to bind now and then. Never the same port twice in one process.
 */
export async function freePort(): Promise<number> {
  const high = (await readEphemeralLow()) - 1;
  const low = Math.min(15_000, high - 1000);
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (handedOut.has(port)) continue;
    if (await canListen(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free TCP port on 127.0.0.1 between ${low} and ${high} after 200 tries`);
}

/**
 * `n` consecutive free ports (the first is returned), for a stack whose services take a base port
 * and the ones after it (`vigil up` with VIGIL_PORT_BASE). Drawn as {@link freePort} draws one, so
 * never the default ports of a stack that runs on this machine (9470-9475).
 */
export async function freePortRange(n: number): Promise<number> {
  const high = (await readEphemeralLow()) - n;
  const low = Math.min(15_000, high - 1000);
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = low + Math.floor(Math.random() * (high - low + 1));
    const ports = Array.from({ length: n }, (_, i) => base + i);
    if (ports.some((p) => handedOut.has(p))) continue;
    if ((await Promise.all(ports.map(canListen))).every(Boolean)) {
      for (const p of ports) handedOut.add(p);
      return base;
    }
  }
  throw new Error(`no ${n} consecutive free TCP ports on 127.0.0.1 between ${low} and ${high} after 200 tries`);
}

/** True when `e` says a server could not bind its port because another process holds it. */
function isAddressInUse(e: unknown): boolean {
  return e instanceof Error && /address already in use|EADDRINUSE/i.test(e.message);
}

/**
 * Runs `start` (which draws its ports with {@link freePort}) again, up to 3 times in all, when it
 * fails because another process took a port between the check and the server's bind.
 * `retryable` can refuse a retry that new ports would not help.
 */
export async function onFreshPorts<T>(
  start: () => Promise<T>,
  retryable: (e: Error) => boolean = () => true,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (e) {
      if (attempt >= 3 || !isAddressInUse(e) || !retryable(e as Error)) throw e;
    }
  }
}

/** True when something accepts TCP connections on host:port within `timeoutMs`. */
export async function isReachable(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** Sends `signal` to a child that still runs and waits for it to exit. */
export async function signalAndWait(child: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill(signal);
  await gone;
}
