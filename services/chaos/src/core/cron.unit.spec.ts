import { isMainThread } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import type { Blackout } from './gate.js';
import { CronError, cronMatches, firstFireInBlackout, nextFire, parseCron } from './cron.js';
import { instantOfWallTime } from './wallclock.js';

const at = (iso: string) => new Date(iso);

describe('cron', () => {
  /** The minutes of one UTC day (2026-11-23, a Monday, unless given) the cron fires in, as HH:MM. */
  const firesOn = (expr: string, day = '2026-11-23') => {
    const c = parseCron(expr);
    const out: string[] = [];
    for (let t = at(`${day}T00:00:00Z`).getTime(); t < at(`${day}T00:00:00Z`).getTime() + 86_400_000; t += 60_000) {
      if (cronMatches(c, new Date(t))) out.push(new Date(t).toISOString().slice(11, 16));
    }
    return out;
  };

  it('parses lists, ranges, steps, names and aliases', () => {
    const quarters = firesOn('*/15 9-17 * * mon-fri');
    expect(quarters).toHaveLength(4 * 9);
    expect(quarters.slice(0, 5)).toEqual(['09:00', '09:15', '09:30', '09:45', '10:00']);
    expect(quarters.at(-1)).toBe('17:45');
    expect(firesOn('*/15 9-17 * * mon-fri', '2026-11-22')).toEqual([]); // a Sunday
    expect(firesOn('0 0 * * 7', '2026-11-22')).toEqual(['00:00']); // 7 is Sunday too
    expect(firesOn('0 0 * * 7')).toEqual([]);
    expect(firesOn('0 0 1 jan,jul *', '2027-07-01')).toEqual(['00:00']);
    expect(firesOn('0 0 1 jan,jul *', '2027-06-01')).toEqual([]);
    expect(firesOn('@weekly', '2026-11-22')).toEqual(['00:00']);
    expect(firesOn('@weekly')).toEqual([]);
    expect(firesOn('5/20 1 * * *')).toEqual(['01:05', '01:25', '01:45']);
    expect(parseCron('  @daily ').source).toBe('@daily');
  });

  it.each([
    ['* * * *', /has 4 field\(s\); a cron expression has 5/],
    ['60 * * * *', /^minute field: '60' is invalid \(.*\); it takes 0-59/],
    ['* 24 * * *', /^hour field: '24' is invalid \(.*\); it takes 0-23/],
    ['* * 0 * *', /^day-of-month field: '0' is invalid \(.*\); it takes 1-31/],
    ['* * * foo *', /^month field: 'foo' is invalid \(.*\); it takes 1-12 or jan-dec/],
    ['* * * * 8', /^day-of-week field: '8' is invalid \(.*\); it takes 0-7 or sun-sat/],
    ['*/0 * * * *', /^minute field: '\*\/0' is invalid \(.*stepping.*\)/],
    ['* 5-2 * * *', /^hour field: '5-2' is invalid \(.*larger.*\)/],
    ['5/0 * * * *', /^minute field: '5\/0' is invalid/],
    ['@fortnightly', /'@fortnightly' is not one of @hourly/],
  ])('%s is refused, naming the field', (expr, message) => {
    expect(() => parseCron(expr)).toThrow(CronError);
    expect(() => parseCron(expr)).toThrow(message);
  });

  it('a wall time daylight saving skips does not fire; one it repeats fires twice (as Vixie cron)', () => {
    const c = parseCron('30 2 * * *');
    // Berlin skips 02:00-03:00 on 29 March 2026 and repeats it on 25 October.
    expect(cronMatches(c, at('2026-03-29T00:30:00Z'), 'Europe/Berlin')).toBe(false);
    expect(cronMatches(c, at('2026-03-29T01:30:00Z'), 'Europe/Berlin')).toBe(false);
    expect(nextFire(c, at('2026-03-28T12:00:00Z'), 5, 'Europe/Berlin')?.toISOString()).toBe('2026-03-30T00:30:00.000Z');
    expect(cronMatches(c, at('2026-10-25T00:30:00Z'), 'Europe/Berlin')).toBe(true);
    expect(cronMatches(c, at('2026-10-25T01:30:00Z'), 'Europe/Berlin')).toBe(true);
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
    // Two blackouts holding the same first fire: the one listed first is named.
    const both: Blackout[] = [...office, { days: ['wed'], from: '08:00', to: '12:00' }];
    expect(firstFireInBlackout(parseCron('0 10 * * wed'), both, from)?.blackout).toBe(both[0]);
    expect(firstFireInBlackout(parseCron('0 10 * * wed'), [...both].reverse(), from)?.blackout).toBe(both[1]);
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

  it('a schedule firing every minute outside the blackouts is no clash; one minute inside is', () => {
    const office: Blackout[] = [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '09:00', to: '17:00' }];
    const from = at('2026-11-22T00:00:00Z');
    expect(firstFireInBlackout(parseCron('* 0-8,17-23 * * *'), office, from, 'Europe/Berlin')).toBeUndefined();
    // 17:00 is the blackout's end, not in it; 16:59 is in it.
    expect(firstFireInBlackout(parseCron('59 16 * * mon'), office, from, 'Europe/Berlin')?.at.toISOString()).toBe(
      '2026-11-23T15:59:00.000Z',
    );
    // The night window's morning part belongs to the day after the listed Saturday.
    const night: Blackout[] = [{ days: ['sat'], from: '22:00', to: '04:00' }];
    expect(firstFireInBlackout(parseCron('* 4-21 * * *'), night, from)).toBeUndefined();
    expect(firstFireInBlackout(parseCron('59 3 * * *'), night, from)?.at.toISOString()).toBe(
      '2026-11-22T03:59:00.000Z',
    );
  });

  it('a fire at a wall time daylight saving skips is no clash', () => {
    // 02:30 on the last Sunday of March does not occur in Berlin; the blackout covers only it.
    const dstNight: Blackout[] = [{ days: ['sun'], from: '02:00', to: '03:00' }];
    const clash = firstFireInBlackout(parseCron('30 2 29 3 *'), dstNight, at('2026-01-01T00:00:00Z'), 'Europe/Berlin');
    // Within four years 29 March is a Sunday only in 2026, the very day 02:30 is skipped.
    expect(clash).toBeUndefined();
    expect(
      firstFireInBlackout(
        parseCron('30 2 * * sun'),
        dstNight,
        at('2026-03-28T00:00:00Z'),
        'Europe/Berlin',
      )?.at.toISOString(),
    ).toBe('2026-04-05T00:30:00.000Z');
  });

  it('finds the instant of a wall time: the earlier of a repeated one, none for a skipped one', () => {
    const wall = (iso: string) => at(iso).getTime();
    expect(instantOfWallTime(wall('2026-11-25T18:00:00Z'), 'Europe/Berlin')?.toISOString()).toBe(
      '2026-11-25T17:00:00.000Z',
    );
    expect(instantOfWallTime(wall('2026-03-29T02:30:00Z'), 'Europe/Berlin')).toBeUndefined();
    expect(instantOfWallTime(wall('2026-10-25T02:30:00Z'), 'Europe/Berlin')?.toISOString()).toBe(
      '2026-10-25T00:30:00.000Z',
    );
    expect(instantOfWallTime(wall('2026-11-22T09:15:00Z'), 'Asia/Kolkata')?.toISOString()).toBe(
      '2026-11-22T03:45:00.000Z',
    );
  });

  it('steps from a start and over a range; a refusal carries its code', () => {
    expect(firesOn('15/20 1 * * *')).toEqual(['01:15', '01:35', '01:55']);
    expect(firesOn('10-20/5 1 * * *')).toEqual(['01:10', '01:15', '01:20']);
    expect(firesOn('0 1,3 * * *')).toEqual(['01:00', '03:00']);
    expect(() => parseCron('61 * * * *')).toThrow(expect.objectContaining({ code: 'CRON_INVALID' }));
  });

  it('the next fire is at or after `from`, within the horizon', () => {
    const wed = parseCron('0 10 * * wed');
    expect(nextFire(wed, at('2026-11-25T10:00:00Z'))?.toISOString()).toBe('2026-11-25T10:00:00.000Z');
    expect(nextFire(wed, at('2026-11-25T10:00:01Z'))?.toISOString()).toBe('2026-12-02T10:00:00.000Z');
    // The horizon ends before its last instant: a fire exactly seven days on is outside seven days.
    const once = parseCron('0 10 2 12 *');
    expect(nextFire(once, at('2026-11-25T10:00:00Z'), 7)).toBeUndefined();
    expect(nextFire(once, at('2026-11-25T10:00:00Z'), 8)?.toISOString()).toBe('2026-12-02T10:00:00.000Z');
    expect(nextFire(parseCron('0 0 29 feb *'), at('2026-11-22T00:00:00Z'), 30)).toBeUndefined();
  });

  it('of two blackouts, the clash reported is the earlier one that day', () => {
    const from = at('2026-11-22T00:00:00Z');
    const late: Blackout = { days: ['mon'], from: '12:00', to: '13:00' };
    const early: Blackout = { days: ['mon'], from: '08:00', to: '09:00' };
    for (const order of [
      [late, early],
      [early, late],
    ]) {
      expect(firstFireInBlackout(parseCron('30 * * * mon'), order, from)).toEqual({
        at: at('2026-11-23T08:30:00Z'),
        blackout: early,
      });
    }
  });

  it('says what croner found, without its prefix; fields may be apart by several spaces', () => {
    expect(() => parseCron('* 24 * * *')).toThrow(
      "hour field: '24' is invalid (Invalid value for hour: 24); it takes 0-23, as lists, ranges and steps",
    );
    expect(firesOn('0  1   * * *')).toEqual(['01:00']);
  });

  it('past a skipped wall time, a later fire in the same blackout is the clash', () => {
    // 29 March 2026 in Berlin: 02:30 does not occur, 03:30 does (01:30 UTC).
    const night: Blackout[] = [{ days: ['sun'], from: '02:00', to: '04:00' }];
    expect(
      firstFireInBlackout(
        parseCron('30 2,3 * * sun'),
        night,
        at('2026-03-28T00:00:00Z'),
        'Europe/Berlin',
      )?.at.toISOString(),
    ).toBe('2026-03-29T01:30:00.000Z');
  });

  it('only a whole start-and-step is widened: croner’s reason quotes anything else as written', () => {
    // `5/2x` is not a start with a step, so it is left as written, and croner's words quote it so.
    expect(() => parseCron('5/2x * * * *')).toThrow(
      "minute field: '5/2x' is invalid (configuration entry 1 (5/2x) contains illegal characters.); it takes 0-59, as lists, ranges and steps",
    );
  });

  it('no fire where croner finds none: 31 February never comes, and nothing comes after the year 9999', () => {
    expect(nextFire(parseCron('0 0 31 2 *'), at('2026-11-22T00:00:00Z'))).toBeUndefined();
    const allDay: Blackout[] = [
      { days: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'], from: '00:00', to: '23:59' },
    ];
    expect(firstFireInBlackout(parseCron('* * * * *'), allDay, at('9999-12-31T23:59:00Z'))).toBeUndefined();
  });

  it('looks 1,462 days ahead from the day of `from`: a clash on the day after is beyond the search', () => {
    // 29 February is a Monday in 2044, 1,462 days after 28 February 2040, and not in 2040.
    const leapMonday: Blackout[] = [{ days: ['mon'], from: '00:00', to: '23:59' }];
    const leapNoon = parseCron('0 12 29 2 *');
    expect(firstFireInBlackout(leapNoon, leapMonday, at('2040-02-28T12:00:00Z'))).toBeUndefined();
    expect(firstFireInBlackout(leapNoon, leapMonday, at('2040-02-29T13:00:00Z'))?.at.toISOString()).toBe(
      '2044-02-29T12:00:00.000Z',
    );
  });

  it('one croner job per time zone, made on first use; the UTC one comes with the parse', () => {
    const c = parseCron('0 12 * * *');
    expect([...c.byZone.keys()]).toEqual(['UTC']);
    const utc = c.byZone.get('UTC');
    expect(cronMatches(c, at('2026-06-01T12:00:00Z'))).toBe(true);
    expect(cronMatches(c, at('2026-06-01T10:00:00Z'), 'Europe/Berlin')).toBe(true);
    expect([...c.byZone.keys()]).toEqual(['UTC', 'Europe/Berlin']);
    const berlin = c.byZone.get('Europe/Berlin');
    expect(nextFire(c, at('2026-06-01T00:00:00Z'), 2, 'Europe/Berlin')?.toISOString()).toBe('2026-06-01T10:00:00.000Z');
    expect(c.byZone.get('Europe/Berlin')).toBe(berlin);
    expect(c.byZone.get('UTC')).toBe(utc);
  });

  it('UTC unless told otherwise, whatever the process’s own time zone', (ctx) => {
    const saved = process.env['TZ'];
    // Node reads TZ again when it is assigned: local time is New York's for this test.
    process.env['TZ'] = 'America/New_York';
    try {
      // Not in a worker thread (Stryker's runner uses them): there the zone stays the process's.
      if (isMainThread) expect(new Date('2026-06-01T12:00:00Z').getHours()).toBe(8);
      else if (new Date('2026-06-01T12:00:00Z').getHours() !== 8)
        ctx.skip('a worker thread cannot change the time zone');
      const noon = parseCron('0 12 * * *');
      expect(cronMatches(noon, at('2026-06-01T12:00:00Z'))).toBe(true);
      expect(nextFire(noon, at('2026-06-01T00:00:00Z'))?.toISOString()).toBe('2026-06-01T12:00:00.000Z');
      const lunch: Blackout[] = [{ days: ['mon'], from: '11:00', to: '13:00' }];
      expect(firstFireInBlackout(noon, lunch, at('2026-06-01T00:00:00Z'))?.at.toISOString()).toBe(
        '2026-06-01T12:00:00.000Z',
      );
      expect(firstFireInBlackout(noon, lunch, at('2026-06-01T00:00:00Z'), 'UTC')?.at.toISOString()).toBe(
        '2026-06-01T12:00:00.000Z',
      );
    } finally {
      if (saved === undefined) delete process.env['TZ'];
      else process.env['TZ'] = saved;
    }
  });
});
