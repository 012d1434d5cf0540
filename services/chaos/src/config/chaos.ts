import { z } from 'zod';
import { duration, parseYamlFile } from '@vigil/service-kit';
import { defaultPolicy, type Policy } from '../core/gate.js';

const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a time HH:MM (UTC)');
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
    })
    .prefault({}),
});

export type ChaosConfig = z.output<typeof chaosSchema>;

/** Parses config/chaos.yaml; errors name the file and the field path. */
export function parseChaosConfig(text: string, file: string): { policy: Policy } {
  const c = parseYamlFile(chaosSchema, text, file);
  const { maxScoreAge, ...rest } = c.policy;
  return { policy: { ...rest, maxScoreAgeMs: maxScoreAge } };
}
