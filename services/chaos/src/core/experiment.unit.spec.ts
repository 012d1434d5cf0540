import { describe, expect, it } from 'vitest';
import {
  decide,
  initialState,
  transitions,
  TransitionError,
  type ExperimentState,
  type Input,
  type Phase,
} from './experiment.js';

const at = (phase: Phase, extra: Partial<ExperimentState> = {}): ExperimentState => ({
  phase,
  outcome: 'completed',
  ...extra,
});
const recover: Input = { type: 'recover', reason: 'the owner stopped' };

describe('the experiment decider', () => {
  it('runs the happy path: inject, hold, roll back, verify, report completed', () => {
    let d = decide(initialState('accepted', null), { type: 'run' });
    expect(d).toEqual({ state: at('injecting'), command: { type: 'inject' } });
    d = decide(d.state, { type: 'injected' });
    expect(d).toEqual({ state: at('holding'), command: { type: 'hold' } });
    d = decide(d.state, { type: 'held' });
    expect(d).toEqual({ state: at('rolling-back'), command: { type: 'roll-back' } });
    d = decide(d.state, { type: 'rolled-back' });
    expect(d).toEqual({ state: at('verifying'), command: { type: 'verify' } });
    d = decide(d.state, { type: 'verified' });
    // Strict: no stopReason key at all on a run nothing stopped.
    expect(d).toStrictEqual({ state: at('done'), command: { type: 'report', outcome: 'completed' } });
  });

  it('a failed injection rolls back and ends failed, with its reason, even over an abort already recorded', () => {
    const d = decide(at('injecting', { stopReason: 'aborted by operator: x' }), {
      type: 'injection-failed',
      reason: 'injection failed: no such container',
    });
    expect(d).toEqual({
      state: at('rolling-back', { outcome: 'failed', stopReason: 'injection failed: no such container' }),
      command: { type: 'roll-back' },
    });
    const end = decide(decide(d.state, { type: 'rolled-back' }).state, { type: 'verified' });
    expect(end.command).toEqual({
      type: 'report',
      outcome: 'failed',
      stopReason: 'injection failed: no such container',
    });
  });

  it.each(['injecting', 'holding'] as const)(
    'a stop while %s rolls back at once and ends aborted, with the stop’s reason',
    (phase) => {
      const d = decide(at(phase, { stopReason: 'recorded earlier' }), {
        type: 'stopped',
        reason: 'aborted by operator: now',
      });
      expect(d).toEqual({
        state: at('rolling-back', { outcome: 'aborted', stopReason: 'aborted by operator: now' }),
        command: { type: 'roll-back' },
      });
    },
  );

  it.each(['accepted', 'injecting', 'holding', 'rolling-back', 'verifying'] as const)(
    'a takeover in %s rolls back (again) and ends interrupted',
    (phase) => {
      expect(decide(at(phase), recover)).toEqual({
        state: at('rolling-back', { outcome: 'interrupted', stopReason: 'the owner stopped' }),
        command: { type: 'roll-back' },
      });
      // An abort recorded before the owner stopped stays the reason.
      expect(decide(at(phase, { stopReason: 'aborted by operator: x' }), recover).state.stopReason).toBe(
        'aborted by operator: x',
      );
    },
  );

  it('a stop reason known from the start (an abort before it ran) is reported with the outcome', () => {
    let d = decide(initialState('accepted', 'aborted by operator: late'), { type: 'run' });
    for (const input of [
      { type: 'injected' },
      { type: 'held' },
      { type: 'rolled-back' },
      { type: 'verified' },
    ] as Input[])
      d = decide(d.state, input);
    expect(d.command).toEqual({ type: 'report', outcome: 'completed', stopReason: 'aborted by operator: late' });
  });

  it('every way out of injecting and holding leads to the rollback: a fault never stays', () => {
    for (const phase of ['injecting', 'holding'] as const) {
      for (const type of Object.keys(transitions[phase]) as Input['type'][]) {
        const input = { type, reason: 'r' } as unknown as Input;
        expect(decide(at(phase), input).state.phase, `${phase} + ${type}`).toMatch(/^(holding|rolling-back)$/);
      }
    }
    // …and holding is only reached from a complete injection.
    const into = Object.entries(transitions).flatMap(([from, steps]) =>
      Object.entries(steps)
        .filter(([type]) => type !== 'recover')
        .map(([type, step]) => [from, type, step(at(from as Phase), { type, reason: 'r' } as never).state.phase])
        .filter(([, , to]) => to === 'holding'),
    );
    expect(into).toEqual([['injecting', 'injected', 'holding']]);
  });

  it('refuses an input the phase has no transition for, naming both', () => {
    const cases: [Phase, Input][] = [
      ['accepted', { type: 'held' }],
      ['holding', { type: 'injected' }],
      ['rolling-back', { type: 'stopped', reason: 'x' }],
      ['verifying', { type: 'run' }],
      ['done', recover],
      ['done', { type: 'verified' }],
    ];
    for (const [phase, input] of cases) {
      expect(() => decide(at(phase), input)).toThrow(TransitionError);
      expect(() => decide(at(phase), input)).toThrow(expect.objectContaining({ code: 'CHAOS_TRANSITION' }));
      expect(() => decide(at(phase), input)).toThrow(`an experiment in phase ${phase} cannot take '${input.type}'`);
    }
  });
});
