import { describe, expect, it } from 'vitest';
import { createEvent, type EventDataInput, type EventType, type VigilEvent } from '@vigil/events';
import { samples } from '@vigil/events/testing';
import {
  applyEvent,
  componentKey,
  createModel,
  defaultLimits,
  healthOfRank,
  keyOf,
  pruneDays,
  rankOf,
  traceIdOf,
  worse,
  type ReadModel,
  type StoredEvent,
} from './model.js';
import { completedRun } from '../testing/runs.js';

const traceId = '0af7651916cd43dd8448eb211c80319c';
const traceparent = `00-${traceId}-b7ad6b7169203331-01`;
const t0 = new Date('2026-12-01T10:00:00.000Z');
const at = (minutes: number) => new Date(t0.getTime() + minutes * 60_000);

function stored<T extends EventType>(
  type: T,
  data: EventDataInput<T>,
  seq: number,
  o: { when?: Date; traced?: boolean } = {},
): StoredEvent {
  const event = createEvent(type, data, {
    source: 'vigil/test',
    ...(o.traced === false ? {} : { extensions: { traceparent } }),
  }) as VigilEvent;
  return { event, seq, storedAt: o.when ?? at(seq) };
}

const completed = (
  seq: number,
  components: Parameters<typeof completedRun>[2],
  o: { status?: 'PASS' | 'WARN' | 'FAIL' | 'ERROR'; partial?: boolean; when?: Date } = {},
) => completedRun(seq, o.when ?? at(seq), components, o);

describe('health ranks', () => {
  it('ranks and their healths, the worse of two', () => {
    expect([0, 1, 2, 3].map(healthOfRank)).toEqual(['PASS', 'WARN', 'FAIL', 'FAIL']);
    expect(['PASS', 'WARN', 'FAIL'].map((h) => rankOf(h as 'PASS'))).toEqual([0, 1, 2]);
    expect(worse('PASS', 'WARN')).toBe('WARN');
    expect(worse('FAIL', 'WARN')).toBe('FAIL');
  });

  it('the default limits', () => {
    expect(defaultLimits).toEqual({
      maxComponents: 2000,
      days: 90,
      maxIncidents: 500,
      maxExperiments: 200,
      maxAnomalies: 200,
    });
    expect(createModel({ days: 3 }).limits).toEqual({ ...defaultLimits, days: 3 });
  });

  it('the trace id of an event: from a well-formed traceparent only', () => {
    const e = (tp?: string) =>
      createEvent('sli.observed', samples['sli.observed'], {
        source: 't',
        ...(tp === undefined ? {} : { extensions: { traceparent: tp } }),
      }) as VigilEvent;
    expect(traceIdOf(e(traceparent))).toBe(traceId);
    expect(traceIdOf(e(`x${traceparent}`))).toBeUndefined();
    expect(traceIdOf(e('00-short-b7ad6b7169203331-01'))).toBeUndefined();
    expect(traceIdOf(e())).toBeUndefined();
  });
});

