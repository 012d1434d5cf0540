import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigFileError } from '@vigil/service-kit';
import { defaultPolicy } from '../core/gate.js';
import { parseChaosConfig } from './chaos.js';

const shipped = fileURLToPath(new URL('../../../../config/chaos.yaml', import.meta.url));

describe('chaos config', () => {
  it('the shipped file is the seed policy; an empty file means the defaults', async () => {
    expect(parseChaosConfig(await readFile(shipped, 'utf8'), shipped).policy).toEqual(defaultPolicy);
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
      /c\.yaml: policy\.blackouts\[0\]\.from: must be a time HH:MM \(UTC\)/,
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
    ['a blast radius of 0', 'policy: { maxBlastRadiusPercent: 0 }', /c\.yaml: policy\.maxBlastRadiusPercent: /],
    ['an unknown field', 'policy: { yolo: true }', /c\.yaml: policy: unknown field yolo/],
  ])('%s is refused, naming the file and the field', (_, text, message) => {
    expect(() => parseChaosConfig(text, 'c.yaml')).toThrow(ConfigFileError);
    expect(() => parseChaosConfig(text, 'c.yaml')).toThrow(message);
  });
});
