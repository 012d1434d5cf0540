import { describe, expect, it } from 'vitest';
import { instantOfWallTime, isTimeZone, naiveWallTime, wallClock } from './wallclock.js';

describe('the wall clock of a time zone', () => {
  it('knows IANA zones and says no to the rest', () => {
    expect(isTimeZone('Europe/Berlin')).toBe(true);
    expect(isTimeZone('UTC')).toBe(true);
    expect(isTimeZone('Mars/Olympus')).toBe(false);
  });

  it('shows date, time and weekday, daylight saving included', () => {
    expect(wallClock(new Date('2026-07-05T22:30:00Z'), 'Europe/Berlin')).toEqual({
      year: 2026,
      month: 7,
      day: 6,
      hour: 0,
      minute: 30,
      weekday: 1,
    });
    expect(wallClock(new Date('2026-01-04T23:59:00Z'), 'UTC')).toEqual({
      year: 2026,
      month: 1,
      day: 4,
      hour: 23,
      minute: 59,
      weekday: 0,
    });
  });

  it('a naive wall time keeps the seconds and milliseconds of the instant, also before 1970', () => {
    expect(naiveWallTime(new Date('2026-03-01T10:00:30.500Z'), 'Europe/Berlin')).toBe(
      Date.UTC(2026, 2, 1, 11, 0, 30, 500),
    );
    expect(naiveWallTime(new Date(-30_000), 'UTC')).toBe(-30_000);
    expect(naiveWallTime(new Date(-30_000), 'Europe/Berlin')).toBe(-30_000 + 3_600_000);
  });

  it('a wall time daylight saving repeats is its earlier instant; one it skips has none', () => {
    // Berlin, 2026-10-25: 02:30 happens at 00:30Z (summer time) and again at 01:30Z.
    expect(instantOfWallTime(Date.UTC(2026, 9, 25, 2, 30), 'Europe/Berlin')?.toISOString()).toBe(
      '2026-10-25T00:30:00.000Z',
    );
    // Sydney, 2026-04-05: 02:30 happens at 15:30Z the day before (daylight time) and at 16:30Z.
    expect(instantOfWallTime(Date.UTC(2026, 3, 5, 2, 30), 'Australia/Sydney')?.toISOString()).toBe(
      '2026-04-04T15:30:00.000Z',
    );
    // Berlin, 2026-03-29: clocks go from 02:00 to 03:00.
    expect(instantOfWallTime(Date.UTC(2026, 2, 29, 2, 30), 'Europe/Berlin')).toBeUndefined();
    expect(instantOfWallTime(Date.UTC(2026, 2, 29, 3, 30), 'Europe/Berlin')?.toISOString()).toBe(
      '2026-03-29T01:30:00.000Z',
    );
  });
});
