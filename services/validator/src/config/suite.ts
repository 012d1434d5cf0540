import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { formatPath } from '@vigil/events';

/** `250ms`, `2s`, `5m`, `1h` (or a number of milliseconds) → milliseconds. */
export const duration = z.union([z.number(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v;
  const m = typeof v === 'string' ? /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(v) : null;
  if (m === null) {
    ctx.addIssue({ code: 'custom', message: 'must be a duration like 250ms, 2s, 5m or 1h (or whole milliseconds)' });
    return z.NEVER;
  }
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * unit);
});

const name = z.string().min(1, 'must not be empty');
const labels = z.record(z.string().min(1), z.string());
const target = z
  .strictObject({ name: name.optional(), labels: labels.optional() })
  .refine((t) => t.name !== undefined || t.labels !== undefined, 'needs a container name or labels');

/** Parameters of each check kind; every field is documented in the validator README. */
export const checkParams = {
  'docker.container': z.strictObject({
    container: target,
    /** @default true */
    running: z.boolean().default(true),
    /** Require the container's healthcheck to report healthy. @default false */
    healthy: z.boolean().default(false),
    /** FAIL when it restarted this many times or more. */
    maxRestarts: z.number().int().min(0).optional(),
  }),
  'docker.hardening': z.strictObject({
    container: target,
    /** Each defaults to required. */
    require: z
      .strictObject({
        readOnlyRootfs: z.boolean().default(true),
        nonRoot: z.boolean().default(true),
        memoryLimit: z.boolean().default(true),
        notPrivileged: z.boolean().default(true),
      })
      .default({ readOnlyRootfs: true, nonRoot: true, memoryLimit: true, notPrivileged: true }),
  }),
  nats: z.strictObject({
    /** @default the validator's NATS_URL */
    url: z.string().url().optional(),
    jetstream: z.boolean().default(true),
    stream: z
      .strictObject({
        name,
        retention: z.enum(['limits', 'interest', 'workqueue']).optional(),
        replicas: z.number().int().min(1).max(5).optional(),
        minDuplicateWindow: duration.optional(),
      })
      .optional(),
    consumer: z.strictObject({ stream: name, name, maxPending: z.number().int().min(0) }).optional(),
    /** Publish and read back a message on a scratch subject. @default false */
    roundTrip: z.boolean().default(false),
  }),
  'jetstream.durability': z.strictObject({ url: z.string().url().optional(), stream: name }),
  http: z.strictObject({
    method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']).default('GET'),
    url: z.string().url(),
    /** Inclusive range. @default [200, 299] */
    expectStatus: z.tuple([z.number().int(), z.number().int()]).default([200, 299]),
    /** WARN when slower. */
    latencyBudget: duration.optional(),
    bodyContains: z.string().optional(),
    /** A dotted path into the JSON body (`checks.postgres`), with the value expected there. */
    json: z
      .strictObject({ path: z.string().min(1), equals: z.union([z.string(), z.number(), z.boolean(), z.null()]) })
      .optional(),
    headers: z.record(z.string(), z.string()).optional(),
    body: z.string().optional(),
  }),
  tcp: z.strictObject({ host: z.string().min(1), port: z.number().int().min(1).max(65535) }),
  postgres: z.strictObject({
    /** @default the validator's DATABASE_URL */
    url: z.string().url().optional(),
    /** Runs in a read-only transaction. @default select 1 */
    query: z.string().min(1).default('select 1'),
    expect: z.union([z.string(), z.number(), z.boolean(), z.null()]).optional(),
  }),
  host: z.strictObject({
    /** @default 80 (the seed's limit) */
    maxMemoryPercent: z.number().min(0).max(100).default(80),
    /** 1-minute load average per core above which the check WARNs. */
    maxLoadPerCpu: z.number().positive().optional(),
    disk: z.strictObject({ path: z.string().min(1), maxPercent: z.number().min(0).max(100) }).optional(),
  }),
  file: z
    .strictObject({
      path: z.string().min(1).optional(),
      glob: z.string().min(1).optional(),
      minMatches: z.number().int().min(1).default(1),
    })
    .refine((f) => f.path !== undefined || f.glob !== undefined, 'needs a path or a glob'),
  secrets: z.strictObject({
    paths: z.array(z.string().min(1)).min(1),
    exclude: z.array(z.string().min(1)).default([]),
    /** Larger files are skipped. @default 1 MiB */
    maxFileBytes: z
      .number()
      .int()
      .positive()
      .default(1024 * 1024),
  }),
  command: z.strictObject({
    /** argv; no shell. Commands come from suite files only, never from events. */
    run: z.array(z.string().min(1)).min(1),
    cwd: z.string().optional(),
    expectExit: z.number().int().default(0),
  }),
} as const;

