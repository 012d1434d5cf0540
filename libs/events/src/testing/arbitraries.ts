import fc from 'fast-check';
import { MAX_EVENT_AGE_MS } from '../binding.js';
import type { EventDataInput, EventType } from '../registry.js';

const text = fc.string({ minLength: 1, maxLength: 40, unit: 'binary' });
// Times a stream accepts: from MAX_EVENT_AGE_MS ago (with a day's margin) to now.
const time = fc
  .date({ min: new Date(Date.now() - MAX_EVENT_AGE_MS + 86_400_000), max: new Date(), noInvalidDate: true })
  .map((d) => d.toISOString());
const score = fc.double({ min: 0, max: 10, noNaN: true });
const status = fc.constantFrom('PASS' as const, 'WARN' as const, 'FAIL' as const);
const nonNeg = fc.double({ min: 0, max: 1e9, noNaN: true });
const scalar = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.string(), fc.boolean());
const dict = <T>(v: fc.Arbitrary<T>) => fc.dictionary(text, v, { maxKeys: 4 });
const kind = fc.constantFrom(
  'container-kill' as const,
  'container-stop' as const,
  'container-restart' as const,
  'container-pause' as const,
  'network-disconnect' as const,
  'network-latency' as const,
  'network-loss' as const,
  'cpu-stress' as const,
  'memory-stress' as const,
);
const target = fc.record({ id: text, name: text });
const gate = fc.record(
  {
    check: text,
    passed: fc.boolean(),
    value: fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.string(), fc.boolean(), fc.constant(null)),
    message: fc.string(),
  },
  { requiredKeys: ['check', 'passed', 'message'] },
);