describe('what a validation run changes', () => {
  it('the suite, each scored component and its day, with the trace; SKIPPED components left out', () => {
    const m = createModel();
    const changes = applyEvent(
      m,
      completed(1, [
        { name: 'a', status: 'PASS', score: 9 },
        { name: 's', status: 'SKIPPED' },
      ]),
    );
    const when = at(1).toISOString();
    expect(changes).toEqual([
      { kind: 'suite', value: { name: 'vigil-self', status: 'PASS', score: 9, at: when, seq: 1, runId: 'run-1' } },
      {
        kind: 'component',
        value: { suite: 'vigil-self', name: 'a', status: 'PASS', score: 9, at: when, seq: 1, runId: 'run-1' },
      },
      {
        kind: 'day',
        suite: 'vigil-self',
        component: 'a',
        value: { day: '2026-12-01', worst: 'PASS', minScore: 9, lastScore: 9, lastSeq: 1 },
      },
    ]);
    expect(m.lastSeq).toBe(1);
    expect(applyEvent(m, completed(1, [{ name: 'a', status: 'PASS', score: 9 }]))).toEqual([]);
  });

  it('a later run the same day: the day merged, worst and lowest over it, last by stream order', () => {
    const m = createModel();
    applyEvent(m, completed(1, [{ name: 'a', status: 'PASS', score: 9 }]));
    const changes = applyEvent(m, completed(2, [{ name: 'a', status: 'WARN', score: 7 }]));
    expect(changes.find((c) => c.kind === 'day')).toEqual({
      kind: 'day',
      suite: 'vigil-self',
      component: 'a',
      value: { day: '2026-12-01', worst: 'WARN', minScore: 7, lastScore: 7, lastSeq: 2 },
    });
    // A better run after: worst and lowest stay, the last score moves.
    const better = applyEvent(m, completed(3, [{ name: 'a', status: 'PASS', score: 10 }]));
    expect(better.find((c) => c.kind === 'day')?.value).toEqual({
      day: '2026-12-01',
      worst: 'WARN',
      minScore: 7,
      lastScore: 10,
      lastSeq: 3,
    });
  });

  it('an older run seen late changes the day only where it is worse or lower; the last stays the later', () => {
    const m = createModel();
    applyEvent(m, completed(5, [{ name: 'a', status: 'PASS', score: 9 }]));
    const worseStatus = applyEvent(m, completed(4, [{ name: 'a', status: 'FAIL', score: 9.5 }], { when: at(5) }));
    expect(worseStatus).toEqual([
      {
        kind: 'day',
        suite: 'vigil-self',
        component: 'a',
        value: { day: '2026-12-01', worst: 'FAIL', minScore: 9, lastScore: 9, lastSeq: 5 },
      },
    ]);
    const lower = applyEvent(m, completed(3, [{ name: 'a', status: 'PASS', score: 2 }], { when: at(5) }));
    expect(lower).toEqual([
      {
        kind: 'day',
        suite: 'vigil-self',
        component: 'a',
        value: { day: '2026-12-01', worst: 'FAIL', minScore: 2, lastScore: 9, lastSeq: 5 },
      },
    ]);
    expect(applyEvent(m, completed(2, [{ name: 'a', status: 'PASS', score: 9 }], { when: at(5) }))).toEqual([]);
    expect(m.lastSeq).toBe(5);
  });

  it('a partial run, or one that ended in ERROR, leaves the suite as it was', () => {
    for (const o of [{ partial: true }, { status: 'ERROR' as const }]) {
      const m = createModel();
      const kinds = applyEvent(m, completed(1, [{ name: 'a', status: 'PASS', score: 9 }], o)).map((c) => c.kind);
      expect(kinds).toEqual(['component', 'day']);
      expect(m.suites.size).toBe(0);
    }
    const m = createModel();
    expect(applyEvent(m, completed(1, [], { partial: false })).map((c) => c.kind)).toEqual(['suite']);
  });

  it('past maxComponents a new component is refused and counted; a known one still updates', () => {
    const m = createModel({ maxComponents: 1 });
    applyEvent(m, completed(1, [{ name: 'a', status: 'PASS', score: 9 }]));
    const changes = applyEvent(
      m,
      completed(2, [
        { name: 'b', status: 'PASS', score: 9 },
        { name: 'a', status: 'WARN', score: 6 },
      ]),
    );
    expect(
      changes.map((c) => `${c.kind}:${'component' in c ? c.component : 'name' in c.value ? c.value.name : ''}`),
    ).toEqual(['suite:vigil-self', 'component:a', 'day:a']);
    expect(m.refused).toBe(1);
    expect(m.days.has(componentKey('vigil-self', 'b'))).toBe(false);
  });
});

describe('incidents', () => {
  const burn = (seq: number, o: Partial<EventDataInput<'slo.burn'>> = {}, traced = true) =>
    stored('slo.burn', { ...samples['slo.burn'], ...o }, seq, { traced });

  it('one per episode, with its trace; resolvedAt only once resolved', () => {
    const m = createModel();
    expect(applyEvent(m, burn(1, {}, false))).toStrictEqual([
      {
        kind: 'incident',
        value: {
          key: keyOf('availability', 'page', '2026-11-22T10:00:00.000Z'),
          slo: 'availability',
          service: 'validator',
          severity: 'page',
          state: 'firing',
          since: '2026-11-22T10:00:00.000Z',
          explanation: samples['slo.burn'].explanation,
          budgetRemaining: 0.62,
          seq: 1,
        },
      },
    ]);
    const resolved = applyEvent(m, burn(2, { state: 'resolved', resolvedAt: '2026-11-22T11:00:00.000Z' }));
    expect(resolved[0]?.value).toMatchObject({
      state: 'resolved',
      resolvedAt: '2026-11-22T11:00:00.000Z',
      traceId,
      seq: 2,
    });
    expect(m.incidents.size).toBe(1);
  });

  it('past maxIncidents the resolved one of lowest sequence goes, never an open one', () => {
    const m = createModel({ maxIncidents: 2 });
    applyEvent(
      m,
      burn(10, { since: '2026-11-22T01:00:00.000Z', state: 'resolved', resolvedAt: '2026-11-22T02:00:00.000Z' }),
    );
    applyEvent(
      m,
      burn(5, { since: '2026-11-22T03:00:00.000Z', state: 'resolved', resolvedAt: '2026-11-22T04:00:00.000Z' }),
    );
    expect(m.incidents.size).toBe(2);
    applyEvent(m, burn(11, { since: '2026-11-22T05:00:00.000Z' }));
    expect([...m.incidents.values()].map((i) => i.seq).sort((a, b) => a - b)).toEqual([10, 11]);
    // Open ones only: nothing can go.
    const open = createModel({ maxIncidents: 1 });
    applyEvent(open, burn(1, { since: '2026-11-22T01:00:00.000Z' }));
    applyEvent(open, burn(2, { since: '2026-11-22T02:00:00.000Z' }));
    expect(open.incidents.size).toBe(2);
  });
});

