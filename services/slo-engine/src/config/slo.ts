import { z } from 'zod';
import { boundedName, eventTypes, unknownFieldPath, type EventType } from '@vigil/events';
import {
  byUniqueName,
  ConfigFileError,
  duration,
  formatDuration,
  parseConfigValue,
  parseYamlFile,
  readConfigDir,
} from '@vigil/service-kit';
import { fromOpenSlo, isOpenSlo, openSloDocuments, type OpenSloDocument } from './openslo.js';
import { parseSelector } from '../core/scrape.js';

const MINUTE = 60_000;
const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);

/**
 * A condition on one field: a value (equal), a list (any of), or operators. Dotted field paths
 * (`observed.latencyMs`) reach into nested objects.
 */
const match = z.union([
  scalar,
  z.array(scalar).min(1),
  z
    .strictObject({
      eq: scalar.optional(),
      ne: scalar.optional(),
      in: z.array(scalar).min(1).optional(),
      notIn: z.array(scalar).min(1).optional(),
      lt: z.number().optional(),
      lte: z.number().optional(),
      gt: z.number().optional(),
      gte: z.number().optional(),
    })
    .refine((o) => Object.keys(o).length > 0, 'needs at least one of eq, ne, in, notIn, lt, lte, gt, gte'),
]);
export type Match = z.output<typeof match>;
const conditions = z.record(z.string().min(1), match);
export type Conditions = z.output<typeof conditions>;

const minutes = duration.refine((ms) => ms % MINUTE === 0, 'must be whole minutes (counts are kept per minute)');

const severity = z.enum(['page', 'ticket']);
export type Severity = z.output<typeof severity>;

const tier = z
  .strictObject({
    severity,
    long: minutes,
    short: minutes,
    /** Fires when the burn rate over both windows is above this. */
    burnRate: z.number().positive(),
  })
  .refine((t) => t.short < t.long, { message: 'short must be shorter than long', path: ['short'] });
export type AlertTier = z.output<typeof tier>;

/** The SRE Workbook's table for a 30-day SLO, with Sloth's fourth tier (1 d / 2 h at 3×). */
export const defaultTiers: readonly AlertTier[] = [
  { severity: 'page', long: 60 * MINUTE, short: 5 * MINUTE, burnRate: 14.4 },
  { severity: 'page', long: 360 * MINUTE, short: 30 * MINUTE, burnRate: 6 },
  { severity: 'ticket', long: 1440 * MINUTE, short: 120 * MINUTE, burnRate: 3 },
  { severity: 'ticket', long: 4320 * MINUTE, short: 360 * MINUTE, burnRate: 1 },
];

const eventType = z.enum(eventTypes as [EventType, ...EventType[]]);

/** A PromQL selector, parsed (a parse error is the field's error). */
const selector = z.string().transform((text, ctx) => {
  try {
    return parseSelector(text);
  } catch (e) {
    ctx.addIssue({
      // Stryker disable next-line StringLiteral: equivalent, zod's types require a code, and vigil's errors print the path and the message, never the code
      code: 'custom',
      message: (e as Error).message,
    });
    return z.NEVER;
  }
});

const sli = z.union([
  z.strictObject({
    /** A good/total ratio over events of one type. */
    events: z.strictObject({
      type: eventType,
      /**
       * `event`: each event counts once. `check` (validation.completed only): every check of every
       * component counts once, with the fields of the check plus `component` and `suite`.
       * @default event
       */
      each: z.enum(['event', 'check']).default('event'),
      /** Only matching events (or checks) count at all. @default every one */
      where: conditions.default({}),
      /** A counted event (or check) is good when every condition holds. */
      good: conditions.refine((c) => Object.keys(c).length > 0, 'needs at least one condition'),
    }),
  }),
  z.strictObject({
    /**
     * `sli.observed` events with this `sli` name (and `service`, when given): their good/total
     * counts, or one event counting good when `value` ≤ `threshold`.
     */
    observed: z.strictObject({ sli: z.string().min(1), service: z.string().min(1).optional() }),
  }),
  z.strictObject({
    /**
     * Counters scraped from a Prometheus or OpenMetrics text endpoint (any `/metrics`): `total`
     * names every event, `errors` the bad ones or `good` the good ones (PromQL selectors such as
     * `http_requests_total{code=~"5.."}`; matching samples are summed). Each scrape adds what the
     * counters grew by since the last one, counter resets included.
     */
    prometheus: z
      .strictObject({
        url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
        total: selector,
        errors: selector.optional(),
        good: selector.optional(),
        /** @default 15s */
        interval: duration.refine((ms) => ms >= 1000 && ms <= 5 * MINUTE, 'must be from 1s to 5m').default(15_000),
        /** How long one scrape may take. @default 5s */
        timeout: duration.refine((ms) => ms >= 100 && ms <= 60_000, 'must be from 100ms to 60s').default(5000),
      })
      .refine((p) => (p.errors === undefined) !== (p.good === undefined), {
        message: 'needs exactly one of errors (the bad events) or good (the good events)',
        path: ['errors'],
      }),
  }),
]);
export type SliConfig = z.output<typeof sli>;