export type CheckKind = keyof typeof checkParams;
export const checkKinds = Object.keys(checkParams) as CheckKind[];

const checkBase = {
  name,
  /** @default 5s */
  timeout: duration.default(5000),
  /** Weight within its component. @default 1 */
  weight: z.number().positive().optional(),
};

const check = z.discriminatedUnion(
  'kind',
  checkKinds.map((kind) =>
    z.strictObject({ ...checkBase, kind: z.literal(kind), params: checkParams[kind] }),
  ) as unknown as [z.ZodObject, ...z.ZodObject[]],
);

export const suiteSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'lower-case letters, digits, - and _'),
  description: z.string().optional(),
  /** The validator requests the suite itself this often. */
  interval: duration.optional(),
  /** Checks of one run at once. @default 8 */
  concurrency: z.number().int().min(1).max(64).default(8),
  components: z
    .array(
      z.strictObject({
        name,
        weight: z.number().positive(),
        checks: z.array(check).min(1, 'a component needs at least one check'),
      }),
    )
    .min(1, 'a suite needs at least one component'),
});

export type CheckConfig = {
  [K in CheckKind]: {
    name: string;
    kind: K;
    timeout: number;
    weight?: number | undefined;
    params: z.output<(typeof checkParams)[K]>;
  };
}[CheckKind];
export type SuiteConfig = Omit<z.output<typeof suiteSchema>, 'components'> & {
  components: { name: string; weight: number; checks: CheckConfig[] }[];
};

/** A suite file that cannot be used; the message names the file and the field path. */
export class SuiteConfigError extends Error {
  readonly code = 'SUITE_CONFIG_INVALID';
}

/** Parses and validates one suite file's text. */
export function parseSuite(text: string, file: string): SuiteConfig {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const at = e.linePos?.[0] ? `:${e.linePos[0].line}:${e.linePos[0].col}` : '';
    throw new SuiteConfigError(
      `${file}${at}: not valid YAML: ${(e.message.split('\n')[0] ?? e.code).replace(/ at line \d+, column \d+:?$/, '')}`,
    );
  }
  const r = suiteSchema.safeParse(doc.toJS());
  if (!r.success) {
    const lines = r.error.issues.slice(0, 5).map((i) => {
      const detail =
        i.code === 'unrecognized_keys'
          ? `unknown field${i.keys.length > 1 ? 's' : ''} ${i.keys.join(', ')}`
          : i.message;
      return `${file}: ${formatPath(i.path) || '(suite)'}: ${detail}`;
    });
    throw new SuiteConfigError(lines.join('\n'));
  }
  const names = new Set<string>();
  for (const [ci, c] of r.data.components.entries()) {
    if (names.has(c.name)) throw new SuiteConfigError(`${file}: components[${ci}].name: '${c.name}' appears twice`);
    names.add(c.name);
  }
  return r.data as SuiteConfig;
}

/** Every `*.yaml` / `*.yml` in `dir`, by suite name; any invalid file stops the start. */
export async function loadSuites(dir: string): Promise<Map<string, SuiteConfig>> {
  const files = (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort();
  const suites = new Map<string, SuiteConfig & { file: string }>();
  for (const f of files) {
    const path = join(dir, f);
    const suite = parseSuite(await readFile(path, 'utf8'), path);
    const clash = suites.get(suite.name);
    if (clash)
      throw new SuiteConfigError(`${path}: name: suite '${suite.name}' is also defined in ${basename(clash.file)}`);
    suites.set(suite.name, { ...suite, file: path });
  }
  return suites;
}
