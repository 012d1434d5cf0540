import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigFileError } from '@vigil/service-kit';
import { defaultPolicy } from '../core/gate.js';
import { parseChaosConfig } from './chaos.js';

const shipped = fileURLToPath(new URL('../../../../config/chaos.yaml', import.meta.url));

describe('chaos config', () => {
  it('the shipped file is the seed policy; an empty file means the defaults', async () => {
    const seed = parseChaosConfig(await readFile(shipped, 'utf8'), shipped);
    // The seed keeps experiments out of working hours; a file that names no blackouts has none.
    expect(seed.policy).toEqual({
      ...defaultPolicy,
      blackouts: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '09:00', to: '17:00' }],
    });
    expect(seed.verification).toEqual({ timeout: 60_000, suite: 'vigil-self', validationTimeout: 120_000 });
    expect(seed.schedules).toMatchObject([
      {
        name: 'weekly-pause',
        enabled: true,
        cron: { source: '0 18 * * wed' },
        request: {
          kind: 'container-pause',
          target: { labels: { 'vigil.chaos/enabled': 'true' }, count: 1 },
          durationSeconds: 60,
          parameters: {},
          dryRun: false,
          requestedBy: 'schedule:weekly-pause',
          reason: 'weekly game day',
        },
      },
    ]);
    expect(parseChaosConfig('{}', 'c.yaml').policy).toEqual(defaultPolicy);
    expect(
      parseChaosConfig(
        'policy: { maxScoreAge: 1h, blackouts: [{ days: [sat, sun], from: "00:00", to: "23:59" }] }',
        'c.yaml',
      ).policy,
    ).toMatchObject({
      maxScoreAgeMs: 3_600_000,
      blackouts: [{ days: ['sat', 'sun'], from: '00:00', to: '23:59' }],
    });
  });

  it.each([
    ['a score over 10', 'policy: { minScore: 11 }', /c\.yaml: policy\.minScore: /],
    [
      'a bad time',
      'policy: { blackouts: [{ days: [mon], from: "25:00", to: "02:00" }] }',
      /c\.yaml: policy\.blackouts\[0\]\.from: must be a time HH:MM/,
    ],
    [
      'an unknown day',
      'policy: { blackouts: [{ days: [funday], from: "01:00", to: "02:00" }] }',
      /c\.yaml: policy\.blackouts\[0\]\.days\[0\]: /,
    ],
    [
      'an empty window',
      'policy: { blackouts: [{ days: [mon], from: "01:00", to: "01:00" }] }',
      /c\.yaml: policy\.blackouts\[0\]\.to: from and to must differ/,
    ],
    [
      'an unknown time zone',
      'policy: { timeZone: Mars/Olympus }',
      /c\.yaml: policy\.timeZone: must be an IANA time zone such as UTC or Europe\/Berlin/,
    ],
    [
      'a schedule inside the blackout of its time zone',
      `policy: { timeZone: America/Los_Angeles, blackouts: [{ days: [wed], from: "09:00", to: "17:00" }] }
schedules: [{ name: w, cron: "0 10 * * wed", request: { kind: container-pause, target: { names: [a] }, durationSeconds: 1 } }]`,
      /c\.yaml: schedules\[0\]\.cron: '0 10 \* \* wed' fires at .*, inside the blackout wed 09:00-17:00 America\/Los_Angeles/,
    ],
    ['a blast radius of 0', 'policy: { maxBlastRadiusPercent: 0 }', /c\.yaml: policy\.maxBlastRadiusPercent: /],
    ['an unknown field', 'policy: { yolo: true }', /c\.yaml: policy: unknown field yolo/],
    [
      'a bad cron',
      'schedules: [{ name: w, cron: "0 25 * * *", request: { kind: container-pause, target: { names: [a] }, durationSeconds: 1 } }]',
      /c\.yaml: schedules\[0\]\.cron: hour field: '25' is invalid \(.*\); it takes 0-23/,
    ],
    [
      'a request of an unknown kind',
      'schedules: [{ name: w, cron: "@daily", request: { kind: container-melt, target: { names: [a] }, durationSeconds: 1 } }]',
      /c\.yaml: schedules\[0\]\.request\.kind: /,
    ],
    [
      'a request without a target',
      'schedules: [{ name: w, cron: "@daily", request: { kind: container-pause, target: {}, durationSeconds: 1 } }]',
      /c\.yaml: schedules\[0\]\.request\.target: needs names or labels/,
    ],
    [
      'a schedule named twice',
      'schedules: [{ name: w, cron: "@daily", request: { kind: container-pause, target: { names: [a] }, durationSeconds: 1 } }, { name: w, cron: "@weekly", request: { kind: container-pause, target: { names: [a] }, durationSeconds: 1 } }]',
      /c\.yaml: schedules\[1\]\.name: 'w' is defined twice/,
    ],
    [
      'a schedule inside a blackout',
      `policy: { blackouts: [{ days: [wed], from: "09:00", to: "17:00" }] }
schedules: [{ name: w, cron: "0 10 * * wed", request: { kind: container-pause, target: { names: [a] }, durationSeconds: 1 } }]`,
      /c\.yaml: schedules\[0\]\.cron: '0 10 \* \* wed' fires at \d{4}-\d\d-\d\dT10:00:00\.000Z, inside the blackout wed 09:00-17:00 UTC/,
    ],
  ])('%s is refused, naming the file and the field', (_, text, message) => {
    expect(() => parseChaosConfig(text, 'c.yaml')).toThrow(ConfigFileError);
    expect(() => parseChaosConfig(text, 'c.yaml')).toThrow(message);
  });
});

describe('schedules and blackouts', () => {
  it('a disabled schedule may sit in a blackout; one outside every blackout is fine', () => {
    const text = (
      enabled: boolean,
      cron: string,
    ) => `policy: { blackouts: [{ days: [wed], from: "09:00", to: "17:00" }] }
schedules: [{ name: w, enabled: ${enabled}, cron: "${cron}", request: { kind: container-pause, target: { names: [a] }, durationSeconds: 1 } }]`;
    expect(parseChaosConfig(text(false, '0 10 * * wed'), 'c.yaml').schedules).toHaveLength(1);
    expect(parseChaosConfig(text(true, '0 18 * * wed'), 'c.yaml').schedules).toHaveLength(1);
  });
  it('refuses an enabled schedule over the policy limits at load, naming the cap', () => {
    expect(() =>
      parseChaosConfig(
        'schedules: [{ name: w, cron: "0 18 * * wed", request: { kind: memory-stress, target: { names: [a] }, durationSeconds: 60, parameters: { memoryMb: 1024 } } }]',
        'chaos.yaml',
      ),
    ).toThrow('chaos.yaml: schedules[0].request: parameters.memoryMb 1024 is over 256 (policy.limits.maxMemoryMb)');
  });
});
