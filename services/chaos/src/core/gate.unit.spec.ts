import { describe, expect, it } from 'vitest';
import { activeBlackout, defaultPolicy, gate, type Candidate, type GateInput, type Weekday } from './gate.js';
import { planFor } from './plan.js';

const now = new Date('2026-11-25T12:00:00Z'); // a Wednesday
const c = (
  name: string,
  labels: Record<string, string> = { 'vigil.chaos/enabled': 'true' },
  running = true,
): Candidate => ({
  id: `id-${name}`,
  name,
  labels,
  running,
});
const fleet = [
  c('web-1', { 'vigil.chaos/enabled': 'true', app: 'web' }),
  c('web-2', { 'vigil.chaos/enabled': 'true', app: 'web' }),
  c('api-1'),
  c('api-2'),
  c('worker-1'),
  c('worker-2'),
  c('nats-1'),
  c('plain', {}),
];

function input(over: Partial<GateInput> = {}): GateInput {
  return {
    request: {
      kind: 'container-pause',
      target: { names: ['web-1'] },
      durationSeconds: 30,
      parameters: {},
      dryRun: false,
      requestedBy: 't',
      reason: 'r',
    },
    policy: defaultPolicy,
    candidates: fleet,
    validation: { score: 9.2, completedAt: new Date(now.getTime() - 5 * 60_000) },
    slos: [
      { name: 'availability', remainingPercent: 80 },
      { name: 'latency', remainingPercent: 45.5 },
    ],
    busy: new Set(),
    now,
    ...over,
  };
}

