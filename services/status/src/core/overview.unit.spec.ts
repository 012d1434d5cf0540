import { describe, expect, it } from 'vitest';
import {
  createModel,
  putComponent,
  putDay,
  putExperiment,
  putIncident,
  putSuite,
  type Experiment,
  type Health,
  type Incident,
  type ReadModel,
} from './model.js';
import { overview } from './overview.js';
import { experimentOf, incidentOf } from '../testing/model.js';

const now = new Date('2026-12-01T10:00:00.000Z');
let seq = 0;

function component(m: ReadModel, suite: string, name: string, status: Health, score = 5): void {
  putComponent(m, { suite, name, status, score, at: `2026-12-01T0${seq % 10}:00:00.000Z`, seq: ++seq, runId: 'r' });
}

function incident(m: ReadModel, key: string, state: Incident['state'], severity: Incident['severity'] = 'page'): void {
  putIncident(m, incidentOf({ key, state, severity, seq: ++seq }));
}

function experiment(m: ReadModel, id: string, state: Experiment['state']): void {
  putExperiment(m, experimentOf({ experimentId: id, state, seq: ++seq }));
}

/** The overall state and headline for these component statuses and open incidents. */
function verdict(statuses: Health[], firing: Incident['severity'][] = [], resolved = 0) {
  const m = createModel();
  statuses.forEach((s, i) => component(m, 'suite', `c${i}`, s));
  firing.forEach((severity, i) => incident(m, `open${i}`, 'firing', severity));
  for (let i = 0; i < resolved; i++) incident(m, `done${i}`, 'resolved');
  const o = overview(m, now);
  return { state: o.state, headline: o.headline };
}

