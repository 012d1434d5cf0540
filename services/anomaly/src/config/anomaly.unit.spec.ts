import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createEvent, type VigilEvent } from '@vigil/events';
import { samples } from '@vigil/events/testing';
import { ConfigFileError } from '@vigil/service-kit';
import { defaultDetectorOptions } from '../core/detector.js';
import { pointsOf } from '../core/points.js';
import { detectorOptions, parseAnomalyConfig } from './anomaly.js';

const shipped = fileURLToPath(new URL('../../../../config/anomaly.yaml', import.meta.url));

describe('anomaly config', () => {
  it('the shipped file: the default detector and the five series of the issue', async () => {
    const c = parseAnomalyConfig(await readFile(shipped, 'utf8'), shipped);
    expect(detectorOptions(c)).toEqual(defaultDetectorOptions);
    expect(c.series.map((s) => s.name)).toEqual([
      'component-score',
      'check-duration',
      'slo-burn-rate',
      'sli-value',
      'events-per-minute',
    ]);
    const now = Date.parse('2026-11-22T12:00:00Z');
    const completed = createEvent('validation.completed', samples['validation.completed'], {
      source: 't',
      time: '2026-11-22T10:00:01.250Z',
    }) as VigilEvent;
    expect(pointsOf(c, completed, now)).toEqual([
      { series: 'component-score/vigil-self/event_bus', at: Date.parse('2026-11-22T10:00:01.250Z'), value: 8.5 },
      {
        series: 'check-duration/vigil-self/event_bus/nats reachable',
        at: Date.parse('2026-11-22T10:00:01.250Z'),
        value: 3,
      },
    ]);
    const burn = createEvent('slo.burn', samples['slo.burn'], {
      source: 't',
      time: '2026-11-22T11:00:00Z',
    }) as VigilEvent;
    expect(pointsOf(c, burn, now)).toEqual([
      { series: 'slo-burn-rate/availability/1h', at: Date.parse('2026-11-22T11:00:00Z'), value: 15.2 },
    ]);
    const counts = createEvent(
      'sli.observed',
      { sli: 'a', service: 'b', good: 1, total: 2 },
      { source: 't' },
    ) as VigilEvent;
    expect(pointsOf(c, counts, now)).toEqual([]);
  });

  it.each([
    [
      'an unknown field',
      'series: [{ name: a, rate: { per: type } }]\nowner: me',
      /x\.yaml: \(file\): unknown field owner/,
    ],
    ['no series', 'series: []', /x\.yaml: series: needs at least one series/],
    [
      'each window on another type',
      'series: [{ name: a, events: { type: sli.observed, each: window, value: v } }]',
      /x\.yaml: series\[0\]\.events\.each: window does not apply to sli\.observed/,
    ],
    [
      'a value field a window does not have',
      'series: [{ name: a, events: { type: slo.burn, each: window, value: burnRateLonger, key: [slo] } }]',
      /x\.yaml: series\[0\]\.events\.value: 'burnRateLonger' is not a field of each window of slo\.burn \(fields: long, short, burnRateLong, .*\)/,
    ],
    [
      'a key field a component does not have',
      'series: [{ name: a, events: { type: validation.completed, each: component, value: score, key: [suite, nme] } }]',
      /x\.yaml: series\[0\]\.events\.key\[1\]: 'nme' is not a field of each component of validation\.completed/,
    ],
    [
      'a name twice',
      'series: [{ name: a, rate: { per: type } }, { name: a, rate: { per: type } }]',
      /x\.yaml: series\[1\]\.name: 'a' appears twice/,
    ],
    [
      'contamination over 0.5',
      'detector: { contamination: 0.6 }\nseries: [{ name: a, rate: { per: type } }]',
      /x\.yaml: detector\.contamination: /,
    ],
    [
      'a threshold of 1',
      'detector: { threshold: 1 }\nseries: [{ name: a, rate: { per: type } }]',
      /x\.yaml: detector\.threshold: /,
    ],
    [
      'a bad gap',
      'detector: { minGap: soon }\nseries: [{ name: a, rate: { per: type } }]',
      /x\.yaml: detector\.minGap: /,
    ],
    [
      'training smaller than warm-up',
      'detector: { warmup: 200, trainingSize: 100 }\nseries: [{ name: a, rate: { per: type } }]',
      /x\.yaml: detector\.trainingSize: must be at least warmup/,
    ],
  ])('%s is refused, naming the file and the field', (_, text, message) => {
    expect(() => parseAnomalyConfig(text, 'x.yaml')).toThrow(ConfigFileError);
    expect(() => parseAnomalyConfig(text, 'x.yaml')).toThrow(message);
  });
});

describe('points of an event', () => {
  const now = Date.parse('2026-11-22T12:00:00Z');
  const parsed = parseAnomalyConfig(
    'series:\n  - name: sli\n    events: { type: sli.observed, value: value, key: [service, sli, unit] }\n',
    'p.yaml',
  );
  const own = parsed.series[0]!;
  if (!('events' in own)) throw new Error('an event series');
  // Built past the file's checks: the series of another type reads a field this event has, and
  // keys name fields of every kind, so that only pointsOf's own rules decide.
  const config = {
    ...parsed,
    series: [
      { ...own, events: { ...own.events, key: ['service', 'sli', 'unit', 'flag', 'missing'] } },
      { ...own, name: 'burn', events: { ...own.events, type: 'slo.burn' } },
    ],
  } as typeof parsed;
  const sli = (data: Record<string, unknown>) =>
    ({
      ...createEvent('sli.observed', samples['sli.observed'], { source: 't', time: '2026-11-22T11:00:00Z' }),
      data: { ...samples['sli.observed'], ...data },
    }) as VigilEvent;

  it('only the series of the event’s own type, keyed by each field as text, "-" where there is none', () => {
    expect(pointsOf(config, sli({ unit: 7, flag: true }), now)).toEqual([
      { series: 'sli/api/latency/7/true/-', at: Date.parse('2026-11-22T11:00:00Z'), value: 87 },
    ]);
    expect(pointsOf(config, sli({ unit: 'ms', flag: false, missing: { a: 1 } }), now)).toEqual([
      { series: 'sli/api/latency/ms/false/-', at: Date.parse('2026-11-22T11:00:00Z'), value: 87 },
    ]);
  });

  it('a value that is not a finite number adds no point', () => {
    for (const value of ['87', true, null, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(pointsOf(config, sli({ value }), now)).toEqual([]);
    }
  });
});
