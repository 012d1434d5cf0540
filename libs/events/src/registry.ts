import { z } from 'zod';

/**
 * The registry: every event vigil knows, declared once. The subject of an event is
 * `<subjectPrefix>.<type>` (`events.validation.completed` with the default namespace); the data
 * schema version travels as the CloudEvents `dataschema` attribute (`urn:vigil:schema:<type>:<version>`).
 * Data objects are strict: an unknown field is an error that names it, so a typo never passes silently.
 */
export interface EventDefinition<T extends string = string, S extends z.ZodType = z.ZodType> {
  readonly type: T;
  /** Schema version of `data`; a breaking change gets a new version. */
  readonly version: number;
  readonly schema: S;
  /** What the event means, for the catalog. */
  readonly description: string;
}

function defineEvent<T extends string, S extends z.ZodType>(def: EventDefinition<T, S>): EventDefinition<T, S> {
  return def;
}

const nonEmpty = z.string().min(1, 'must not be empty');
/**
 * A name consumers key on (suite, component, SLO, service, experiment...) is at most this long,
 * since it ends up in database indexes and metric labels; free text (reasons, messages) is bounded
 * only by the event's size. Config files that name what events carry bound their names with
 * {@link boundedName}.
 */
export const MAX_NAME_LENGTH = 200;

/** `s` limited to {@link MAX_NAME_LENGTH} characters, with the message every such limit gives. */
export function boundedName(s: z.ZodString): z.ZodString {
  return s.max(MAX_NAME_LENGTH, `must be at most ${MAX_NAME_LENGTH} characters`);
}

const name = boundedName(nonEmpty);
const isoTime = z.iso.datetime({ offset: true });
const eventId = nonEmpty.max(256);
const score = z.number().min(0).max(10);
const labels = z.record(nonEmpty, z.string());

const checkResult = z.strictObject({
  name,
  kind: name,
  /** SKIPPED: the check does not apply where the suite ran (`message` says why); it is not scored. */
  status: z.enum(['PASS', 'WARN', 'FAIL', 'ERROR', 'SKIPPED']),
  durationMs: z.number().min(0),
  weight: z.number().positive().optional(),
  message: z.string().optional(),
  /** Measured values, e.g. `{ latencyMs: 12 }`. */
  observed: z.record(nonEmpty, z.union([z.number(), z.string(), z.boolean()])).optional(),
});

const componentResult = z
  .strictObject({
    name,
    /** Share of the overall score; 0 for a skipped component. */
    weight: z.number().min(0),
    /** Absent when the component is SKIPPED (every check of it skipped). */
    score: score.optional(),
    status: z.enum(['PASS', 'WARN', 'FAIL', 'SKIPPED']),
    checks: z.array(checkResult),
  })
  .refine((c) => (c.status === 'SKIPPED') === (c.score === undefined), {
    message: 'a score is required unless the component is SKIPPED, and absent when it is',
    path: ['score'],
  });

const burnWindow = z.strictObject({
  long: nonEmpty,
  short: nonEmpty,
  burnRateLong: z.number().min(0),
  burnRateShort: z.number().min(0),
  threshold: z.number().positive(),
});

const chaosKind = z.enum([
  'container-kill',
  'container-stop',
  'container-restart',
  'container-pause',
  'network-disconnect',
  'network-latency',
  'network-loss',
  'cpu-stress',
  'memory-stress',
]);

const target = z.strictObject({ id: name, name });

const recovery = z.strictObject({
  recovered: z.boolean(),
  durationMs: z.number().min(0),
  details: z.array(z.string()),
});

const gateCheck = z.strictObject({
  check: name,
  passed: z.boolean(),
  value: z.union([z.number(), z.string(), z.boolean(), z.null()]).optional(),
  message: z.string(),
});

