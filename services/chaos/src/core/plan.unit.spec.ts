import { describe, expect, it } from 'vitest';
import type { EventData } from '@vigil/events';
import { ALLOWED_SIGNALS, describeAction, planFor, PlanError } from './plan.js';

const req = (
  kind: EventData<'chaos.requested'>['kind'],
  parameters: Record<string, number | string | boolean> = {},
) => ({
  kind,
  target: { names: ['web-1'] },
  durationSeconds: 60,
  parameters,
  dryRun: false,
  requestedBy: 't',
  reason: 'r',
});

describe('chaos plans', () => {
  it('every kind has an injection and the rollback that undoes it, with the seed defaults', () => {
    const described = (kind: Parameters<typeof req>[0], p = {}) => {
      const plan = planFor(req(kind, p));
      return [plan.inject.map(describeAction), plan.rollback.map(describeAction)];
    };
    expect(described('container-kill')).toEqual([['kill SIGKILL'], ['start']]);
    expect(described('container-stop')).toEqual([['stop'], ['start']]);
    expect(described('container-restart')).toEqual([['restart'], []]);
    expect(described('container-pause')).toEqual([['pause'], ['unpause']]);
    expect(described('network-disconnect', { network: 'backend' })).toEqual([
      ['disconnect backend'],
      ['connect backend'],
    ]);
    expect(described('network-latency')).toEqual([['netem-add delay 300ms ± 200ms'], ['netem-remove']]);
    expect(described('network-loss', { lossPercent: 25 })).toEqual([['netem-add loss 25%'], ['netem-remove']]);
    expect(described('cpu-stress')).toEqual([['stress-start 2 CPU workers'], ['stress-stop']]);
    expect(described('memory-stress')).toEqual([['stress-start 256 MB'], ['stress-stop']]);
    expect(planFor(req('container-pause')).holdMs).toBe(60_000);
  });

  it('refuses parameters that do not fit, naming them', () => {
    expect(() => planFor(req('network-disconnect'))).toThrow(PlanError);
    expect(() => planFor(req('network-disconnect'))).toThrow('parameters.network must be a non-empty string');
    expect(() => planFor(req('network-latency', { delayMs: -5 }))).toThrow(
      'parameters.delayMs must be a number from 1 to 60000, got -5',
    );
    expect(() => planFor(req('cpu-stress', { workers: 'many' }))).toThrow(
      'parameters.workers must be a number from 1 to 64, got "many"',
    );
    expect(() => planFor(req('container-pause', { signal: 'SIGTERM' }))).toThrow(
      'parameters.signal is not a parameter of container-pause (it takes: none)',
    );
  });

  it('a kill sends only a signal from the allowed list: none that freezes the workload', () => {
    for (const signal of ['SIGSTOP', 'SIGTSTP', 'SIGCONT', 'STOP', '19']) {
      expect(() => planFor(req('container-kill', { signal })), signal).toThrow(
        `parameters.signal ${JSON.stringify(signal)} is not allowed (one of SIGKILL, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2)`,
      );
    }
    expect(planFor(req('container-kill', { signal: 'sigterm' })).inject).toEqual([{ op: 'kill', signal: 'SIGTERM' }]);
  });

  it('each numeric parameter takes its bounds and refuses just past them, and anything not a finite number', () => {
    const bounds = [
      ['network-latency', 'delayMs', 1, 60_000],
      ['network-latency', 'jitterMs', 0, 60_000],
      ['network-loss', 'lossPercent', 0.01, 100],
      ['cpu-stress', 'workers', 1, 64],
      ['memory-stress', 'memoryMb', 1, 65_536],
    ] as const;
    const field = {
      delayMs: 'delayMs',
      jitterMs: 'jitterMs',
      lossPercent: 'lossPercent',
      workers: 'cpuWorkers',
      memoryMb: 'memoryMb',
    };
    for (const [kind, key, min, max] of bounds) {
      for (const ok of [min, max]) {
        expect(planFor(req(kind, { [key]: ok })).inject[0], `${key} ${ok}`).toMatchObject({ [field[key]]: ok });
      }
      const refused = `parameters.${key} must be a number from ${min} to ${max}`;
      for (const bad of [min - 0.001, max + 0.001, Number.NaN, Number.POSITIVE_INFINITY, '5', true]) {
        expect(() => planFor(req(kind, { [key]: bad })), `${key} ${String(bad)}`).toThrow(refused);
      }
    }
  });

  it('a latency request keeps both its delay and its jitter', () => {
    expect(planFor(req('network-latency', { delayMs: 50, jitterMs: 0 })).inject).toEqual([
      { op: 'netem-add', delayMs: 50, jitterMs: 0 },
    ]);
  });

  it('every allowed signal is accepted as given, in any case', () => {
    expect(ALLOWED_SIGNALS).toEqual(['SIGKILL', 'SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2']);
    for (const signal of ALLOWED_SIGNALS) {
      expect(planFor(req('container-kill', { signal: signal.toLowerCase() })).inject).toEqual([{ op: 'kill', signal }]);
    }
    expect(() => planFor(req('container-kill', { signal: '' }))).toThrow(
      'parameters.signal must be a non-empty string',
    );
    expect(() => planFor(req('network-disconnect', { network: '' }))).toThrow(
      'parameters.network must be a non-empty string',
    );
  });

  it('a kind without parameters refuses any, with the error class the consumer dead-letters', () => {
    for (const kind of ['container-stop', 'container-restart', 'container-pause'] as const) {
      let thrown: unknown;
      try {
        planFor(req(kind, { 'Stryker was here': 1 }));
      } catch (e) {
        thrown = e;
      }
      expect(thrown, kind).toBeInstanceOf(PlanError);
      expect((thrown as PlanError).code).toBe('PLAN_INVALID');
      expect((thrown as PlanError).message).toBe(
        `parameters.Stryker was here is not a parameter of ${kind} (it takes: none)`,
      );
    }
  });

  it('an unknown parameter is named with what the kind takes', () => {
    expect(() => planFor(req('network-latency', { delayMs: 10, lossPercent: 5 }))).toThrow(
      'parameters.lossPercent is not a parameter of network-latency (it takes: delayMs, jitterMs)',
    );
    expect(() => planFor(req('memory-stress', { workers: 2 }))).toThrow(
      'parameters.workers is not a parameter of memory-stress (it takes: memoryMb)',
    );
  });

  it('the hold is the duration in whole milliseconds', () => {
    expect(planFor({ ...req('container-pause'), durationSeconds: 1.5 }).holdMs).toBe(1500);
    expect(planFor({ ...req('container-pause'), durationSeconds: 0.0016 }).holdMs).toBe(2);
    expect(planFor({ ...req('container-pause'), durationSeconds: 0.0014 }).holdMs).toBe(1);
  });

  it('every plan carries its kind', () => {
    for (const kind of ['container-stop', 'container-restart', 'container-pause', 'cpu-stress'] as const) {
      expect(planFor(req(kind)).kind).toBe(kind);
    }
  });
});
