import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { freePortRange, waitFor } from '@vigil/testkit';

/** The built `vigil` command (pnpm build makes it). */
export const cliPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'cli/dist/main.js');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `vigil ARGS…` to its end with `env`, `input` on its stdin. */
export function runCli(env: NodeJS.ProcessEnv, args: readonly string[], input?: string): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(input ?? '');
    // 'close', not 'exit': output still in the pipes when the process ends belongs to the run.
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A `vigil up` started by a test, with its output. */
export interface UpProcess {
  readonly child: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  readonly exited: Promise<number | null>;
  /** Waits for its ready summary; returns the NATS and PostgreSQL URLs it printed. */
  ready(timeoutMs?: number): Promise<{ natsUrl: string; databaseUrl: string }>;
  /** SIGTERM, then waits for the exit (nothing when it has ended). */
  stop(): Promise<void>;
}

/**
 * Starts `vigil up ARGS…` with `env` minus the server variables a test never shares
 * (NATS_URL, DATABASE_URL, VIGIL_NAMESPACE): each test's stack is its own.
 */
export function startUp(env: NodeJS.ProcessEnv, args: readonly string[] = ['--own-servers']): UpProcess {
  const own = { ...env };
  for (const v of ['NATS_URL', 'DATABASE_URL', 'VIGIL_NAMESPACE']) delete own[v];
  const child = spawn(process.execPath, [cliPath, 'up', ...args], { env: own, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  return {
    child,
    output: () => out,
    exited,
    async ready(timeoutMs = 90_000) {
      await waitFor(() => out.includes('Ctrl-C stops') || child.exitCode !== null, {
        timeoutMs,
        message: 'vigil up to be ready',
      });
      if (!out.includes('vigil: ready')) throw new Error(`vigil up did not come up:\n${out}`);
      return {
        natsUrl: /NATS\s+(nats:\/\/\S+)/.exec(out)![1]!,
        databaseUrl: /PostgreSQL\s+(postgres:\/\/\S+)/.exec(out)![1]!,
      };
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * The suite the e2e tests publish: a database component that passes and a bus component with one
 * check that cannot (8.75 of 10, PASS).
 */
export const smokeSuite = `name: smoke
components:
  - name: database
    weight: 3
    checks: [{ name: postgres answers, kind: postgres, params: { query: "select 1", expect: 1 } }]
  - name: bus
    weight: 1
    checks:
      - { name: round trip, kind: nats, params: { roundTrip: true } }
      - { name: nowhere, kind: tcp, timeout: 500ms, params: { host: 127.0.0.1, port: 1 } }
`;

export interface TestStackOptions {
  /** Suite files (file name → YAML) in a folder of the stack's own, as VALIDATOR_SUITES_DIR. @default the shipped suites */
  readonly suites?: Readonly<Record<string, string>>;
  /** More environment for `vigil up` (OTEL_EXPORTER_OTLP_ENDPOINT, CHAOS_SCHEDULE…); it wins over the defaults. */
  readonly env?: NodeJS.ProcessEnv;
  /** @default 90 s */
  readonly readyTimeoutMs?: number;
}

/**
 * A whole stack for one test: `vigil up` on a data folder and six HTTP ports of its own (never
 * the default 9470-9475, which a stack of `npm run up` may hold), the validator's schedule off,
 * ready. Its stop and the folders' removal go on `cleanup`. `env` is the stack's environment,
 * to run `vigil` commands against it.
 */
export async function startTestStack(
  cleanup: (() => Promise<unknown>)[],
  label: string,
  o: TestStackOptions = {},
): Promise<{ up: UpProcess; portBase: number; natsUrl: string; databaseUrl: string; env: NodeJS.ProcessEnv }> {
  const dataDir = await mkdtemp(join(tmpdir(), `vigil-${label}-`));
  cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
  let suitesDir: string | undefined;
  if (o.suites !== undefined) {
    const dir = await mkdtemp(join(tmpdir(), `vigil-${label}-suites-`));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    for (const [file, text] of Object.entries(o.suites)) await writeFile(join(dir, file), text);
    suitesDir = dir;
  }
  const portBase = await freePortRange(6);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    VIGIL_DATA_DIR: dataDir,
    VIGIL_PORT_BASE: String(portBase),
    VALIDATOR_SCHEDULE: 'false',
    LOG_LEVEL: 'warn',
    ...(suitesDir === undefined ? {} : { VALIDATOR_SUITES_DIR: suitesDir }),
    ...o.env,
  };
  const up = startUp(env);
  cleanup.push(() => up.stop());
  return { up, portBase, env, ...(await up.ready(o.readyTimeoutMs)) };
}
