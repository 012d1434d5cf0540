import { describe, expect, it } from 'vitest';
import { createEvent, valueAt, type EventDataInput } from '@vigil/events';
import { parseSlo } from '../config/slo.js';
import { countsFor, matches, observe } from './sli.js';

const slo = (sli: string, extra = '') =>
  parseSlo(`name: s\nservice: x\nobjective: 99\nwindow: 1d\nsli: ${sli}\n${extra}`, 's.yaml');

const check = (name: string, kind: string, status: 'PASS' | 'WARN' | 'FAIL' | 'ERROR', durationMs: number) => ({
  name,
  kind,
  status,
  durationMs,
});

function completed(status: 'PASS' | 'ERROR' = 'PASS', time = '2026-11-22T10:00:30.000Z') {
  const data: EventDataInput<'validation.completed'> = {
    requestId: '7d0b1a52-5d35-4a8f-9c1b-7c3f0f6e0a11',
    runId: 'r',
    suite: 'vigil-self',
    startedAt: time,
    completedAt: time,
    durationMs: 5,
    score: 7,
    status,
    components: [
      {
        name: 'api',
        weight: 1,
        score: 7,
        status: 'WARN',
        checks: [check('a', 'http', 'PASS', 40), check('b', 'http', 'WARN', 140), check('c', 'tcp', 'FAIL', 1)],
      },
      { name: 'db', weight: 1, score: 7, status: 'WARN', checks: [check('d', 'http', 'ERROR', 5000)] },
    ],
  };
  return createEvent('validation.completed', data, { source: 'test', time });
}

describe('conditions', () => {
  it('values, lists and operators on dotted paths; a missing field satisfies only ne / notIn', () => {
    const obj = { a: { b: 3 }, s: 'x' };
    expect(valueAt(obj, 'a.b')).toBe(3);
    expect(valueAt(obj, 'a.c')).toBeUndefined();
    expect(valueAt(obj, 's.length')).toBeUndefined();
    expect(matches(3, 3)).toBe(true);
    expect(matches('x', ['y', 'x'])).toBe(true);
    expect(matches(3, { gt: 2, lte: 3 })).toBe(true);
    expect(matches(3, { lt: 3 })).toBe(false);
    expect(matches('3', { lte: 5 })).toBe(false);
    expect(matches(undefined, { ne: 'ERROR' })).toBe(true);
    expect(matches(undefined, { notIn: ['a'] })).toBe(true);
    expect(matches(undefined, { eq: null })).toBe(false);
  });
});

describe('each operator at its boundary (mutation testing found these unpinned)', () => {
  it('a literal: the same value only, null included', () => {
    expect(matches(null, null)).toBe(true);
    expect(matches(undefined, null)).toBe(false);
    expect(matches('PASS', 'PASS')).toBe(true);
    expect(matches('WARN', 'PASS')).toBe(false);
  });

  it('eq, ne, in, notIn', () => {
    expect(matches('a', { eq: 'a' })).toBe(true);
    expect(matches('b', { eq: 'a' })).toBe(false);
    expect(matches('a', { ne: 'a' })).toBe(false);
    expect(matches('a', { in: ['a', 'b'] })).toBe(true);
    expect(matches('c', { in: ['a', 'b'] })).toBe(false);
    expect(matches('a', { notIn: ['a', 'b'] })).toBe(false);
    expect(matches('c', { notIn: ['a', 'b'] })).toBe(true);
  });

  it('lt, lte, gt, gte: below, at and above the bound; never a missing field or a string', () => {
    const cases = [
      ['lt', [true, false, false]],
      ['lte', [true, true, false]],
      ['gt', [false, false, true]],
      ['gte', [false, true, true]],
    ] as const;
    for (const [op, [below, at, above]] of cases) {
      expect([matches(99, { [op]: 100 }), matches(100, { [op]: 100 }), matches(101, { [op]: 100 })], op).toEqual([
        below,
        at,
        above,
      ]);
      expect(matches(undefined, { [op]: 100 }), `${op} missing`).toBe(false);
      expect(matches('100', { [op]: 100 }), `${op} string`).toBe(false);
    }
  });
});

