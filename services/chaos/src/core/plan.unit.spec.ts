import { describe, expect, it } from 'vitest';
import type { EventData } from '@vigil/events';
import { describeAction, planFor, PlanError } from './plan.js';

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
});