describe('safety gate', () => {
  it('refuses what is over the policy limits, naming each parameter and its cap; the design defaults pass', () => {
    const req = (kind: GateInput['request']['kind'], parameters: Record<string, number>, durationSeconds = 60) => ({
      ...input().request,
      kind,
      parameters,
      durationSeconds,
    });
    const reasons = (r: GateInput['request']) => gate(input({ request: r, plan: planFor(r) })).reasons;
    expect(reasons(req('memory-stress', { memoryMb: 65_536 }, 3600))).toEqual([
      'limits: durationSeconds 3600 is over 300 (policy.limits.maxDurationSeconds); parameters.memoryMb 65536 is over 256 (policy.limits.maxMemoryMb)',
    ]);
    expect(reasons(req('cpu-stress', { workers: 64 }))).toEqual([
      'limits: parameters.workers 64 is over 2 (policy.limits.maxCpuWorkers)',
    ]);
    expect(reasons(req('network-latency', { delayMs: 60_000, jitterMs: 60_000 }))).toEqual([
      'limits: parameters.delayMs 60000 is over 500 (policy.limits.maxDelayMs); parameters.jitterMs 60000 is over 500 (policy.limits.maxJitterMs)',
    ]);
    for (const kind of ['network-latency', 'cpu-stress', 'memory-stress', 'network-loss'] as const) {
      const r = gate(input({ request: req(kind, {}), plan: planFor(req(kind, {})) }));
      expect(r.checks.find((x) => x.check === 'limits')).toMatchObject({ passed: true, value: 0 });
    }
  });

  it('lets a healthy, opted-in, small experiment through and reports every check with its value', () => {
    const r = gate(input());
    expect(r.allowed).toBe(true);
    expect(r.reasons).toEqual([]);
    expect(r.targets.map((t) => t.name)).toEqual(['web-1']);
    expect(r.checks.map((x) => [x.check, x.passed, x.value])).toEqual([
      ['validation-score', true, 9.2],
      ['validation-age', true, 5],
      ['error-budget', true, 45.5],
      ['blackout', true, null],
      ['protected', true, 0],
      ['opt-in', true, 0],
      ['targets', true, 1],
      ['blast-radius', true, 1],
      ['one-at-a-time', true, 0],
    ]);
  });

  it('refuses a low score, a stale score, or no validation at all', () => {
    expect(gate(input({ validation: { score: 7.9, completedAt: now } })).reasons).toEqual([
      'validation-score: latest score 7.9 (minimum 8)',
    ]);
    expect(
      gate(input({ validation: { score: 9, completedAt: new Date(now.getTime() - 31 * 60_000) } })).reasons,
    ).toEqual(['validation-age: latest validation 31 min old (maximum 30 min)']);
    expect(gate(input({ validation: undefined })).reasons).toEqual(['validation-score: no validation run yet']);
  });

  it('refuses when an SLO has under 20 % of its budget, or budgets cannot be read', () => {
    expect(
      gate(
        input({
          slos: [
            { name: 'availability', remainingPercent: 19.99 },
            { name: 'latency', remainingPercent: -40 },
          ],
        }),
      ).reasons,
    ).toEqual(['error-budget: below 20 % of budget: availability 19.99 %, latency -40 %']);
    expect(gate(input({ slos: { error: 'slo-engine did not answer (ECONNREFUSED)' } })).reasons).toEqual([
      'error-budget: SLO budgets unknown: slo-engine did not answer (ECONNREFUSED)',
    ]);
  });

  it('refuses inside a blackout window, also one that runs past midnight', () => {
    const policy = { ...defaultPolicy, blackouts: [{ days: ['wed' as const], from: '11:30', to: '13:00' }] };
    expect(gate(input({ policy })).reasons).toEqual(['blackout: inside the blackout wed 11:30-13:00 UTC']);
    const night = [{ days: ['tue' as const], from: '22:00', to: '06:00' }];
    expect(activeBlackout(night, new Date('2026-11-24T23:00:00Z'))).toBeDefined(); // Tuesday evening
    expect(activeBlackout(night, new Date('2026-11-25T05:59:00Z'))).toBeDefined(); // Wednesday morning
    expect(activeBlackout(night, new Date('2026-11-25T06:00:00Z'))).toBeUndefined();
    expect(activeBlackout(night, new Date('2026-11-24T05:00:00Z'))).toBeUndefined(); // Tuesday morning: Monday had none
    expect(activeBlackout(night, new Date('2026-11-25T23:00:00Z'))).toBeUndefined(); // Wednesday evening: not listed
  });

  it('reads blackouts on the clock of the policy time zone, daylight saving time included', () => {
    const office = [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'] as Weekday[], from: '09:00', to: '17:00' }];
    // 08:30 UTC on a Wednesday in winter is 09:30 in Berlin (UTC+1) and 03:30 in New York (UTC-5).
    const winter = new Date('2026-11-25T08:30:00Z');
    expect(activeBlackout(office, winter, 'UTC')).toBeUndefined();
    expect(activeBlackout(office, winter, 'Europe/Berlin')).toBeDefined();
    expect(activeBlackout(office, winter, 'America/New_York')).toBeUndefined();
    // In summer Berlin is UTC+2: 07:30 UTC is 09:30 there, 06:59 UTC is 08:59.
    expect(activeBlackout(office, new Date('2026-07-01T07:30:00Z'), 'Europe/Berlin')).toBeDefined();
    expect(activeBlackout(office, new Date('2026-07-01T06:59:00Z'), 'Europe/Berlin')).toBeUndefined();
    // Friday 17:00 in Tokyo is Friday 08:00 UTC; Saturday 09:00 in Tokyo is no working day.
    expect(activeBlackout(office, new Date('2026-11-27T07:59:00Z'), 'Asia/Tokyo')).toBeDefined();
    expect(activeBlackout(office, new Date('2026-11-27T08:00:00Z'), 'Asia/Tokyo')).toBeUndefined();
    expect(activeBlackout(office, new Date('2026-11-28T00:00:00Z'), 'Asia/Tokyo')).toBeUndefined();
    const policy = { ...defaultPolicy, blackouts: office, timeZone: 'Europe/Berlin' };
    expect(gate(input({ policy, now: winter })).reasons).toEqual([
      'blackout: inside the blackout mon,tue,wed,thu,fri 09:00-17:00 Europe/Berlin',
    ]);
  });

  it('never touches a protected container, by label or by name, and names it', () => {
    const guarded = [...fleet, c('web-3', { 'vigil.chaos/enabled': 'true', 'vigil.chaos/protected': 'true' })];
    expect(
      gate(input({ candidates: guarded, request: { ...input().request, target: { names: ['nats-1', 'web-3'] } } }))
        .reasons,
    ).toEqual([
      "protected: protected containers selected: nats-1 (its name contains 'nats'), web-3 (labelled vigil.chaos/protected=true)",
      'blast-radius: 2 of 6 eligible container(s); at most 1 (30 %, at least 1)',
    ]);
  });

  it('acts only on opted-in containers unless the policy says otherwise', () => {
    const request = { ...input().request, target: { names: ['plain'] } };
    expect(gate(input({ candidates: [...fleet.slice(0, 6), c('plain', {})], request })).reasons).toEqual([
      'opt-in: not opted in (vigil.chaos/enabled=true): plain',
    ]);
    expect(
      gate(
        input({
          candidates: [...fleet.slice(0, 6), c('plain', {})],
          request,
          policy: { ...defaultPolicy, requireOptIn: false },
        }),
      ).allowed,
    ).toBe(true);
  });

  it('limits the blast radius to 30 % of the eligible containers (at least 1) and one experiment per target', () => {
    const byLabel = { ...input().request, target: { labels: { app: 'web' } } };
    expect(gate(input({ request: byLabel })).reasons).toEqual([
      'blast-radius: 2 of 6 eligible container(s); at most 1 (30 %, at least 1)',
    ]);
    expect(gate(input({ request: byLabel, candidates: [...fleet, c('a'), c('b'), c('c'), c('d')] })).allowed).toBe(
      true,
    );
    expect(gate(input({ busy: new Set(['id-web-1']) })).reasons).toEqual([
      'one-at-a-time: already under an experiment: web-1',
    ]);
  });

  it('the blast radius holds across running experiments: faulted containers stay eligible and count as affected', () => {
    // Six opted-in containers, three of them paused by single-target experiments already.
    const six = [c('a'), c('b'), c('c', undefined, false), c('d', undefined, false), c('e'), c('f', undefined, false)];
    const busy = new Set(['id-c', 'id-d', 'id-f']);
    const one = { ...input().request, target: { names: ['a'] } };
    expect(gate(input({ candidates: six, busy, request: one })).reasons).toEqual([
      'blast-radius: 1 of 6 eligible container(s), 3 more under experiments now; at most 1 (30 %, at least 1)',
    ]);
    // Ten opted-in containers, 30 % of 10 = 3: a single target fits beside one or two faulted
    // containers, not beside three.
    const ten = (faulted: string[]) => ({
      candidates: 'abcdefghij'.split('').map((n) => c(n, undefined, !faulted.includes(n))),
      busy: new Set(faulted.map((n) => `id-${n}`)),
      request: one,
    });
    expect(gate(input(ten(['c']))).allowed).toBe(true);
    expect(gate(input(ten(['c', 'd']))).allowed).toBe(true);
    expect(gate(input(ten(['c', 'd', 'f']))).reasons).toEqual([
      'blast-radius: 1 of 10 eligible container(s), 3 more under experiments now; at most 3 (30 %, at least 1)',
    ]);
  });

  it('refuses when nothing running matches, and lists every failing check at once', () => {
    const r = gate(
      input({
        request: { ...input().request, target: { names: ['ghost'] } },
        validation: { score: 3, completedAt: now },
        slos: [{ name: 'availability', remainingPercent: 5 }],
      }),
    );
    expect(r.allowed).toBe(false);
    expect(r.reasons).toEqual([
      'validation-score: latest score 3 (minimum 8)',
      'error-budget: below 20 % of budget: availability 5 %',
      'targets: no running container matches the target',
    ]);
    expect(
      gate(input({ candidates: [c('web-1', { 'vigil.chaos/enabled': 'true' }, false), ...fleet.slice(1)] })).reasons,
    ).toEqual(['targets: no running container matches the target']);
  });

  it('target.count picks that many of the matches, the same for the same seed, and the radius counts the pick', () => {
    const request = { ...input().request, target: { labels: { 'vigil.chaos/enabled': 'true' }, count: 1 } };
    const a = gate(input({ request, seed: 'req-1' }));
    expect(a.allowed).toBe(true);
    expect(a.targets).toHaveLength(1);
    expect(gate(input({ request, seed: 'req-1' })).targets).toEqual(a.targets);
    const picks = new Set(
      Array.from({ length: 50 }, (_, i) => gate(input({ request, seed: `s${i}` })).targets[0]!.name),
    );
    // Random over the eligible matches only: never the protected nats-1, never the unlabelled one.
    expect([...picks].sort()).toEqual(['api-1', 'api-2', 'web-1', 'web-2', 'worker-1', 'worker-2']);
    expect(gate(input({ request: { ...request, target: { ...request.target, count: 3 } } })).reasons).toEqual([
      expect.stringMatching(/^blast-radius: 3 of 6 eligible container\(s\); at most 1/),
    ]);
  });
});

describe('the gate at its boundaries (each pins one inequality: the mutants of issue 22)', () => {
  const passed = (r: ReturnType<typeof gate>, check: string) => r.checks.find((x) => x.check === check)?.passed;

  it('a score of exactly minScore (8) passes; just under does not', () => {
    expect(passed(gate(input({ validation: { score: 8, completedAt: now } })), 'validation-score')).toBe(true);
    expect(passed(gate(input({ validation: { score: 7.99, completedAt: now } })), 'validation-score')).toBe(false);
  });

  it('a budget of exactly minBudgetPercent (20 %) passes; just under does not', () => {
    expect(passed(gate(input({ slos: [{ name: 'availability', remainingPercent: 20 }] })), 'error-budget')).toBe(true);
    expect(passed(gate(input({ slos: [{ name: 'availability', remainingPercent: 19.99 }] })), 'error-budget')).toBe(
      false,
    );
  });

  it('a score exactly maxScoreAge (30 minutes) old passes; a millisecond older does not', () => {
    const aged = (ms: number) => input({ validation: { score: 9, completedAt: new Date(now.getTime() - ms) } });
    expect(passed(gate(aged(30 * 60_000)), 'validation-age')).toBe(true);
    expect(passed(gate(aged(30 * 60_000 + 1)), 'validation-age')).toBe(false);
  });

  it("a blackout's end is exclusive: 17:00 is outside 09:00-17:00, 16:59 and 09:00 inside", () => {
    const office = [{ days: ['wed'] as Weekday[], from: '09:00', to: '17:00' }];
    expect(activeBlackout(office, new Date('2026-11-25T17:00:00Z'))).toBeUndefined();
    expect(activeBlackout(office, new Date('2026-11-25T16:59:00Z'))).toBeDefined();
    expect(activeBlackout(office, new Date('2026-11-25T09:00:00Z'))).toBeDefined();
    // Past midnight too: 22:00-06:00 from Wednesday ends at Thursday 06:00.
    const night = [{ days: ['wed'] as Weekday[], from: '22:00', to: '06:00' }];
    expect(activeBlackout(night, new Date('2026-11-26T06:00:00Z'))).toBeUndefined();
    expect(activeBlackout(night, new Date('2026-11-26T05:59:00Z'))).toBeDefined();
  });

  it('every shipped protected name protects, redis among them', () => {
    for (const name of defaultPolicy.protectedNames) {
      const target = c(`shop-${name}-1`);
      const r = gate(
        input({ request: { ...input().request, target: { names: [target.name] } }, candidates: [target] }),
      );
      expect(passed(r, 'protected'), name).toBe(false);
    }
    expect(defaultPolicy.protectedNames).toEqual(['database', 'postgres', 'nats', 'registry', 'redis', 'jaeger']);
  });
});

describe('the gate, every message and count (mutation testing found these unpinned)', () => {
  const check = (r: ReturnType<typeof gate>, name: string) => r.checks.find((x) => x.check === name);

  it('says, of a request it lets through, what each check found', () => {
    const r = gate(input({ plan: planFor(input().request) }));
    expect(r.checks.map((x) => `${x.check}: ${x.message}`)).toEqual([
      'validation-score: latest score 9.2 (minimum 8)',
      'validation-age: latest validation 5 min old (maximum 30 min)',
      'error-budget: every SLO has at least 20 % of its budget (lowest 45.5 %)',
      'limits: within the policy limits',
      'blackout: outside every blackout window',
      'protected: no protected container selected',
      'opt-in: every target is labelled vigil.chaos/enabled=true',
      'targets: 1 running target(s)',
      'blast-radius: 1 of 6 eligible container(s); at most 1 (30 %, at least 1)',
      'one-at-a-time: no target is under another experiment',
    ]);
    const noOptIn = gate(input({ policy: { ...defaultPolicy, requireOptIn: false } }));
    expect(check(noOptIn, 'opt-in')?.message).toBe('opt-in not required by the policy');
  });

  it('names a loss over its cap', () => {
    const request = { ...input().request, kind: 'network-loss' as const, parameters: { lossPercent: 80 } };
    expect(gate(input({ request, plan: planFor(request) })).reasons).toEqual([
      `limits: parameters.lossPercent 80 is over ${defaultPolicy.limits.maxLossPercent} (policy.limits.maxLossPercent)`,
    ]);
  });

  it('reads blackout times to the minute, and the evening start of one past midnight', () => {
    const office = [{ days: ['wed'] as Weekday[], from: '09:30', to: '17:45' }];
    const at = (hhmm: string) => new Date(`2026-11-25T${hhmm}:00Z`);
    expect(['09:29', '09:30', '17:44', '17:45'].map((t) => activeBlackout(office, at(t)) !== undefined)).toEqual([
      false,
      true,
      true,
      false,
    ]);
    const night = [{ days: ['wed'] as Weekday[], from: '22:00', to: '06:00' }];
    expect(activeBlackout(night, at('22:00'))).toBeDefined();
    expect(activeBlackout(night, at('21:59'))).toBeUndefined();
    const inside = gate(
      input({ policy: { ...defaultPolicy, blackouts: [{ days: ['mon', 'wed'], from: '11:00', to: '13:00' }] } }),
    );
    expect(check(inside, 'blackout')).toMatchObject({ passed: false, value: 'mon,wed 11:00-13:00' });
  });

  it('knows every weekday by its name', () => {
    // 2026-11-22 is a Sunday.
    (['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as Weekday[]).forEach((day, i) => {
      const blackout = [{ days: [day], from: '00:00', to: '23:59' }];
      const date = new Date(Date.UTC(2026, 10, 22 + i, 12));
      expect(activeBlackout(blackout, date), day).toBeDefined();
      expect(activeBlackout(blackout, new Date(date.getTime() + 86_400_000)), `${day} + 1`).toBeUndefined();
    });
  });

  it('picks count targets by the request id, the same on every redelivery, and says what it left out', () => {
    const request = { ...input().request, target: { labels: { 'vigil.chaos/enabled': 'true' }, count: 2 } };
    const a = gate(input({ request, seed: 'request-a' }));
    expect(gate(input({ request, seed: 'request-a' })).targets).toEqual(a.targets);
    const names = (seed: string | undefined) =>
      gate(input({ request, ...(seed === undefined ? {} : { seed }) })).targets.map((t) => t.name);
    // The hash of the seed and each id decides: pinned, so that the hash cannot change unnoticed.
    expect([names('request-a'), names('request-b'), names(undefined)]).toEqual([
      ['worker-1', 'worker-2'],
      ['web-2', 'web-1'],
      ['worker-2', 'worker-1'],
    ]);
    expect(check(a, 'targets')?.message).toBe(
      '2 of 6 running eligible match(es), picked at random (count 2; 1 protected or not opted in left out)',
    );
  });

  it('counts in the blast radius containers under other experiments, not stopped ones nobody touches', () => {
    const stopped = Array.from({ length: 6 }, (_, i) => c(`idle-${i}`, { 'vigil.chaos/enabled': 'true' }, false));
    // 4 running eligible and 6 stopped: at most 1 (30 % of 4), not 3 (30 % of 10).
    const few = [c('a'), c('b'), c('c'), c('d'), ...stopped];
    const two = { ...input().request, target: { names: ['a', 'b'] } };
    expect(check(gate(input({ request: two, candidates: few })), 'blast-radius')).toMatchObject({
      passed: false,
      value: 2,
      message: '2 of 4 eligible container(s); at most 1 (30 %, at least 1)',
    });
    // One more under an experiment (stopped by it): it counts as eligible and as affected.
    const busy = new Set(['id-idle-0']);
    const one = { ...input().request, target: { names: ['a'] } };
    expect(check(gate(input({ request: one, candidates: few, busy })), 'blast-radius')).toMatchObject({
      passed: false,
      value: 2,
      message: '1 of 5 eligible container(s), 1 more under experiments now; at most 1 (30 %, at least 1)',
    });
  });

  it('with count, only the picked targets must be free; without, every match', () => {
    const request = { ...input().request, target: { labels: { app: 'web' }, count: 1 } };
    const picked = gate(input({ request, seed: 's' })).targets[0]!;
    const other = fleet.find((x) => x.labels['app'] === 'web' && x.id !== picked.id)!;
    expect(check(gate(input({ request, seed: 's', busy: new Set([other.id]) })), 'one-at-a-time')?.passed).toBe(true);
    const all = { ...input().request, target: { labels: { app: 'web' } } };
    expect(check(gate(input({ request: all, busy: new Set([other.id]) })), 'one-at-a-time')).toMatchObject({
      passed: false,
      value: 1,
      message: `already under an experiment: ${other.name}`,
    });
    const both = gate(
      input({ request: all, busy: new Set(fleet.filter((x) => x.labels['app'] === 'web').map((x) => x.id)) }),
    );
    expect(check(both, 'one-at-a-time')?.message).toBe('already under an experiment: web-1, web-2');
  });

  it('names the alias a protected name hides in, lists everyone not opted in, keeps the order of matches, and refuses a stopped match under another experiment', () => {
    const linked: Candidate = { ...c('app-db-1'), names: ['/web/database', 'app-db-1'] };
    const aliased = gate(
      input({ request: { ...input().request, target: { names: ['app-db-1'] } }, candidates: [linked] }),
    );
    expect(aliased.reasons).toContain(
      "protected: protected containers selected: app-db-1 (its name '/web/database' contains 'database')",
    );
    const own = gate(input({ request: { ...input().request, target: { names: ['nats-1'] } } }));
    expect(own.reasons).toContain("protected: protected containers selected: nats-1 (its name contains 'nats')");
    const shy = [c('shy-1', {}), c('shy-2', {})];
    const both = gate(
      input({ request: { ...input().request, target: { names: ['shy-1', 'shy-2'] } }, candidates: shy }),
    );
    expect(both.reasons).toContain('opt-in: not opted in (vigil.chaos/enabled=true): shy-1, shy-2');
    // Without count, every running match in the engine's order.
    const all = gate(
      input({
        request: { ...input().request, target: { labels: { 'vigil.chaos/enabled': 'true' } } },
        policy: { ...defaultPolicy, protectedNames: [] },
      }),
    );
    expect(all.targets.map((t) => t.name)).toEqual([
      'web-1',
      'web-2',
      'api-1',
      'api-2',
      'worker-1',
      'worker-2',
      'nats-1',
    ]);
    // A match an experiment stopped is not a target, and still busy.
    const stopped = c('web-3', { 'vigil.chaos/enabled': 'true', app: 'web' }, false);
    const busy = gate(
      input({
        request: { ...input().request, target: { labels: { app: 'web' } } },
        candidates: [...fleet, stopped],
        busy: new Set([stopped.id]),
      }),
    );
    expect(busy.reasons).toContain('one-at-a-time: already under an experiment: web-3');
  });
});