export const sloSchema = z
  .strictObject({
    // Both travel in slo.burn, whose registry bounds names.
    name: boundedName(z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/, 'lower-case letters, digits, ., - and _')),
    service: boundedName(z.string().min(1)),
    description: z.string().optional(),
    sli,
    /** Percent of good events, e.g. 99.9. */
    objective: z.number().gt(0).lt(100),
    /** Rolling window of the error budget. @default 30d */
    window: minutes.default(30 * 1440 * MINUTE),
    alerting: z
      .strictObject({
        /** @default the SRE Workbook's 30-day table (see README) */
        tiers: z.array(tier).min(1).optional(),
        /** Repeat a firing alert this often while it holds. @default never */
        renotify: minutes.optional(),
        /** Set to false to compute budgets without alerting. @default true */
        enabled: z.boolean().default(true),
      })
      .default({ enabled: true }),
  })
  .superRefine((s, ctx) => {
    if ('events' in s.sli && s.sli.events.each === 'check' && s.sli.events.type !== 'validation.completed') {
      ctx.addIssue({
        // Stryker disable next-line StringLiteral: equivalent, zod's types require a code, and vigil's errors print the path and the message, never the code
        code: 'custom',
        path: ['sli', 'events', 'each'],
        message: 'check applies to validation.completed only',
      });
    } else if ('events' in s.sli) {
      // A misspelt field would match nothing, silently: every field named must exist.
      const e = s.sli.events;
      for (const part of ['where', 'good'] as const) {
        for (const field of Object.keys(e[part])) {
          const why = unknownFieldPath(e.type, e.each, field);
          if (why !== undefined) {
            ctx.addIssue({
              // Stryker disable next-line StringLiteral: equivalent, zod's types require a code, and vigil's errors print the path and the message, never the code
              code: 'custom',
              path: ['sli', 'events', part, field],
              message: why,
            });
          }
        }
      }
    }
    // Without tiers of its own the SLO takes the default ones that fit its window (withTiers).
    if (s.alerting.tiers !== undefined) checkTiersFit(s.alerting.tiers, s.window, ctx);
  });

function checkTiersFit(tiers: readonly AlertTier[], window: number, ctx: z.RefinementCtx): void {
  for (const [i, t] of tiers.entries()) {
    if (t.long > window) {
      ctx.addIssue({
        // Stryker disable next-line StringLiteral: equivalent, zod's types require a code, and vigil's errors print the path and the message, never the code
        code: 'custom',
        path: ['alerting', 'tiers', i, 'long'],
        message: `${formatDuration(t.long)} is longer than the SLO window ${formatDuration(window)}`,
      });
    }
  }
}

export interface SloConfig extends Omit<z.output<typeof sloSchema>, 'alerting'> {
  readonly alerting: {
    readonly tiers: readonly AlertTier[];
    readonly renotify?: number | undefined;
    readonly enabled: boolean;
  };
}

/** Parses one SLO file; errors name the file and the field path. */
export function parseSlo(text: string, file: string): SloConfig {
  return withTiers(parseYamlFile(sloSchema, text, file));
}

/** An SLO from a value already read (an OpenSLO document mapped to vigil's shape). */
export function sloFromValue(value: unknown, label: string): SloConfig {
  return withTiers(parseConfigValue(sloSchema, value, label));
}

function withTiers(s: z.output<typeof sloSchema>): SloConfig {
  // The default table is for 30 days; tiers longer than a shorter SLO window are left out.
  const tiers = s.alerting.tiers ?? defaultTiers.filter((t) => t.long <= s.window);
  return { ...s, alerting: { ...s.alerting, tiers } };
}

/**
 * Every SLO in `dir`, by name: vigil's SLO files (one SLO each) and OpenSLO v1 files (any number
 * of SLO, SLI, AlertPolicy and AlertCondition documents, referring to each other across files).
 * One invalid file or document, or a name used twice, stops the start.
 */
export async function loadSlos(dir: string): Promise<Map<string, SloConfig>> {
  const found: { item: SloConfig; from: string }[] = [];
  const openSlo: OpenSloDocument[] = [];
  for (const { path, text } of await readConfigDir(dir, 'SLO')) {
    if (isOpenSlo(text)) openSlo.push(...openSloDocuments(text, path));
    else found.push({ item: parseSlo(text, path), from: path });
  }
  for (const m of fromOpenSlo(openSlo)) found.push({ item: sloFromValue(m.value, m.file), from: m.file });
  const slos = byUniqueName(found, 'SLO');
  if (slos.size === 0) throw new ConfigFileError(`${dir}: no SLO files (*.yaml)`);
  return slos;
}
