import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  allEventsSubject,
  boundedName,
  deadLetterSubjectOf,
  defaultNamespace,
  eventTypes,
  isSubjectOf,
  namespaceFor,
  registry,
  subjectOf,
} from './registry.js';
import { samples } from './testing/index.js';

describe('an event type and its subject', () => {
  it('every type is at home on its own subject and on no other type’s, in any namespace', () => {
    for (const ns of [defaultNamespace, namespaceFor('t1')]) {
      for (const type of eventTypes) {
        for (const other of eventTypes) {
          expect(isSubjectOf(ns, type, subjectOf(ns, other)), `${type} on ${other}`).toBe(type === other);
        }
      }
    }
  });

  it('one routing-key token after the type’s subject is its subject; a second token, or a prefix of the type, is not', () => {
    const ns = defaultNamespace;
    expect(isSubjectOf(ns, 'sli.observed', 'events.sli.observed.checkout')).toBe(true);
    expect(isSubjectOf(ns, 'sli.observed', 'events.sli.observed.checkout.eu')).toBe(false);
    expect(isSubjectOf(ns, 'chaos.abort.requested', 'events.chaos.abort')).toBe(false);
    expect(isSubjectOf(ns, 'chaos.requested', 'events.chaos.requestedx')).toBe(false);
    expect(isSubjectOf(ns, 'sli.observed', 't1.events.sli.observed')).toBe(false);
  });
});

describe('namespaces', () => {
  it('no id, or an empty one, is the default namespace', () => {
    expect(namespaceFor(undefined)).toBe(defaultNamespace);
    expect(namespaceFor('')).toBe(defaultNamespace);
    expect(defaultNamespace).toEqual({
      stream: 'EVENTS',
      subjectPrefix: 'events',
      deadLetterStream: 'DEADLETTER',
      deadLetterPrefix: 'deadletter',
    });
  });

  it('an id names every stream and subject of its namespace', () => {
    const ns = namespaceFor('t-1_x');
    expect(ns).toEqual({
      stream: 'EVENTS_t-1_x',
      subjectPrefix: 't-1_x.events',
      deadLetterStream: 'DEADLETTER_t-1_x',
      deadLetterPrefix: 't-1_x.deadletter',
    });
    expect(allEventsSubject(ns)).toBe('t-1_x.events.>');
    expect(deadLetterSubjectOf(ns, 'validator')).toBe('t-1_x.deadletter.validator');
    expect(allEventsSubject(defaultNamespace)).toBe('events.>');
  });

  it('an id is 1-32 letters, digits, _ or -, nothing around them', () => {
    expect(namespaceFor('a'.repeat(32)).stream).toBe(`EVENTS_${'a'.repeat(32)}`);
    for (const id of ['a'.repeat(33), 'a.b', 'a b', '.a', 'a>', '*', 'é']) {
      expect(() => namespaceFor(id)).toThrow(`namespace id '${id}' must be 1-32 letters, digits, '_' or '-'`);
    }
  });
});

describe('schemas of the registry at their edges', () => {
  const completed = samples['validation.completed'];
  const component = completed.components[0]!;
  const withComponent = (c: Record<string, unknown>) =>
    registry['validation.completed'].schema.safeParse({ ...completed, components: [c] });

  it('a component has a score unless it is SKIPPED, and none when it is', () => {
    expect(withComponent({ ...component, status: 'PASS' }).success).toBe(true);
    expect(withComponent({ ...component, status: 'SKIPPED', score: undefined, weight: 0 }).success).toBe(true);
    for (const c of [
      { ...component, status: 'SKIPPED' },
      { ...component, status: 'PASS', score: undefined },
    ]) {
      const r = withComponent(c);
      expect(r.success).toBe(false);
      expect(r.error?.issues).toEqual([
        expect.objectContaining({
          path: ['components', 0, 'score'],
          message: 'a score is required unless the component is SKIPPED, and absent when it is',
        }),
      ]);
    }
  });

  it('statuses: a check may be ERROR, a component may not', () => {
    const check = component.checks[0]!;
    expect(withComponent({ ...component, checks: [{ ...check, status: 'ERROR' }] }).success).toBe(true);
    expect(withComponent({ ...component, checks: [{ ...check, status: 'SKIPPED' }] }).success).toBe(true);
    expect(withComponent({ ...component, status: 'ERROR' }).success).toBe(false);
    expect(withComponent({ ...component, status: 'WARN' }).success).toBe(true);
    expect(withComponent({ ...component, status: 'FAIL' }).success).toBe(true);
  });

  it('times carry an offset', () => {
    const parse = (startedAt: string) =>
      registry['validation.completed'].schema.safeParse({ ...completed, startedAt }).success;
    expect(parse('2026-11-22T10:00:00+01:00')).toBe(true);
    expect(parse('2026-11-22T10:00:00Z')).toBe(true);
    expect(parse('2026-11-22T10:00:00')).toBe(false);
  });

  it('a bounded name takes 200 characters and says so past them', () => {
    const s = boundedName(z.string());
    expect(s.safeParse('a'.repeat(200)).success).toBe(true);
    expect(s.safeParse('a'.repeat(201)).error?.issues[0]?.message).toBe('must be at most 200 characters');
  });
});
