import { activeBlackout, type Blackout } from './gate.js';
import { wallClock, type WallClock } from './wallclock.js';
import { VigilError } from '@vigil/events';

/**
 * A five-field cron expression (minute hour day-of-month month day-of-week), evaluated on the wall
 * clock of a time zone (UTC unless given). As in Vixie cron, a wall time that daylight saving
 * skips does not fire, and one it repeats fires twice.
 */
export interface Cron {
  readonly source: string;
  readonly minutes: ReadonlySet<number>;
  readonly hours: ReadonlySet<number>;
  readonly days: ReadonlySet<number>;
  readonly months: ReadonlySet<number>;
  readonly weekdays: ReadonlySet<number>;
  /** Day-of-month and day-of-week both restricted: either may match (as in Vixie cron). */
  readonly dayOr: boolean;
}

/** A cron expression that cannot be parsed; the message names the field and what is wrong. */
export class CronError extends VigilError {
  readonly code = 'CRON_INVALID';
}

const aliases: Record<string, string> = {
  '@hourly': '0 * * * *',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@weekly': '0 0 * * 0',
  '@monthly': '0 0 1 * *',
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
};
const monthNames = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const dayNames = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

interface Field {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
  /** Name index → value (months count from 1). */
  readonly base?: number;
}
const fields: readonly Field[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: monthNames, base: 1 },
  // 7 is Sunday too.
  { name: 'day-of-week', min: 0, max: 7, names: dayNames, base: 0 },
];

function value(f: Field, text: string): number {
  const i = f.names?.indexOf(text.toLowerCase()) ?? -1;
  if (i >= 0) return i + (f.base ?? 0);
  if (!/^\d+$/.test(text))
    throw new CronError(`${f.name} field: '${text}' is not a number${f.names ? ' or a name' : ''}`);
  const n = Number(text);
  if (n < f.min || n > f.max) throw new CronError(`${f.name} field: ${n} is outside ${f.min}-${f.max}`);
  return n;
}

function parseField(f: Field, text: string): Set<number> {
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const [range = '', stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1)
      throw new CronError(`${f.name} field: step '${stepText}' must be a positive integer`);
    let from: number;
    let to: number;
    if (range === '*') {
      from = f.min;
      to = f.max;
    } else if (range.includes('-')) {
      const [a = '', b = ''] = range.split('-');
      from = value(f, a);
      to = value(f, b);
      if (from > to) throw new CronError(`${f.name} field: range ${range} runs backwards`);
    } else {
      from = value(f, range);
      to = stepText === undefined ? from : f.max;
    }
    for (let v = from; v <= to; v += step) out.add(f.name === 'day-of-week' && v === 7 ? 0 : v);
  }
  return out;
}

export function parseCron(expression: string): Cron {
  const source = expression.trim();
  const parts = (aliases[source.toLowerCase()] ?? source).split(/\s+/);
  if (parts.length !== 5) {
    throw new CronError(
      `'${expression}' has ${parts.length} field(s); a cron expression has 5 (minute hour day-of-month month day-of-week) or is @hourly/@daily/@weekly/@monthly/@yearly`,
    );
  }
  const [minutes, hours, days, months, weekdays] = fields.map((f, i) => parseField(f, parts[i] as string)) as [
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
  ];
  return { source, minutes, hours, days, months, weekdays, dayOr: parts[2] !== '*' && parts[4] !== '*' };
}

function dayMatches(c: Cron, w: WallClock): boolean {
  if (!c.months.has(w.month)) return false;
  const dom = c.days.has(w.day);
  const dow = c.weekdays.has(w.weekday);
  return c.dayOr ? dom || dow : dom && dow;
}

function wallMatches(c: Cron, w: WallClock): boolean {
  return c.minutes.has(w.minute) && c.hours.has(w.hour) && dayMatches(c, w);
}

/** Whether the cron fires in the minute that starts at `at`, on the clock of `timeZone`. */
export function cronMatches(c: Cron, at: Date, timeZone = 'UTC'): boolean {
  return wallMatches(c, wallClock(at, timeZone));
}

const MINUTE = 60_000;

/**
 * The first minute at or after `from` the cron fires in on the clock of `timeZone`, looking ahead
 * at most `horizonDays`.
 */
export function nextFire(c: Cron, from: Date, horizonDays = 366 * 5, timeZone = 'UTC'): Date | undefined {
  let t = Math.ceil(from.getTime() / MINUTE) * MINUTE;
  const end = t + horizonDays * 86_400_000;
  while (t < end) {
    const w = wallClock(new Date(t), timeZone);
    // Reading the wall clock is the cost (Intl), so whole days and hours that cannot match are
    // skipped. A day is skipped to 23:00 of its wall clock at most, never past the next midnight,
    // which a day shortened by daylight saving time would otherwise overshoot.
    if (!dayMatches(c, w)) {
      t += (w.hour < 23 ? (23 - w.hour) * 60 - w.minute : 60 - w.minute) * MINUTE;
      continue;
    }
    // A zone half an hour off UTC turns its hours at :30 UTC: steps are in wall-clock minutes.
    if (!c.hours.has(w.hour)) {
      t += (60 - w.minute) * MINUTE;
      continue;
    }
    if (c.minutes.has(w.minute)) return new Date(t);
    let next = w.minute + 1;
    while (next < 60 && !c.minutes.has(next)) next++;
    t += (next - w.minute) * MINUTE;
  }
  return undefined;
}

/**
 * The first time within four years from `from` that the cron fires inside a blackout, if any.
 * Blackouts repeat weekly and cron fields within the calendar, so four years include every clash,
 * leap days too.
 */
export function firstFireInBlackout(
  c: Cron,
  blackouts: readonly Blackout[],
  from: Date,
  timeZone = 'UTC',
): { at: Date; blackout: Blackout } | undefined {
  if (blackouts.length === 0) return undefined;
  const end = from.getTime() + 1461 * 86_400_000;
  let at = nextFire(c, from, 1462, timeZone);
  while (at !== undefined && at.getTime() < end) {
    const blackout = activeBlackout(blackouts, at, timeZone);
    if (blackout !== undefined) return { at, blackout };
    at = nextFire(c, new Date(at.getTime() + MINUTE), 1462, timeZone);
  }
  return undefined;
}
