/**
 * When scheduled suites run. Each suite's runs fall at a fixed phase of its interval, spread by
 * its name (as Prometheus spreads scrapes), so that suites with the same interval do not all run
 * at once, and every validator instance computes the same run times (one request per run).
 */

/** The phase (ms into each interval) of a suite's runs: a hash of its name, stable everywhere. */
export function phaseOf(name: string, everyMs: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h % everyMs;
}

/** The first run time at or after `from` (ms): the next instant at the suite's phase. */
export function nextRunAt(from: number, everyMs: number, phaseMs: number): number {
  return from + ((((phaseMs - from) % everyMs) + everyMs) % everyMs);
}

/**
 * The first run after a start at `startedAt`: at least one interval later, when the stack the
 * suite checks has settled (services starting with the validator are not yet ready), then at
 * the suite's phase.
 */
export function firstRunAt(startedAt: number, everyMs: number, phaseMs: number): number {
  return nextRunAt(startedAt + everyMs, everyMs, phaseMs);
}
