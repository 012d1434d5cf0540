import { Cron as Croner } from 'croner';
import { VigilError } from '@vigil/events';
import { blackoutSpans, type Blackout } from './gate.js';
import { instantOfWallTime, naiveWallTime } from './wallclock.js';

/**
 * A five-field cron expression (minute hour day-of-month month day-of-week) or an alias
 * (`@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`), read on the wall clock of a time zone
 * (UTC unless given). Parsing and matching are croner's. As in Vixie cron, day-of-month and
 * day-of-week both restricted mean either, a wall time that daylight saving skips does not fire,
 * and one it repeats fires twice.
 */
export interface Cron {
  readonly source: string;
  /** What croner reads: the source with `N/S` steps widened. */
  readonly pattern: string;
  /** croner's job for each time zone asked about, made on first use. */
  readonly byZone: Map<string, Croner>;
}

/** A cron expression that cannot be parsed; the message names the field and what is wrong. */
export class CronError extends VigilError {
  readonly code = 'CRON_INVALID';
}

const fieldNames = ['minute', 'hour', 'day-of-month', 'month', 'day-of-week'] as const;
const maxima = [59, 23, 31, 12, 7] as const;
/** What each field takes, for the error: croner's own words count days from 0. */
const takes = ['0-59', '0-23', '1-31', '1-12 or jan-dec', '0-7 or sun-sat (0 and 7 are Sunday)'] as const;

/** A parsed cron; its UTC job, made to check the pattern, is the first in the cache. */
function cronOf(source: string, pattern: string): Cron {
  return { source, pattern, byZone: new Map([['UTC', croner(pattern, 'UTC')]]) };
}

function croner(pattern: string, timeZone: string): Croner {
  // paused: a job that never runs; only its pattern is used.
  return new Croner(pattern, {
    // Stryker disable next-line BooleanLiteral: equivalent, croner schedules a job only when given a function, and none is
    paused: true,
    mode: '5-part',
    timezone: timeZone,
    domAndDow: false,
  });
}

const reasonOf = (e: unknown) =>
  // Stryker disable next-line Regex: equivalent, croner's messages hold their one "CronPattern: " at the start
  (e instanceof Error ? e.message : String(e)).replace(/^CronPattern: /, '');

/**
 * croner reads `5/20` (a start with a step, which Quartz and this service always accepted) as an
 * error; it is `5-59/20`.
 */
function widenSteps(fields: readonly string[]): string[] {
  return fields.map((f, i) =>
    f
      .split(',')
      .map((part) =>
        part.replace(/^(\w+)\/(\d+)$/, (_, start: string, step: string) => `${start}-${maxima[i]}/${step}`),
      )
      .join(','),
  );
}

/**
 * Which field croner refuses, found by trying each alone with the others `*`, so the error names
 * the field whatever croner's wording.
 */
function fieldError(fields: readonly string[], given: readonly string[], whole: unknown): CronError {
  for (const i of fields.keys()) {
    const probe = fields.map((f, j) => (j === i ? f : '*')).join(' ');
    try {
      // Stryker disable next-line StringLiteral: equivalent, whether a pattern parses does not depend on the zone
      croner(probe, 'UTC');
    } catch (e) {
      return new CronError(
        `${fieldNames[i]} field: '${given[i]}' is invalid (${reasonOf(e)}); it takes ${takes[i]}, as lists, ranges and steps`,
      );
    }
  }
  return new CronError(reasonOf(whole));
}

export function parseCron(expression: string): Cron {
  const source = expression.trim();
  if (source.startsWith('@')) {
    try {
      return cronOf(source, source);
    } catch {
      throw new CronError(`'${expression}' is not one of @hourly/@daily/@midnight/@weekly/@monthly/@yearly/@annually`);
    }
  }
  const given = source.split(/\s+/);
  if (given.length !== 5) {
    throw new CronError(
      `'${expression}' has ${given.length} field(s); a cron expression has 5 (minute hour day-of-month month day-of-week) or is @hourly/@daily/@weekly/@monthly/@yearly`,
    );
  }
  const fields = widenSteps(given);
  try {
    return cronOf(source, fields.join(' '));
  } catch (e) {
    throw fieldError(fields, given, e);
  }
}

function inZone(c: Cron, timeZone: string): Croner {
  let job = c.byZone.get(timeZone);
  if (job === undefined) {
    job = croner(c.pattern, timeZone);
    c.byZone.set(timeZone, job);
  }
  return job;
}

/** Whether the cron fires in the minute that starts at `at`, on the clock of `timeZone`. */
export function cronMatches(c: Cron, at: Date, timeZone = 'UTC'): boolean {
  return inZone(c, timeZone).match(at);
}

const MINUTE = 60_000;

/**
 * The first minute at or after `from` the cron fires in on the clock of `timeZone`, looking ahead
 * at most `horizonDays`.
 */
export function nextFire(c: Cron, from: Date, horizonDays = 366 * 5, timeZone = 'UTC'): Date | undefined {
  const job = inZone(c, timeZone);
  const end = from.getTime() + horizonDays * 86_400_000;
  // croner's next run is strictly after its argument.
  let at: Date | null = new Date(Math.ceil(from.getTime() / MINUTE) * MINUTE - 1);
  for (;;) {
    at = job.nextRun(at);
    if (at === null || at.getTime() >= end) return undefined;
    // croner moves a wall time that daylight saving skips to the next hour; cron skips it.
    if (job.match(at)) return at;
  }
}

/**
 * The first time within four years from `from` (1,462 days from its day) that the cron fires
 * inside a blackout, if any. Blackouts repeat weekly and cron fields within the calendar, so four
 * years include every clash but one of a cron firing only on 29 February with a blackout on some
 * weekdays: that weekday's 29 February can be up to 28 years away. Both are read on the wall clock, so the search runs on it (written as UTC), a
 * day at a time over the blackouts' spans rather than fire by fire: a schedule firing every minute
 * outside the blackouts costs as little as a weekly one.
 */
export function firstFireInBlackout(
  c: Cron,
  blackouts: readonly Blackout[],
  from: Date,
  timeZone = 'UTC',
): { at: Date; blackout: Blackout } | undefined {
  // Stryker disable next-line ConditionalExpression: equivalent, without blackouts the day walk finds nothing too; this saves its 1,462 days
  if (blackouts.length === 0) return undefined;
  const onWall = inZone(c, 'UTC');
  const start = naiveWallTime(from, timeZone);
  const firstDay = Math.floor(start / DAY) * DAY;
  for (let day = firstDay; day < firstDay + 1462 * DAY; day += DAY) {
    let first: { at: Date; blackout: Blackout } | undefined;
    for (const blackout of blackouts) {
      for (const [f, t] of blackoutSpans(blackout, new Date(day).getUTCDay())) {
        const at = firstFireBetween(onWall, Math.max(day + f * MINUTE, start), day + t * MINUTE, timeZone);
        if (at !== undefined && (first === undefined || at < first.at)) first = { at, blackout };
      }
    }
    if (first !== undefined) return first;
  }
  return undefined;
}

/** The first instant the cron fires at a wall time in [from, to), skipping wall times that do not occur. */
function firstFireBetween(onWall: Croner, from: number, to: number, timeZone: string): Date | undefined {
  // croner's next run is strictly after its argument.
  let t = from - 1;
  for (;;) {
    const next = onWall.nextRun(new Date(t));
    if (next === null || next.getTime() >= to) return undefined;
    const at = instantOfWallTime(next.getTime(), timeZone);
    if (at !== undefined) return at;
    t = next.getTime();
  }
}

const DAY = 86_400_000;
