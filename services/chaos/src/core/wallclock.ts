/** The date and time a clock on the wall of `timeZone` shows at one instant. */
export interface WallClock {
  readonly year: number;
  /** 1-12 */
  readonly month: number;
  /** 1-31 */
  readonly day: number;
  /** 0-23 */
  readonly hour: number;
  readonly minute: number;
  /** 0 is Sunday. */
  readonly weekday: number;
}

const formats = new Map<string, Intl.DateTimeFormat>();
const weekdayIndex: Readonly<Record<string, number>> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };

function formatFor(timeZone: string): Intl.DateTimeFormat {
  let f = formats.get(timeZone);
  // Stryker disable next-line ConditionalExpression: equivalent, a format made again shows the same; the map only saves making it
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      weekday: 'short',
    });
    formats.set(timeZone, f);
  }
  return f;
}

/** Whether `timeZone` is an IANA time zone this runtime knows (`Europe/Berlin`, `UTC`). */
export function isTimeZone(timeZone: string): boolean {
  try {
    formatFor(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** What the wall clock of `timeZone` shows at `at`; daylight saving time included. */
export function wallClock(at: Date, timeZone: string): WallClock {
  // Stryker disable next-line ConditionalExpression,StringLiteral,BlockStatement: equivalent, Intl shows UTC the same; this path only skips it
  if (timeZone === 'UTC') {
    return {
      year: at.getUTCFullYear(),
      month: at.getUTCMonth() + 1,
      day: at.getUTCDate(),
      hour: at.getUTCHours(),
      minute: at.getUTCMinutes(),
      weekday: at.getUTCDay(),
    };
  }
  const parts: Record<string, string> = {};
  for (const p of formatFor(timeZone).formatToParts(at)) parts[p.type] = p.value;
  return {
    year: Number(parts['year']),
    month: Number(parts['month']),
    day: Number(parts['day']),
    hour: Number(parts['hour']),
    minute: Number(parts['minute']),
    // Stryker disable next-line StringLiteral: equivalent, formatToParts always gives a weekday with weekday: 'short'
    weekday: weekdayIndex[parts['weekday'] ?? ''] ?? 0,
  };
}

/** The wall clock of `timeZone` at `at`, written as if it were UTC (a "naive" time). */
export function naiveWallTime(at: Date, timeZone: string): number {
  const w = wallClock(at, timeZone);
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute) + (((at.getTime() % 60_000) + 60_000) % 60_000);
}

/**
 * The instant at which the wall clock of `timeZone` shows `naive` (a wall time written as UTC):
 * the earlier one when daylight saving repeats it, none when it skips it.
 */
export function instantOfWallTime(naive: number, timeZone: string): Date | undefined {
  // Offsets change at most once a day: those of a day before and a day after are the candidates.
  // A wall time repeats only when the offset falls, so the day before's (larger) offset gives the
  // earlier instant: the candidates are already in order.
  const offsetAt = (t: number) => naiveWallTime(new Date(t), timeZone) - t;
  const candidates = [naive - offsetAt(naive - DAY), naive - offsetAt(naive + DAY)];
  return candidates.map((t) => new Date(t)).find((t) => naiveWallTime(t, timeZone) === naive);
}

const DAY = 86_400_000;