/** Arbitrary valid `data` for every registry type (property-based tests of every package). */
export const dataArbitraries: { [T in EventType]: fc.Arbitrary<EventDataInput<T>> } = {
  'validation.requested': fc.record(
    { suite: text, components: fc.array(text, { minLength: 1, maxLength: 4 }), requestedBy: text, reason: fc.string() },
    { requiredKeys: ['suite'] },
  ),
  'validation.completed': fc.record({
    requestId: text,
    runId: text,
    suite: text,
    startedAt: time,
    completedAt: time,
    durationMs: nonNeg,
    score,
    status: fc.constantFrom('PASS' as const, 'WARN' as const, 'FAIL' as const, 'ERROR' as const),
    components: fc.array(
      fc.record({
        name: text,
        weight: fc.double({ min: 0, max: 1, noNaN: true }),
        score,
        status,
        checks: fc.array(
          fc.record(
            {
              name: text,
              kind: text,
              status: fc.constantFrom('PASS' as const, 'WARN' as const, 'FAIL' as const, 'ERROR' as const),
              durationMs: nonNeg,
              weight: fc.double({ min: 0.01, max: 10, noNaN: true }),
              message: fc.string(),
              observed: dict(scalar),
            },
            { requiredKeys: ['name', 'kind', 'status', 'durationMs'] },
          ),
          { maxLength: 3 },
        ),
      }),
      { maxLength: 3 },
    ),
  }),
  'slo.burn': fc.record(
    {
      slo: text,
      service: text,
      state: fc.constantFrom('firing' as const, 'resolved' as const),
      severity: fc.constantFrom('page' as const, 'ticket' as const),
      objective: fc.double({ min: 0.001, max: 99.999, noNaN: true }),
      windows: fc.array(
        fc.record({
          long: text,
          short: text,
          burnRateLong: nonNeg,
          burnRateShort: nonNeg,
          threshold: fc.double({ min: 0.01, max: 100, noNaN: true }),
        }),
        { minLength: 1, maxLength: 4 },
      ),
      budgetRemaining: fc.double({ min: -10, max: 1, noNaN: true }),
      explanation: text,
      since: time,
      resolvedAt: time,
    },
    {
      requiredKeys: [
        'slo',
        'service',
        'state',
        'severity',
        'objective',
        'windows',
        'budgetRemaining',
        'explanation',
        'since',
      ],
    },
  ),
  'chaos.requested': fc.record({
    kind,
    target: fc.oneof(
      fc.record({ names: fc.array(text, { minLength: 1, maxLength: 3 }) }),
      fc.record({ labels: dict(fc.string()) }),
    ),
    durationSeconds: fc.double({ min: 0.1, max: 3600, noNaN: true }),
    parameters: dict(scalar),
    dryRun: fc.boolean(),
    requestedBy: text,
    reason: text,
  }),
  'chaos.started': fc.record({
    requestId: text,
    experimentId: text,
    kind,
    targets: fc.array(target, { minLength: 1, maxLength: 3 }),
    plan: fc.record({ actions: fc.array(text), rollback: fc.array(text) }),
    gate: fc.array(gate, { maxLength: 4 }),
    dryRun: fc.boolean(),
  }),
  'chaos.completed': fc.record(
    {
      requestId: text,
      experimentId: text,
      kind,
      targets: fc.array(target, { maxLength: 3 }),
      dryRun: fc.boolean(),
      startedAt: time,
      injectedAt: time,
      rolledBackAt: time,
      completedAt: time,
      recovery: fc.record({
        recovered: fc.boolean(),
        durationMs: nonNeg,
        details: fc.array(fc.string(), { maxLength: 3 }),
      }),
      scoreBefore: score,
      scoreAfter: score,
    },
    {
      requiredKeys: ['requestId', 'experimentId', 'kind', 'targets', 'dryRun', 'startedAt', 'completedAt', 'recovery'],
    },
  ),
  'chaos.aborted': fc.record(
    {
      requestId: text,
      experimentId: text,
      reasons: fc.array(text, { minLength: 1, maxLength: 3 }),
      gate: fc.array(gate, { maxLength: 3 }),
      targets: fc.array(target, { maxLength: 3 }),
      rolledBackAt: time,
      recovery: fc.record({
        recovered: fc.boolean(),
        durationMs: nonNeg,
        details: fc.array(fc.string(), { maxLength: 3 }),
      }),
    },
    { requiredKeys: ['requestId', 'reasons', 'gate'] },
  ),
  'chaos.abort.requested': fc.oneof(
    fc.record({ experimentId: text, requestedBy: text, reason: text }),
    fc.record({ requestId: text, requestedBy: text, reason: text }),
  ),
  'anomaly.detected': fc.record({
    series: text,
    timestamp: time,
    value: fc.double({ noNaN: true, noDefaultInfinity: true }),
    score: fc.double({ min: 0, max: 1, noNaN: true }),
    threshold: fc.double({ min: 0, max: 1, noNaN: true }),
    features: fc.array(fc.record({ name: text, contribution: fc.double({ noNaN: true, noDefaultInfinity: true }) }), {
      maxLength: 4,
    }),
    modelVersion: text,
  }),
  'sli.observed': fc.oneof(
    fc.record(
      { sli: text, service: text, observedAt: time, good: fc.nat(), total: fc.nat() },
      { requiredKeys: ['sli', 'service', 'good', 'total'] },
    ),
    fc.record(
      {
        sli: text,
        service: text,
        observedAt: time,
        value: fc.double({ noNaN: true, noDefaultInfinity: true }),
        threshold: fc.double({ noNaN: true, noDefaultInfinity: true }),
        unit: text,
      },
      { requiredKeys: ['sli', 'service', 'value', 'threshold'] },
    ),
  ),
};

/** Any registry type with valid data for it. */
export const anyEvent: fc.Arbitrary<{ type: EventType; data: unknown }> = fc.oneof(
  ...(Object.entries(dataArbitraries) as [EventType, fc.Arbitrary<unknown>][]).map(([type, arb]) =>
    arb.map((data) => ({ type, data })),
  ),
);