describe('counts from events', () => {
  it('an SLO of scraped counters counts no event', () => {
    const scraped = slo(
      '{ prometheus: { url: "http://127.0.0.1:9/metrics", total: http_requests_total, errors: \'http_requests_total{code="500"}\' } }',
    );
    expect(countsFor(scraped, completed())).toBeUndefined();
  });

  it('each check: every check counts once, filtered by where, good by its conditions', () => {
    const availability = slo('{ events: { type: validation.completed, each: check, good: { status: [PASS, WARN] } } }');
    expect(countsFor(availability, completed())).toEqual({ good: 2, total: 4 });
    const latency = slo(
      '{ events: { type: validation.completed, each: check, where: { kind: http, status: { ne: ERROR } }, good: { durationMs: { lte: 100 } } } }',
    );
    expect(countsFor(latency, completed())).toEqual({ good: 1, total: 2 });
    const oneComponent = slo(
      '{ events: { type: validation.completed, each: check, where: { component: db }, good: { status: PASS } } }',
    );
    expect(countsFor(oneComponent, completed())).toEqual({ good: 0, total: 1 });
  });

  it('each event: the run counts once; other types and unmatched events count nowhere', () => {
    const errors = slo('{ events: { type: validation.completed, good: { status: { ne: ERROR } } } }');
    expect(countsFor(errors, completed('PASS'))).toEqual({ good: 1, total: 1 });
    expect(countsFor(errors, completed('ERROR'))).toEqual({ good: 0, total: 1 });
    const other = slo('{ events: { type: validation.completed, where: { suite: other }, good: { status: PASS } } }');
    expect(countsFor(other, completed())).toBeUndefined();
    expect(
      countsFor(errors, createEvent('sli.observed', { sli: 's', service: 'x', good: 1, total: 1 }, { source: 't' })),
    ).toBeUndefined();
  });

  it('sli.observed: counts as given (good capped at total), or one event good when value ≤ threshold', () => {
    const s = slo('{ observed: { sli: checkout, service: shop } }');
    const observed = (data: EventDataInput<'sli.observed'>) => createEvent('sli.observed', data, { source: 't' });
    expect(countsFor(s, observed({ sli: 'checkout', service: 'shop', good: 95, total: 100 }))).toEqual({
      good: 95,
      total: 100,
    });
    expect(countsFor(s, observed({ sli: 'checkout', service: 'shop', good: 7, total: 5 }))).toEqual({
      good: 5,
      total: 5,
    });
    expect(countsFor(s, observed({ sli: 'checkout', service: 'shop', good: 0, total: 0 }))).toBeUndefined();
    expect(countsFor(s, observed({ sli: 'checkout', service: 'shop', value: 100, threshold: 100 }))).toEqual({
      good: 1,
      total: 1,
    });
    expect(countsFor(s, observed({ sli: 'checkout', service: 'shop', value: 101, threshold: 100 }))).toEqual({
      good: 0,
      total: 1,
    });
    expect(countsFor(s, observed({ sli: 'checkout', service: 'other', good: 1, total: 1 }))).toBeUndefined();
    expect(countsFor(s, observed({ sli: 'cart', service: 'shop', good: 1, total: 1 }))).toBeUndefined();
  });

  it('observe: the minute of the event time; the future counts now; older than the window counts nowhere', () => {
    const s = slo('{ events: { type: validation.completed, good: { status: PASS } } }');
    const now = Date.parse('2026-11-22T10:05:10.000Z');
    expect(observe([s], completed('PASS', '2026-11-22T10:00:30.000Z'), now)).toEqual([
      { slo: 's', minute: Date.parse('2026-11-22T10:00:00.000Z'), good: 1, total: 1 },
    ]);
    expect(observe([s], completed('PASS', '2026-11-22T11:00:00.000Z'), now)).toEqual([
      { slo: 's', minute: Date.parse('2026-11-22T10:05:00.000Z'), good: 1, total: 1 },
    ]);
    expect(observe([s], completed('PASS', '2026-11-21T10:00:00.000Z'), now)).toEqual([]);
    // The window's first minute still counts.
    const atMinute = Date.parse('2026-11-22T10:05:00.000Z');
    expect(observe([s], completed('PASS', '2026-11-21T10:05:00.000Z'), atMinute)).toEqual([
      { slo: 's', minute: Date.parse('2026-11-21T10:05:00.000Z'), good: 1, total: 1 },
    ]);
    // Only the SLOs the event feeds get an observation.
    const other = slo('{ events: { type: validation.completed, where: { suite: other }, good: { status: PASS } } }');
    expect(observe([other, s], completed('PASS', '2026-11-22T10:00:30.000Z'), now)).toEqual([
      { slo: 's', minute: Date.parse('2026-11-22T10:00:00.000Z'), good: 1, total: 1 },
    ]);
    const observedAt = createEvent(
      'sli.observed',
      { sli: 'checkout', service: 'shop', good: 1, total: 2, observedAt: '2026-11-22T09:59:59.000Z' },
      { source: 't', time: '2026-11-22T10:05:00.000Z' },
    );
    expect(observe([slo('{ observed: { sli: checkout } }')], observedAt, now)).toEqual([
      { slo: 's', minute: Date.parse('2026-11-22T09:59:00.000Z'), good: 1, total: 2 },
    ]);
  });
});
