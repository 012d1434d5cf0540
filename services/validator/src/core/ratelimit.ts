/**
 * Requests per requester as token buckets, a function of values and `now`: each requester may
 * send `burst` requests at once, then `perMinute` a minute. A suite run can cost a process spawn
 * and a file scan, so one requester must not be able to queue unbounded work.
 */
export interface RateLimit {
  /** Sustained requests a minute per requester. */
  readonly perMinute: number;
  /** Requests a requester may send at once. */
  readonly burst: number;
}

export interface Buckets {
  readonly tokens: Map<string, { level: number; at: number }>;
}

/** How many requesters are remembered; past it, the ones idle longest are forgotten (full again). */
const MAX_REQUESTERS = 10_000;

export function createBuckets(): Buckets {
  return { tokens: new Map() };
}

/** Takes one token for `requester` at `now` (ms); false when its bucket is empty. */
export function take(b: Buckets, limit: RateLimit, requester: string, now: number): boolean {
  const prev = b.tokens.get(requester);
  const refill = prev === undefined ? limit.burst : ((now - prev.at) / 60_000) * limit.perMinute;
  const level = Math.min(limit.burst, (prev?.level ?? 0) + refill);
  // Re-inserted, so the map's order is least recently seen first.
  b.tokens.delete(requester);
  if (level < 1) {
    b.tokens.set(requester, { level, at: now });
    return false;
  }
  b.tokens.set(requester, { level: level - 1, at: now });
  while (b.tokens.size > MAX_REQUESTERS) b.tokens.delete(b.tokens.keys().next().value as string);
  return true;
}
