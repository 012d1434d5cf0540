import { beforeAll, describe, expect, it } from 'vitest';
import type { EventData } from '@vigil/events';
import { openEpisodes, orphanReason, orphanResolution, type OpenEpisode } from './orphans.js';

const T = Date.parse('2026-12-01T10:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

function burn(
  state: 'firing' | 'resolved',
  o: { slo?: string; severity?: 'page' | 'ticket'; since?: number; budget?: number } = {},
): EventData<'slo.burn'> {
  return {
    slo: o.slo ?? 'checkout',
    service: 'shop',
    state,
    severity: o.severity ?? 'page',
    objective: 99.9,
    windows: [{ long: '1h', short: '5m', burnRateLong: 20, burnRateShort: 20, threshold: 14.4 }],
    budgetRemaining: o.budget ?? 0.5,
    explanation: `${state} because`,
    since: iso(o.since ?? T),
    ...(state === 'resolved' ? { resolvedAt: iso((o.since ?? T) + 3_600_000) } : {}),
  };
}

const at = (data: EventData<'slo.burn'>, ms: number) => ({ data, time: iso(ms) });

describe('openEpisodes', () => {
  it('keeps an episode whose last event fires, with that event (a renotification replaces the first)', () => {
    const open = openEpisodes([at(burn('firing'), T), at(burn('firing', { budget: 0.2 }), T + 3_600_000)]);
    expect(open).toHaveLength(1);
    expect(open[0]).toMatchObject({ slo: 'checkout', severity: 'page', since: T, firedAt: T + 3_600_000 });
    expect(open[0]!.last.budgetRemaining).toBe(0.2);
  });

  it('a resolution closes only the episode of its slo, severity and since', () => {
    const open = openEpisodes([
      at(burn('firing'), T),
      at(burn('firing', { severity: 'ticket' }), T),
      at(burn('firing', { slo: 'search' }), T),
      at(burn('firing', { since: T + 60_000 }), T + 60_000),
      at(burn('resolved'), T + 120_000),
    ]);
    expect(open.map((e) => [e.slo, e.severity, e.since])).toEqual([
      ['checkout', 'ticket', T],
      ['search', 'page', T],
      ['checkout', 'page', T + 60_000],
    ]);
  });

  it('nothing is open when every episode was resolved, nor for a resolution alone', () => {
    expect(openEpisodes([at(burn('firing'), T), at(burn('resolved'), T + 60_000)])).toEqual([]);
    expect(openEpisodes([at(burn('resolved'), T)])).toEqual([]);
    expect(openEpisodes([])).toEqual([]);
  });
});

describe('orphanReason', () => {
  // Made before the tests, not while they are collected: a failure there must fail a test.
  let episode: OpenEpisode;
  beforeAll(() => {
    [episode] = openEpisodes([at(burn('firing'), T + 5 * 60_000)]) as [OpenEpisode];
  });

  it('an episode the engine holds is not an orphan, configured or not, however old its evaluations', () => {
    expect(orphanReason(episode, { configured: true, heldSince: T, evaluatedAt: undefined })).toBeUndefined();
    expect(orphanReason(episode, { configured: false, heldSince: T, evaluatedAt: 0 })).toBeUndefined();
  });

  it('an SLO no longer configured: nothing will evaluate it', () => {
    expect(orphanReason(episode, { configured: false, heldSince: undefined, evaluatedAt: T + 3_600_000 })).toBe(
      'unconfigured',
    );
  });

  it('an engine that never evaluated the minute that fired it (a new database, an older one) forgot it', () => {
    expect(orphanReason(episode, { configured: true, heldSince: undefined, evaluatedAt: undefined })).toBe('forgotten');
    expect(orphanReason(episode, { configured: true, heldSince: undefined, evaluatedAt: T + 4 * 60_000 })).toBe(
      'forgotten',
    );
    // It holds an episode of the same alert that began later: this one is still its own orphan.
    expect(orphanReason(episode, { configured: true, heldSince: T + 60_000, evaluatedAt: T + 2 * 60_000 })).toBe(
      'forgotten',
    );
  });

  it('an engine that evaluated that minute or later and holds nothing resolved it itself (the event is on its way)', () => {
    expect(
      orphanReason(episode, { configured: true, heldSince: undefined, evaluatedAt: T + 5 * 60_000 }),
    ).toBeUndefined();
    expect(
      orphanReason(episode, { configured: true, heldSince: undefined, evaluatedAt: T + 6 * 60_000 }),
    ).toBeUndefined();
  });
});

describe('orphanResolution', () => {
  let episode: OpenEpisode;
  beforeAll(() => {
    [episode] = openEpisodes([at(burn('firing', { budget: 0.25 }), T)]) as [OpenEpisode];
  });

  it('resolves the episode at now, with its last numbers and a reason a reader can act on', () => {
    const now = T + 7_200_000;
    const forgotten = orphanResolution(episode, 'forgotten', now);
    expect(forgotten).toMatchObject({
      slo: 'checkout',
      severity: 'page',
      state: 'resolved',
      since: iso(T),
      resolvedAt: iso(now),
      budgetRemaining: 0.25,
      windows: episode.last.windows,
    });
    expect(forgotten.explanation).toBe(
      'Resolved without a reading: the slo-engine holds no such alert (its database is new, or older than the alert). ' +
        'If the burn goes on, the next evaluations fire it again once their windows hold enough minutes.',
    );
    expect(orphanResolution(episode, 'unconfigured', now).explanation).toMatch(/SLO checkout is no longer configured/);
  });
});
