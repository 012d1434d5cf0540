import { describe, expect, it } from 'vitest';
import type { Blackout } from './gate.js';
import { CronError, cronMatches, firstFireInBlackout, nextFire, parseCron } from './cron.js';

const at = (iso: string) => new Date(iso);

describe('cron', () => {
  it('parses lists, ranges, steps, names and aliases', () => {
    const c = parseCron('*/15 9-17 * * mon-fri');
    expect([...c.minutes]).toEqual([0, 15, 30, 45]);
    expect([...c.hours]).toEqual([9, 10, 11, 12, 13, 14, 15, 16, 17]);
    expect([...c.weekdays]).toEqual([1, 2, 3, 4, 5]);
    expect([...parseCron('0 0 * * 7').weekdays]).toEqual([0]);
    expect([...parseCron('0 0 1 jan,jul *').months]).toEqual([1, 7]);
    expect(parseCron('@weekly')).toMatchObject({ minutes: new Set([0]), hours: new Set([0]), weekdays: new Set([0]) });
    expect([...parseCron('5/20 * * * *').minutes]).toEqual([5, 25, 45]);
  });

  it.each([
    ['* * * *', /has 4 field\(s\); a cron expression has 5/],
    ['60 * * * *', /minute field: 60 is outside 0-59/],
    ['* 24 * * *', /hour field: 24 is outside 0-23/],
    ['* * 0 * *', /day-of-month field: 0 is outside 1-31/],
    ['* * * foo *', /month field: 'foo' is not a number or a name/],
    ['* * * * 8', /day-of-week field: 8 is outside 0-7/],
    ['*/0 * * * *', /minute field: step '0' must be a positive integer/],
    ['* 5-2 * * *', /hour field: range 5-2 runs backwards/],
  ])('%s is refused, naming the field', (expr, message) => {
    expect(() => parseCron(expr)).toThrow(CronError);
    expect(() => parseCron(expr)).toThrow(message);
  });

  it('matches in UTC; day-of-month and day-of-week restricted together mean either', () => {
    const c = parseCron('30 10 * * wed');
    expect(cronMatches(c, at('2026-11-25T10:30:00Z'))).toBe(true); // a Wednesday
    expect(cronMatches(c, at('2026-11-26T10:30:00Z'))).toBe(false);
    const either = parseCron('0 0 13 * fri');
    expect(cronMatches(either, at('2026-11-13T00:00:00Z'))).toBe(true); // the 13th, a Friday
    expect(cronMatches(either, at('2026-11-20T00:00:00Z'))).toBe(true); // a Friday
    expect(cronMatches(either, at('2026-12-13T00:00:00Z'))).toBe(true); // the 13th, a Sunday
    expect(cronMatches(either, at('2026-12-14T00:00:00Z'))).toBe(false);
  });

  it('matches on the wall clock of a time zone, across daylight saving time and half-hour offsets', () => {
    const c = parseCron('0 18 * * wed');
    expect(cronMatches(c, at('2026-11-25T17:00:00Z'), 'Europe/Berlin')).toBe(true); // UTC+1 in winter
    expect(cronMatches(c, at('2026-07-01T16:00:00Z'), 'Europe/Berlin')).toBe(true); // UTC+2 in summer
    expect(cronMatches(c, at('2026-11-25T18:00:00Z'), 'Europe/Berlin')).toBe(false);
    expect(nextFire(c, at('2026-11-22T00:00:00Z'), 30, 'Asia/Kolkata')?.toISOString()).toBe('2026-11-25T12:30:00.000Z');
    expect(nextFire(parseCron('15 9 * * *'), at('2026-11-22T00:00:00Z'), 30, 'Asia/Kolkata')?.toISOString()).toBe(
      '2026-11-22T03:45:00.000Z',
    );
  });

  it('a schedule after the working day in its own time zone never clashes with that working day', () => {
    const office: Blackout[] = [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '09:00', to: '17:00' }];
    const from = at('2026-11-22T00:00:00Z');
    for (const tz of ['UTC', 'Europe/Berlin', 'America/Los_Angeles', 'Asia/Kolkata', 'Australia/Sydney']) {
      expect(firstFireInBlackout(parseCron('0 18 * * wed'), office, from, tz), tz).toBeUndefined();
    }
    // The same cron read in UTC fires inside Los Angeles' working day.
    expect(firstFireInBlackout(parseCron('0 18 * * wed'), office, from, 'UTC')).toBeUndefined();
    expect(firstFireInBlackout(parseCron('0 10 * * wed'), office, from, 'America/Los_Angeles')?.at.toISOString()).toBe(
      '2026-11-25T18:00:00.000Z',
    );
  });

  it('finds the next fire, also a year away', () => {
    expect(nextFire(parseCron('0 10 * * wed'), at('2026-11-22T11:00:00Z'))?.toISOString()).toBe(
      '2026-11-25T10:00:00.000Z',
    );
    expect(nextFire(parseCron('0 0 29 feb *'), at('2026-11-22T00:00:00Z'))?.toISOString()).toBe(
      '2028-02-29T00:00:00.000Z',
    );
  });

  it('knows when a schedule fires inside a blackout, past midnight and on leap days too', () => {
    const office: Blackout[] = [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '09:00', to: '17:00' }];
    const from = at('2026-11-22T00:00:00Z');
    expect(firstFireInBlackout(parseCron('0 10 * * wed'), office, from)?.at.toISOString()).toBe(
      '2026-11-25T10:00:00.000Z',
    );
    expect(firstFireInBlackout(parseCron('0 3 * * wed'), office, from)).toBeUndefined();
    const night: Blackout[] = [{ days: ['sat'], from: '22:00', to: '04:00' }];
    expect(firstFireInBlackout(parseCron('30 1 * * sun'), night, from)?.at.toISOString()).toBe(
      '2026-11-22T01:30:00.000Z',
    );
    const leap: Blackout[] = [{ days: ['tue'], from: '00:00', to: '01:00' }];
    // 29 February 2028 is a Tuesday.
    expect(firstFireInBlackout(parseCron('0 0 29 feb *'), leap, from)?.at.toISOString()).toBe(
      '2028-02-29T00:00:00.000Z',
    );
  });
});
