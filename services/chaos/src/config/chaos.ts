import { z } from 'zod';
import { formatPath, registry, type EventData } from '@vigil/events';
import { ConfigFileError, duration, parseYamlFile } from '@vigil/service-kit';
import { CronError, firstFireInBlackout, parseCron, type Cron } from '../core/cron.js';
import { defaultPolicy, overLimits, type Policy } from '../core/gate.js';
import { planFor, PlanError } from '../core/plan.js';
import { isTimeZone } from '../core/wallclock.js';

const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a time HH:MM');
const d = defaultPolicy;

export const chaosSchema = z.strictObject({
  policy: z
    .strictObject({
      /** @default 8 */
      minScore: z.number().min(0).max(10).default(d.minScore),
      /** @default 30m */
      maxScoreAge: duration.default(d.maxScoreAgeMs),
      /** @default 20 */
      minBudgetPercent: z.number().min(0).max(100).default(d.minBudgetPercent),
      /** @default true */
      requireOptIn: z.boolean().default(d.requireOptIn),
      /** @default vigil.chaos/enabled */
      optInLabel: z.string().min(1).default(d.optInLabel),
      /** @default vigil.chaos/protected */
      protectedLabel: z.string().min(1).default(d.protectedLabel),
      /** @default database, postgres, nats, registry, redis, jaeger */
      protectedNames: z.array(z.string().min(1)).default([...d.protectedNames]),
      /** @default 30 */
      maxBlastRadiusPercent: z.number().gt(0).max(100).default(d.maxBlastRadiusPercent),
      /** The IANA time zone of blackouts and schedules. @default UTC */
      timeZone: z
        .string()
        .refine(isTimeZone, 'must be an IANA time zone such as UTC or Europe/Berlin')
        .default(d.timeZone),
      /** @default none */
      blackouts: z
        .array(
          z
            .strictObject({
              days: z.array(z.enum(['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'])).min(1),
              from: hhmm,
              to: hhmm,
            })
            .refine((b) => b.from !== b.to, { message: 'from and to must differ', path: ['to'] }),
        )
        .default([]),
      /** Caps on one experiment; the design's latency 100-500 ms and stress 2 CPUs / 256 MB. */
      limits: z
        .strictObject({
          /** @default 300 */
          maxDurationSeconds: z.number().positive().max(3600).default(d.limits.maxDurationSeconds),
          /** @default 500 */
          maxDelayMs: z.number().positive().max(60_000).default(d.limits.maxDelayMs),
          /** @default 500 */
          maxJitterMs: z.number().min(0).max(60_000).default(d.limits.maxJitterMs),
          /** @default 50 */
          maxLossPercent: z.number().positive().max(100).default(d.limits.maxLossPercent),
          /** @default 2 */
          maxCpuWorkers: z.int().positive().max(64).default(d.limits.maxCpuWorkers),
          /** @default 256 */
          maxMemoryMb: z.int().positive().max(65_536).default(d.limits.maxMemoryMb),
        })
        .prefault({}),
    })
    .prefault({}),
  verification: z
    .strictObject({
      /** Targets must be running (and healthy, when they have a healthcheck) within this. @default 60s */
      timeout: duration.default(60_000),
      /**
       * The suite whose latest score the gate reads, and which is requested and awaited after each
       * experiment; `null` skips that validation run. @default vigil-self
       */
      suite: z.string().min(1).nullable().default('vigil-self'),
      /** How long to wait for that validation run. @default 2m */
      validationTimeout: duration.default(120_000),
    })
    .prefault({}),
  /** Experiments requested on a cron schedule (on the policy's time zone). @default none */
  schedules: z
    .array(
      z.strictObject({
        name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'must be lower-case letters, digits and dashes'),
        /** Five fields (minute hour day-of-month month day-of-week) or @weekly and friends, on the policy's time zone. */
        cron: z.string().transform((v, ctx) => {
          try {
            return parseCron(v);
          } catch (e) {
            ctx.addIssue({ code: 'custom', message: e instanceof CronError ? e.message : String(e) });
            return z.NEVER;
          }
        }),
        /** @default true */
        enabled: z.boolean().default(true),
        request: registry['chaos.requested'].schema
          .omit({ requestedBy: true, reason: true })
          .extend({ reason: z.string().min(1).optional() }),
      }),
    )
    .default([]),
});

export interface Schedule {
  readonly name: string;
  readonly cron: Cron;
  readonly enabled: boolean;
  readonly request: EventData<'chaos.requested'>;
}

export interface ChaosConfig {
  readonly policy: Policy;
  readonly verification: z.output<typeof chaosSchema>['verification'];
  readonly schedules: readonly Schedule[];
}

/**
 * Parses config/chaos.yaml; errors name the file and the field path. A schedule that would fire
 * inside a blackout window is an error too: it could never run, which nobody would notice.
 */
export function parseChaosConfig(text: string, file: string, now: Date = new Date()): ChaosConfig {
  const c = parseYamlFile(chaosSchema, text, file);
  const { maxScoreAge, ...rest } = c.policy;
  const policy: Policy = { ...rest, maxScoreAgeMs: maxScoreAge };
  const names = new Set<string>();
  const schedules = c.schedules.map((s, i): Schedule => {
    const at = formatPath(['schedules', i]);
    if (names.has(s.name)) throw new ConfigFileError(`${file}: ${at}.name: '${s.name}' is defined twice`);
    names.add(s.name);
    const clash = s.enabled ? firstFireInBlackout(s.cron, policy.blackouts, now, policy.timeZone) : undefined;
    if (clash !== undefined) {
      const b = clash.blackout;
      throw new ConfigFileError(
        `${file}: ${at}.cron: '${s.cron.source}' fires at ${clash.at.toISOString()}, inside the blackout ${b.days.join(',')} ${b.from}-${b.to} ${policy.timeZone}`,
      );
    }
    const { reason, ...rest } = s.request;
    const request = { ...rest, requestedBy: `schedule:${s.name}`, reason: reason ?? `scheduled experiment ${s.name}` };
    // Like a schedule in a blackout: one over the limits would be refused every time it fires.
    let over: string[];
    try {
      over = overLimits(planFor(request), policy.limits);
    } catch (e) {
      if (!(e instanceof PlanError)) throw e;
      throw new ConfigFileError(`${file}: ${at}.request: ${e.message}`);
    }
    if (s.enabled && over.length > 0) throw new ConfigFileError(`${file}: ${at}.request: ${over.join('; ')}`);
    return { name: s.name, cron: s.cron, enabled: s.enabled, request };
  });
  return { policy, verification: c.verification, schedules };
}
