import { z } from 'zod';
import { boundedName } from '@vigil/events';
import { ConfigFileError, interpolate, duration, loadConfigDir, parseYamlFile } from '@vigil/service-kit';

// Names travel in events, whose registry bounds them.
const name = boundedName(z.string().min(1, 'must not be empty'));
const labels = z.record(z.string().min(1), z.string());
const target = z
  .strictObject({ name: name.optional(), labels: labels.optional() })
  .refine((t) => t.name !== undefined || t.labels !== undefined, 'needs a container name or labels');

/** A deployment's name, as a check's `deployments` and the validator's VIGIL_DEPLOYMENT give it. */
export const deploymentName = z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'lower-case letters, digits, - and _');

/** A TCP port: a number, or digits in quotes (`'${VIGIL_NATS_PORT:-4222}'` keeps a file valid YAML). */
const port = z
  .union([z.number(), z.string().regex(/^\d+$/, 'must be a port number').transform(Number)])
  .pipe(z.number().int().min(1).max(65535));

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
  tcp: z.strictObject({ host: z.string().min(1), port }),
  postgres: z.strictObject({
    /** @default the validator's DATABASE_URL */
    url: z.string().url().optional(),
    /** Runs in a read-only transaction. @default select 1 */
    query: z.string().min(1).default('select 1'),
    expect: z.union([z.string(), z.number(), z.boolean(), z.null()]).optional(),
    /** The status when the first value is not `expect`. @default FAIL */
    otherwise: z.enum(['FAIL', 'WARN']).default('FAIL'),
    /** Said after a mismatch: what it means and what to do about it. */
    hint: z.string().min(1).optional(),
  }),
  host: z.strictObject({
    /**
     * FAIL above this share of memory in use. @default 80 (the seed's limit) when the check names
     * neither a disk nor a load limit; else memory is not checked
     */
    maxMemoryPercent: z.number().min(0).max(100).optional(),
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
    /** Globs of files not scanned (relative to the validator's workdir). @default none */
    exclude: z.array(z.string().min(1)).default([]),
    /** Scan test code and fixtures too (`*.spec.*`, `*.test.*`, `testing/`, `fixtures/`…). @default false */
    includeTests: z.boolean().default(false),
    /** Accepted findings, as gitleaks' allowlist. @default none */
    allow: z
      .strictObject({
        /** Globs of files whose findings are accepted. */
        paths: z.array(z.string().min(1)).default([]),
        /** Regular expressions: a finding whose matched text matches one is accepted (example keys). */
        patterns: z
          .array(
            z.string().refine((re) => {
              try {
                new RegExp(re);
                return true;
              } catch {
                return false;
              }
            }, 'must be a valid regular expression'),
          )
          .default([]),
        /** `file:rule:line` as the check reports it: one known finding accepted. */
        fingerprints: z.array(z.string().regex(/^.+:[a-z0-9-]+:\d+$/, 'must be file:rule:line')).default([]),
      })
      .prefault({}),
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
  /**
   * Where the check applies: deployment names as the validator's VIGIL_DEPLOYMENT gives them
   * (`local` under `vigil up`, `compose` under deploy/compose). Elsewhere it is SKIPPED with the
   * reason and left out of the score. @default every deployment
   */
  deployments: z.array(deploymentName).min(1).optional(),
};

const check = z.discriminatedUnion(
  // Stryker disable next-line StringLiteral: equivalent, zod 4 finds the discriminator from the options' literal fields; its message is the same
  'kind',
  checkKinds.map((kind) =>
    z.strictObject({ ...checkBase, kind: z.literal(kind), params: checkParams[kind] }),
  ) as unknown as [z.ZodObject, ...z.ZodObject[]],
);

export const suiteSchema = z.strictObject({
  name: boundedName(z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'lower-case letters, digits, - and _')),
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
    deployments?: string[] | undefined;
    params: z.output<(typeof checkParams)[K]>;
  };
}[CheckKind];
export type SuiteConfig = Omit<z.output<typeof suiteSchema>, 'components'> & {
  components: { name: string; weight: number; checks: CheckConfig[] }[];
};

/** Parses and validates one suite file's text; errors name the file and the field path. */
export function parseSuite(text: string, file: string): SuiteConfig {
  const suite = parseYamlFile(suiteSchema, text, file) as SuiteConfig;
  const names = new Set<string>();
  for (const [ci, c] of suite.components.entries()) {
    if (names.has(c.name)) throw new ConfigFileError(`${file}: components[${ci}].name: '${c.name}' appears twice`);
    names.add(c.name);
  }
  return suite;
}

/**
 * Every `*.yaml` / `*.yml` in `dir`, by suite name, with `${VAR:-default}` taken from `vars`; any
 * invalid file stops the start.
 */
export function loadSuites(
  dir: string,
  vars: Readonly<Record<string, string | undefined>> = {},
): Promise<Map<string, SuiteConfig>> {
  return loadConfigDir(dir, (text, file) => parseSuite(interpolate(text, vars, file), file), 'suite');
}