describe('experiments', () => {
  const started = (seq: number, id = 'exp-1', traced = true) =>
    stored(
      'chaos.started',
      {
        ...samples['chaos.started'],
        experimentId: id,
        gate: [
          { check: 'validation score', passed: true, value: 9.1, message: 'ok' },
          { check: 'blackout', passed: true, message: 'none' },
        ],
      },
      seq,
      { traced },
    );
  const done = (seq: number, o: Partial<EventDataInput<'chaos.completed'>> = {}) =>
    stored('chaos.completed', { ...samples['chaos.completed'], ...o }, seq);
  const aborted = (seq: number, o: Partial<EventDataInput<'chaos.aborted'>> = {}) =>
    stored('chaos.aborted', { ...samples['chaos.aborted'], ...o }, seq);

  it('started: the targets by name, the gate without its messages, no value where none was given', () => {
    const m = createModel();
    expect(applyEvent(m, started(1, 'exp-1', false))).toStrictEqual([
      {
        kind: 'experiment',
        value: {
          experimentId: 'exp-1',
          kind: 'container-pause',
          targets: ['web-1'],
          state: 'running',
          startedAt: at(1).toISOString(),
          dryRun: false,
          gate: [
            { check: 'validation score', passed: true, value: 9.1 },
            { check: 'blackout', passed: true },
          ],
          seq: 1,
        },
      },
    ]);
    expect(applyEvent(m, started(1))).toEqual([]);
  });

  it('completed: its start and gate from the started event, its scores and times where given', () => {
    const m = createModel();
    applyEvent(m, started(1));
    const [c] = applyEvent(m, done(2));
    expect(c?.kind).toBe('experiment');
    expect(c?.value).toEqual({
      experimentId: 'exp-1',
      kind: 'container-pause',
      targets: ['web-1'],
      state: 'completed',
      startedAt: at(1).toISOString(),
      endedAt: at(2).toISOString(),
      recovered: true,
      scoreBefore: 9.1,
      scoreAfter: 9,
      injectedAt: '2026-11-22T10:00:00.100Z',
      rolledBackAt: '2026-11-22T10:01:00.100Z',
      dryRun: false,
      gate: [
        { check: 'validation score', passed: true, value: 9.1 },
        { check: 'blackout', passed: true },
      ],
      seq: 2,
      traceId,
    });
    const bare = createModel();
    const { scoreBefore: _a, scoreAfter: _b, injectedAt: _c, rolledBackAt: _d, ...rest } = samples['chaos.completed'];
    const [d] = applyEvent(bare, stored('chaos.completed', rest, 3));
    expect(Object.keys(d?.value ?? {}).sort()).toEqual(
      [
        'dryRun',
        'endedAt',
        'experimentId',
        'kind',
        'recovered',
        'seq',
        'startedAt',
        'state',
        'targets',
        'traceId',
      ].sort(),
    );
    expect(d?.value).toMatchObject({ startedAt: '2026-11-22T10:00:00.000Z' });
  });

  it('a start seen again with a later sequence replaces the earlier one', () => {
    const m = createModel();
    applyEvent(m, started(1));
    expect(applyEvent(m, started(2)).map((c) => c.kind)).toEqual(['experiment']);
    expect(m.experiments.get('exp-1')?.seq).toBe(2);
  });

  it('an end outranks a start seen after it, whatever their sequences', () => {
    const m = createModel();
    applyEvent(m, aborted(3, { experimentId: 'exp-1', reasons: ['stopped'] }));
    expect(applyEvent(m, started(5))).toEqual([]);
    expect(m.experiments.get('exp-1')?.state).toBe('aborted');
    const n = createModel();
    applyEvent(n, done(5));
    expect(applyEvent(n, started(3))).toEqual([]);
    expect(n.experiments.get('exp-1')?.state).toBe('completed');
    // A later end replaces an earlier one.
    expect(applyEvent(n, aborted(6, { experimentId: 'exp-1' })).map((c) => c.kind)).toEqual(['experiment']);
  });

  it('aborted: refused by the gate (no experiment id) changes nothing; after a start it keeps what the start said', () => {
    const m = createModel();
    expect(applyEvent(m, aborted(1))).toEqual([]);
    applyEvent(m, started(2));
    const [a] = applyEvent(
      m,
      aborted(3, {
        experimentId: 'exp-1',
        recovery: { recovered: false, durationMs: 10, details: ['web-1 down'] },
        rolledBackAt: '2026-11-22T10:02:00.000Z',
      }),
    );
    expect(a?.value).toEqual({
      experimentId: 'exp-1',
      kind: 'container-pause',
      targets: ['web-1'],
      state: 'aborted',
      startedAt: at(2).toISOString(),
      endedAt: at(3).toISOString(),
      recovered: false,
      rolledBackAt: '2026-11-22T10:02:00.000Z',
      gate: [{ check: 'error budget', passed: false, value: 0.12 }],
      seq: 3,
      traceId,
    });
    const [b] = applyEvent(m, aborted(4, { experimentId: 'exp-1', targets: [{ id: 'x', name: 'db-1' }] }));
    expect(b?.kind).toBe('experiment');
    expect(b?.value).toMatchObject({ targets: ['db-1'] });
    expect(Object.keys(b?.value ?? {})).not.toContain('recovered');
    expect(Object.keys(b?.value ?? {})).not.toContain('rolledBackAt');
  });

  it('aborted without a start seen: kind unknown, no targets, started when it ended', () => {
    const m = createModel();
    const [a] = applyEvent(m, aborted(7, { experimentId: 'exp-9' }));
    expect(a?.value).toMatchObject({
      experimentId: 'exp-9',
      kind: 'unknown',
      targets: [],
      state: 'aborted',
      startedAt: at(7).toISOString(),
      endedAt: at(7).toISOString(),
    });
  });

  it('past maxExperiments the ended one of lowest sequence goes; running ones stay', () => {
    const m = createModel({ maxExperiments: 2 });
    applyEvent(m, started(1, 'run-a'));
    applyEvent(m, aborted(9, { experimentId: 'end-b' }));
    applyEvent(m, aborted(4, { experimentId: 'end-c' }));
    expect([...m.experiments.keys()].sort()).toEqual(['end-b', 'run-a']);
    const running = createModel({ maxExperiments: 1 });
    applyEvent(running, started(1, 'a'));
    applyEvent(running, started(2, 'b'));
    expect(running.experiments.size).toBe(2);
  });
});