export const registry = {
  'validation.requested': defineEvent({
    type: 'validation.requested',
    version: 1,
    description: 'Ask the validator to run a suite. Published by users and tools (the CLI, chaos).',
    schema: z.strictObject({
      suite: name,
      /** Only these components of the suite; all when absent. */
      components: z.array(name).min(1).optional(),
      requestedBy: name.optional(),
      reason: z.string().optional(),
    }),
  }),
  'validation.completed': defineEvent({
    type: 'validation.completed',
    version: 1,
    description:
      'A validation run finished: weighted 0-10 score and PASS/WARN/FAIL overall and per component, with every check; ERROR with the reason when the run could not happen.',
    schema: z.strictObject({
      /** CloudEvent id of the `validation.requested` this answers. */
      requestId: eventId,
      runId: name,
      suite: name,
      startedAt: isoTime,
      completedAt: isoTime,
      durationMs: z.number().min(0),
      score,
      /** ERROR: the run could not happen (nothing in the suite applied here); `error` says why. */
      status: z.enum(['PASS', 'WARN', 'FAIL', 'ERROR']),
      error: z.string().optional(),
      /** True when the request named only some components: the score stands for those alone, not the suite. */
      partial: z.boolean().optional(),
      components: z.array(componentResult),
    }),
  }),
  'slo.burn': defineEvent({
    type: 'slo.burn',
    version: 1,
    description: 'An SLO burn-rate alert started (state firing) or ended (state resolved), with the numbers behind it.',
    schema: z.strictObject({
      slo: name,
      service: name,
      state: z.enum(['firing', 'resolved']),
      severity: z.enum(['page', 'ticket']),
      objective: z.number().gt(0).lt(100),
      windows: z.array(burnWindow).min(1),
      budgetRemaining: z.number().max(1),
      explanation: nonEmpty,
      since: isoTime,
      resolvedAt: isoTime.optional(),
    }),
  }),
  'chaos.requested': defineEvent({
    type: 'chaos.requested',
    version: 1,
    description: 'Ask the chaos service to run one experiment against selected containers.',
    schema: z.strictObject({
      kind: chaosKind,
      target: z
        .strictObject({
          names: z.array(name).min(1).optional(),
          labels: labels.optional(),
          /** Act on at most this many of the matching running containers, picked at random. */
          count: z.int().min(1).optional(),
        })
        .refine((t) => t.names !== undefined || t.labels !== undefined, 'needs names or labels'),
      durationSeconds: z.number().positive().max(3600),
      parameters: z.record(nonEmpty, z.union([z.number(), z.string(), z.boolean()])).default({}),
      dryRun: z.boolean().default(false),
      requestedBy: name,
      reason: nonEmpty,
    }),
  }),
  'chaos.started': defineEvent({
    type: 'chaos.started',
    version: 1,
    description: 'The safety gate passed and an experiment began; carries the plan and the gate results.',
    schema: z.strictObject({
      requestId: eventId,
      experimentId: name,
      kind: chaosKind,
      targets: z.array(target).min(1),
      plan: z.strictObject({ actions: z.array(nonEmpty), rollback: z.array(nonEmpty) }),
      gate: z.array(gateCheck),
      dryRun: z.boolean(),
    }),
  }),
  'chaos.completed': defineEvent({
    type: 'chaos.completed',
    version: 1,
    description: 'An experiment ended and was rolled back; timings, recovery and validation score before/after.',
    schema: z.strictObject({
      requestId: eventId,
      experimentId: name,
      kind: chaosKind,
      targets: z.array(target),
      dryRun: z.boolean(),
      startedAt: isoTime,
      injectedAt: isoTime.optional(),
      rolledBackAt: isoTime.optional(),
      completedAt: isoTime,
      recovery,
      scoreBefore: score.optional(),
      scoreAfter: score.optional(),
    }),
  }),
  'chaos.abort.requested': defineEvent({
    type: 'chaos.abort.requested',
    version: 1,
    description:
      'Stop a running experiment (by experiment id or by the id of its chaos.requested) and roll it back now.',
    schema: z
      .strictObject({
        experimentId: name.optional(),
        requestId: eventId.optional(),
        requestedBy: name,
        reason: nonEmpty,
      })
      .refine((a) => a.experimentId !== undefined || a.requestId !== undefined, 'needs experimentId or requestId'),
  }),
  'chaos.aborted': defineEvent({
    type: 'chaos.aborted',
    version: 1,
    description:
      'An experiment was refused by the safety gate, or stopped (abort, failed injection, chaos service restart) and rolled back; every reason is listed.',
    schema: z.strictObject({
      requestId: eventId,
      experimentId: name.optional(),
      reasons: z.array(nonEmpty).min(1),
      gate: z.array(gateCheck),
      /** Present when the experiment had started: what it acted on and how the targets recovered. */
      targets: z.array(target).optional(),
      rolledBackAt: isoTime.optional(),
      recovery: recovery.optional(),
    }),
  }),
  'anomaly.detected': defineEvent({
    type: 'anomaly.detected',
    version: 1,
    description:
      "A metric series point that is rare for its series: its likelihood (the Isolation Forest score calibrated against the series' own recent scores) reached the threshold.",
    schema: z.strictObject({
      /** Names joined by '/', hence longer than one name. */
      series: nonEmpty.max(1000, 'must be at most 1000 characters'),
      timestamp: isoTime,
      value: z.number(),
      /** The detector's score (Isolation Forest), 0-1. */
      score: z.number().min(0).max(1),
      /**
       * The score against the series' own recent scores, 0-1 (0.5: a tail probability of 10⁻⁵).
       * Optional for events of earlier versions of the service, whose threshold applied to `score`.
       */
      likelihood: z.number().min(0).max(1).optional(),
      /** What the alert crossed: `likelihood` when present, else `score`. */
      threshold: z.number().min(0).max(1),
      features: z.array(z.strictObject({ name, contribution: z.number() })),
      modelVersion: nonEmpty.max(1200, 'must be at most 1200 characters'),
    }),
  }),
  'sli.observed': defineEvent({
    type: 'sli.observed',
    version: 1,
    description:
      'A generic SLI input any tool can publish: good/total counts, or one latency-like value against a threshold.',
    schema: z.union([
      z.strictObject({
        sli: name,
        service: name,
        observedAt: isoTime.optional(),
        good: z.int().min(0),
        total: z.int().min(0),
      }),
      z.strictObject({
        sli: name,
        service: name,
        observedAt: isoTime.optional(),
        value: z.number(),
        threshold: z.number(),
        unit: nonEmpty.optional(),
      }),
    ]),
  }),
} as const;

