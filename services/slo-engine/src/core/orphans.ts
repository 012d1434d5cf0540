import type { EventData } from '@vigil/events';
import type { Severity } from '../config/slo.js';

/** An alert episode the stream says fires: its last `firing` event was never followed by `resolved`. */
export interface OpenEpisode {
  readonly slo: string;
  readonly severity: Severity;
  /** When the episode began (ms); with slo and severity it names the episode. */
  readonly since: number;
  /** The data of its last `firing` event (the first, or a renotification). */
  readonly last: EventData<'slo.burn'>;
  /** That event's time: the minute whose evaluation emitted it (ms). */
  readonly firedAt: number;
}

const episodeKey = (slo: string, severity: string, since: number) => `${slo}\u0000${severity}\u0000${since}`;

/**
 * The episodes left firing by `slo.burn` events in stream order: a `resolved` event closes the
 * episode of its slo, severity and since; anything later of a closed episode reopens it.
 */
export function openEpisodes(
  events: Iterable<{ readonly data: EventData<'slo.burn'>; readonly time: string }>,
): OpenEpisode[] {
  const open = new Map<string, OpenEpisode>();
  for (const { data, time } of events) {
    const since = Date.parse(data.since);
    const key = episodeKey(data.slo, data.severity, since);
    if (data.state === 'resolved') open.delete(key);
    else open.set(key, { slo: data.slo, severity: data.severity, since, last: data, firedAt: Date.parse(time) });
  }
  return [...open.values()];
}

/** What the engine's own state says of one SLO. */
export interface EngineView {
  /** The SLO is in the configuration (something evaluates it). */
  readonly configured: boolean;
  /** The `since` of the alert it holds at the episode's severity, if one fires. */
  readonly heldSince: number | undefined;
  /** The last minute it evaluated (ms); undefined when it never did. */
  readonly evaluatedAt: number | undefined;
}

export type OrphanReason = 'unconfigured' | 'forgotten';

/**
 * Why an episode the stream says fires will never be resolved by an evaluation, or undefined when
 * one will. The engine resolves what it holds; an episode it does not hold is an orphan when its
 * SLO is gone from the configuration, or when the engine never evaluated the minute that fired it
 * (a new database, or one restored from before). When it evaluated that minute or a later one and
 * holds nothing, its own evaluation resolved the episode and that event is on its way.
 */
export function orphanReason(episode: OpenEpisode, view: EngineView): OrphanReason | undefined {
  if (view.heldSince === episode.since) return undefined;
  if (!view.configured) return 'unconfigured';
  if (view.evaluatedAt === undefined || view.evaluatedAt < episode.firedAt) return 'forgotten';
  return undefined;
}

/** The data of the `slo.burn` that resolves an orphaned episode at `now`. */
export function orphanResolution(episode: OpenEpisode, reason: OrphanReason, now: number): EventData<'slo.burn'> {
  const explanation =
    reason === 'unconfigured'
      ? `Resolved without a reading: SLO ${episode.slo} is no longer configured, so nothing evaluates this alert any more.`
      : `Resolved without a reading: the slo-engine holds no such alert (its database is new, or older than the alert). ` +
        `If the burn goes on, the next evaluations fire it again once their windows hold enough minutes.`;
  return { ...episode.last, state: 'resolved', explanation, resolvedAt: new Date(now).toISOString() };
}
