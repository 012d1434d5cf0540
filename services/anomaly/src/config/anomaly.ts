import { z } from 'zod';
import { unknownFieldPath } from '@vigil/events';
import { duration, parseYamlFile } from '@vigil/service-kit';
import { defaultDetectorOptions, type DetectorOptions } from '../core/detector.js';

const path = z.string().min(1);
const d = defaultDetectorOptions;

const detector = z.strictObject({
  /** Values before a point that its features look at (none before that many). @default 30 */
  window: z.number().int().min(6).max(1000).default(d.window),
  /** @default 1000 */
  trainingSize: z.number().int().min(10).max(100_000).default(d.trainingSize),
  /** @default 250 */
  retrainEvery: z.number().int().min(1).default(d.retrainEvery),
  /** Points before the first model. @default 100 */
  warmup: z.number().int().min(2).default(d.warmup),
  /** The most a series alerts: its rarest raw scores only. @default 0.001 */
  contamination: z.number().gt(0).max(0.5).default(d.contamination),
  /** The likelihood an alert needs, 0-1 (0.5: a tail probability of 10⁻⁵). @default 0.5 */
  threshold: z.number().gt(0).lt(1).default(d.threshold),
  /** Raw scores kept per series to calibrate new ones against. @default 2000 */
  calibration: z.number().int().min(30).max(100_000).default(d.calibration),
  /** Points after a high score in which lower ones count half and do not alert; 0 for none. @default 288 */
  refractory: z.number().int().min(0).max(100_000).default(d.refractory),
  /** 0 for none. @default 10m */
  minGap: z.union([z.literal(0), duration]).default(d.minGapMs),
  /** @default 100 */
  trees: z.number().int().min(1).max(1000).default(d.trees),
  /** @default 256 */
  sampleSize: z.number().int().min(2).max(100_000).default(d.sampleSize),
  /** @default 1 */
  seed: z.number().int().min(0).default(d.seed),
});

const fromEvents = z.strictObject({
  type: z.enum(['validation.completed', 'slo.burn', 'sli.observed']),
  /**
   * What one point is: the event (`event`), each component or check of a validation run, or each
   * window of an slo.burn. @default event
   */
  each: z.enum(['event', 'component', 'check', 'window']).default('event'),
  /** Dotted path of the number that is the point's value. */
  value: path,
  /** Dotted paths whose values name the series instance (`check-duration/vigil-self/db/answers`). */
  key: z.array(path).default([]),
});

export const anomalySchema = z
  .strictObject({
    detector: detector.default(detector.parse({})),
    /**
     * Instances one series may have (one per key value, e.g. per `service/sli` of sli.observed):
     * anyone who may publish an SLI could otherwise make a series, a model and a row per distinct
     * name. Points of a new instance past it are dropped, with a warning. @default 500
     */
    maxInstancesPerSeries: z.int().min(1).default(500),
    series: z
      .array(
        z.union([
          z.strictObject({
            name: z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/, 'lower-case letters, digits, ., - and _'),
            events: fromEvents,
          }),
          z.strictObject({
            name: z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/, 'lower-case letters, digits, ., - and _'),
            /** Events per minute per type, from the stream: one point per type each minute. */
            rate: z.strictObject({ per: z.literal('type') }),
          }),
        ]),
      )
      .min(1, 'needs at least one series'),
  })
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    for (const [i, s] of c.series.entries()) {
      if (seen.has(s.name))
        ctx.addIssue({ code: 'custom', path: ['series', i, 'name'], message: `'${s.name}' appears twice` });
      seen.add(s.name);
      if ('events' in s) {
        const ok = {
          event: true,
          component: s.events.type === 'validation.completed',
          check: s.events.type === 'validation.completed',
          window: s.events.type === 'slo.burn',
        }[s.events.each];
        if (!ok)
          ctx.addIssue({
            code: 'custom',
            path: ['series', i, 'events', 'each'],
            message: `${s.events.each} does not apply to ${s.events.type}`,
          });
        // A misspelt field would make a series with no points, silently: every field named must exist.
        const named: [PropertyKey[], string][] = [
          [['value'], s.events.value],
          ...s.events.key.map((k, j): [PropertyKey[], string] => [['key', j], k]),
        ];
        for (const [at, field] of ok ? named : []) {
          const why = unknownFieldPath(s.events.type, s.events.each, field);
          if (why !== undefined) ctx.addIssue({ code: 'custom', path: ['series', i, 'events', ...at], message: why });
        }
      }
    }
    if (c.detector.warmup < 2 || c.detector.trainingSize < c.detector.warmup) {
      ctx.addIssue({ code: 'custom', path: ['detector', 'trainingSize'], message: 'must be at least warmup' });
    }
    // The model trains on feature rows, and a point has none before `window` values came first.
    if (c.detector.warmup <= c.detector.window) {
      ctx.addIssue({
        code: 'custom',
        path: ['detector', 'warmup'],
        message: `must be more than window (${c.detector.window}): no point has features before that`,
      });
    }
  });

export type AnomalyConfig = z.output<typeof anomalySchema>;
export type SeriesConfig = AnomalyConfig['series'][number];
export type EventSeriesConfig = Extract<SeriesConfig, { events: unknown }>;

export function parseAnomalyConfig(text: string, file: string): AnomalyConfig {
  return parseYamlFile(anomalySchema, text, file);
}

export function detectorOptions(c: AnomalyConfig): DetectorOptions {
  const { minGap, ...rest } = c.detector;
  return { ...rest, minGapMs: minGap };
}