export type Registry = typeof registry;
export type EventType = keyof Registry;
/** The validated `data` of an event type (output of its schema, defaults applied). */
export type EventData<T extends EventType> = z.output<Registry[T]['schema']>;
/** What a producer may pass as `data` (fields with defaults may be omitted). */
export type EventDataInput<T extends EventType> = z.input<Registry[T]['schema']>;

export const eventTypes = Object.keys(registry) as EventType[];

export function isEventType(type: string): type is EventType {
  return Object.hasOwn(registry, type);
}

export function dataschemaOf(type: EventType): string {
  return `urn:vigil:schema:${type}:${registry[type].version}`;
}

/**
 * Where events live. Production uses {@link defaultNamespace}; tests create unique ones so that they
 * never see each other's messages.
 */
export interface Namespace {
  /** @default 'EVENTS' */
  readonly stream: string;
  /** @default 'events' */
  readonly subjectPrefix: string;
  /** @default 'DEADLETTER' */
  readonly deadLetterStream: string;
  /** @default 'deadletter' */
  readonly deadLetterPrefix: string;
}

export const defaultNamespace: Namespace = {
  stream: 'EVENTS',
  subjectPrefix: 'events',
  deadLetterStream: 'DEADLETTER',
  deadLetterPrefix: 'deadletter',
};

/** What a namespace id may be: it becomes part of stream names and subjects. */
export const namespaceIdPattern = /^[A-Za-z0-9_-]{1,32}$/;

/**
 * The namespace named by an id: `EVENTS_<id>`, `<id>.events.>`, `DEADLETTER_<id>`, `<id>.deadletter.>`;
 * the default namespace when the id is empty. Tests and side-by-side stacks use ids.
 */
export function namespaceFor(id: string | undefined): Namespace {
  if (id === undefined || id === '') return defaultNamespace;
  if (!namespaceIdPattern.test(id)) {
    throw new Error(`namespace id '${id}' must be 1-32 letters, digits, '_' or '-'`);
  }
  return {
    stream: `EVENTS_${id}`,
    subjectPrefix: `${id}.events`,
    deadLetterStream: `DEADLETTER_${id}`,
    deadLetterPrefix: `${id}.deadletter`,
  };
}

/** The subject an event type is published on. */
export function subjectOf(ns: Namespace, type: EventType): string {
  return `${ns.subjectPrefix}.${type}`;
}

/**
 * Whether `subject` is the subject of an event of `type`: `<prefix>.<type>`, or that with one more
 * token (a routing key). Consumers refuse events whose type is not their subject's.
 */
export function isSubjectOf(ns: Namespace, type: string, subject: string): boolean {
  const own = `${ns.subjectPrefix}.${type}`;
  if (subject === own) return true;
  return subject.startsWith(`${own}.`) && !subject.slice(own.length + 1).includes('.');
}

/** The subject filter that matches every event of the namespace. */
export function allEventsSubject(ns: Namespace): string {
  return `${ns.subjectPrefix}.>`;
}

/** The subject a consumer's dead letters go to. */
export function deadLetterSubjectOf(ns: Namespace, consumer: string): string {
  return `${ns.deadLetterPrefix}.${consumer}`;
}