describe('status overview', () => {
  it('the verdict: unknown only with no component and no open incident; a page or a FAIL fails; a WARN or a ticket degrades', () => {
    expect(verdict([])).toEqual({ state: 'unknown', headline: 'No validation results yet.' });
    // Resolved incidents are history, not state.
    expect(verdict([], [], 2)).toEqual({ state: 'unknown', headline: 'No validation results yet.' });
    expect(verdict(['PASS'])).toEqual({ state: 'operational', headline: 'All 1 component operational.' });
    expect(verdict(['PASS', 'PASS', 'PASS'], [], 1)).toEqual({
      state: 'operational',
      headline: 'All 3 components operational.',
    });
    // An open incident with no validation result yet is still an incident.
    expect(verdict([], ['page'])).toEqual({ state: 'failing', headline: 'Failing: 1 page firing.' });
    expect(verdict([], ['ticket'])).toEqual({ state: 'degraded', headline: 'Degraded: 1 ticket open.' });
    expect(verdict(['FAIL', 'PASS'])).toEqual({ state: 'failing', headline: 'Failing: 1 component failing.' });
    expect(verdict(['WARN', 'PASS'])).toEqual({ state: 'degraded', headline: 'Degraded: 1 component warning.' });
  });

  it('the headline counts each kind with its plural, joined by commas; failing outranks the warnings, which it leaves out', () => {
    expect(verdict(['FAIL', 'FAIL', 'WARN'], ['page', 'page', 'page', 'ticket'])).toEqual({
      state: 'failing',
      headline: 'Failing: 2 components failing, 3 pages firing.',
    });
    expect(verdict(['WARN', 'FAIL'], ['ticket'])).toEqual({
      state: 'failing',
      headline: 'Failing: 1 component failing.',
    });
    expect(verdict(['WARN'], ['page'])).toEqual({ state: 'failing', headline: 'Failing: 1 page firing.' });
    expect(verdict(['WARN', 'WARN', 'PASS'], ['ticket', 'ticket'])).toEqual({
      state: 'degraded',
      headline: 'Degraded: 2 components warning, 2 tickets open.',
    });
    expect(verdict(['PASS'], ['ticket', 'ticket'])).toEqual({
      state: 'degraded',
      headline: 'Degraded: 2 tickets open.',
    });
    expect(verdict(['WARN', 'WARN'])).toEqual({ state: 'degraded', headline: 'Degraded: 2 components warning.' });
  });

  it('suites and their components by name; a suite shows its latest complete run, or no status while only partial runs were seen', () => {
    const m = createModel();
    component(m, 'beta', 'zeta', 'PASS', 9);
    component(m, 'beta', 'alpha', 'WARN', 6);
    component(m, 'beta', 'mid', 'PASS', 8);
    component(m, 'alpha', 'only', 'FAIL', 1);
    component(m, 'gamma', 'x', 'PASS', 10);
    putSuite(m, { name: 'beta', status: 'WARN', score: 7.5, at: '2026-12-01T08:00:00.000Z', seq: ++seq, runId: 'b' });
    putSuite(m, { name: 'gamma', status: 'PASS', score: 10, at: '2026-12-01T07:00:00.000Z', seq: ++seq, runId: 'g' });
    const o = overview(m, now);
    expect(o.suites.map((s) => [s.name, s.components.map((c) => c.name)])).toEqual([
      ['alpha', ['only']],
      ['beta', ['alpha', 'mid', 'zeta']],
      ['gamma', ['x']],
    ]);
    const [alpha, beta] = o.suites;
    // Only partial runs of alpha: no status, score or time at all, not ones set to undefined.
    expect(Object.keys(alpha ?? {}).sort()).toEqual(['components', 'name']);
    expect(beta).toMatchObject({ status: 'WARN', score: 7.5, at: '2026-12-01T08:00:00.000Z' });
    expect(beta?.components[0]).toEqual({
      name: 'alpha',
      status: 'WARN',
      score: 6,
      at: m.components.get(JSON.stringify(['beta', 'alpha']))?.at,
      days: Array.from({ length: 90 }, () => null),
    });
  });

  it('a component without any day cell has a null for every day; one with cells has them on their days', () => {
    const m = createModel({ days: 2 });
    component(m, 's', 'bare', 'PASS');
    component(m, 's', 'seen', 'PASS');
    const cell = { day: '2026-12-01', worst: 'WARN' as const, minScore: 6, lastScore: 8, lastSeq: 1 };
    putDay(m, 's', 'seen', cell);
    const o = overview(m, now);
    expect(o.days).toEqual(['2026-11-30', '2026-12-01']);
    expect(o.suites[0]?.components.map((c) => c.days)).toEqual([
      [null, null],
      [null, cell],
    ]);
  });

  it('incidents: the open ones newest first; resolved ones newest first, at most 10 or as asked', () => {
    const m = createModel();
    for (let i = 0; i < 12; i++) incident(m, `r${i}`, 'resolved');
    incident(m, 'p1', 'firing');
    incident(m, 'p2', 'firing', 'ticket');
    const o = overview(m, now);
    expect(o.incidents.open.map((i) => i.key)).toEqual(['p2', 'p1']);
    expect(o.incidents.recent.map((i) => i.key)).toEqual([
      'r11',
      'r10',
      'r9',
      'r8',
      'r7',
      'r6',
      'r5',
      'r4',
      'r3',
      'r2',
    ]);
    expect(overview(m, now, { recentIncidents: 3 }).incidents.recent.map((i) => i.key)).toEqual(['r11', 'r10', 'r9']);
  });

  it('experiments: the running ones newest first; ended ones newest first, at most 10 or as asked', () => {
    const m = createModel();
    for (let i = 0; i < 6; i++) experiment(m, `c${i}`, 'completed');
    for (let i = 0; i < 6; i++) experiment(m, `a${i}`, 'aborted');
    experiment(m, 'run1', 'running');
    experiment(m, 'run2', 'running');
    const o = overview(m, now);
    expect(o.experiments.running.map((x) => x.experimentId)).toEqual(['run2', 'run1']);
    expect(o.experiments.recent.map((x) => x.experimentId)).toEqual([
      'a5',
      'a4',
      'a3',
      'a2',
      'a1',
      'a0',
      'c5',
      'c4',
      'c3',
      'c2',
    ]);
    expect(overview(m, now, { recentExperiments: 2 }).experiments.recent.map((x) => x.experimentId)).toEqual([
      'a5',
      'a4',
    ]);
  });

  it('says when it was made and up to which stream sequence', () => {
    const m = createModel();
    m.lastSeq = 42;
    expect(overview(m, now)).toMatchObject({ generatedAt: '2026-12-01T10:00:00.000Z', seq: 42 });
  });
});