describe('anomalies', () => {
  const anomaly = (seq: number, o: Partial<EventDataInput<'anomaly.detected'>> = {}) =>
    stored('anomaly.detected', { ...samples['anomaly.detected'], ...o }, seq);

  it('the likelihood, else the score of older events; the five largest features, largest first', () => {
    const m = createModel();
    const features = [1, 6, 3, 5, 2, 4].map((c) => ({ name: `f${c}`, contribution: c }));
    const { likelihood: _, ...older } = samples['anomaly.detected'];
    const [a] = applyEvent(m, stored('anomaly.detected', { ...older, features }, 1));
    expect(a).toEqual({
      kind: 'anomaly',
      value: {
        series: 'validation.score.event_bus',
        timestamp: '2026-11-22T10:00:00.000Z',
        value: 3.2,
        likelihood: 0.71,
        threshold: 0.62,
        features: [6, 5, 4, 3, 2].map((c) => ({ name: `f${c}`, contribution: c })),
        seq: 1,
        traceId,
      },
    });
    expect(applyEvent(m, anomaly(2))[0]?.value).toMatchObject({ likelihood: 0.64 });
  });

  it('past maxAnomalies the one of lowest sequence goes', () => {
    const m = createModel({ maxAnomalies: 2 });
    applyEvent(m, anomaly(3));
    applyEvent(m, anomaly(1));
    expect(m.anomalies.size).toBe(2);
    applyEvent(m, anomaly(2));
    expect([...m.anomalies.keys()].sort()).toEqual(['2', '3']);
  });
});

describe('other events and old days', () => {
  it('a type the page does not fold changes nothing but the last sequence', () => {
    const m: ReadModel = createModel();
    expect(applyEvent(m, stored('sli.observed', samples['sli.observed'], 8))).toEqual([]);
    expect(m.lastSeq).toBe(8);
  });

  it('keeps exactly `days` days, counted back from today', () => {
    const m = createModel({ days: 3 });
    for (const [i, day] of ['2026-11-28', '2026-11-29', '2026-11-30', '2026-12-01'].entries()) {
      applyEvent(
        m,
        completed(i + 1, [{ name: 'a', status: 'PASS', score: 9 }], { when: new Date(`${day}T12:00:00Z`) }),
      );
    }
    pruneDays(m, new Date('2026-12-01T23:00:00Z'));
    expect([...(m.days.get(componentKey('vigil-self', 'a'))?.keys() ?? [])]).toEqual([
      '2026-11-29',
      '2026-11-30',
      '2026-12-01',
    ]);
  });
});
