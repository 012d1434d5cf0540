import { describe, expect, it } from 'vitest';
import { parseCsv, parseTime } from './csv.js';

describe('backtest CSV', () => {
  it('reads ISO 8601 and epoch-second times, with or without a header', () => {
    expect(parseTime('2026-01-05 10:00:00')).toBe(Date.UTC(2026, 0, 5, 10));
    expect(parseTime('2026-01-05T10:00:00+01:00')).toBe(Date.UTC(2026, 0, 5, 9));
    expect(parseTime('1767607200')).toBe(1_767_607_200_000);
    const rows = parseCsv('timestamp,value\n2026-01-05 10:00:00,1.5\n\n2026-01-05 10:05:00,-2e3\n', 'f.csv');
    expect(rows).toEqual([
      { timestamp: '2026-01-05 10:00:00', at: Date.UTC(2026, 0, 5, 10), value: 1.5 },
      { timestamp: '2026-01-05 10:05:00', at: Date.UTC(2026, 0, 5, 10, 5), value: -2000 },
    ]);
    expect(parseCsv('1767607200,3\n1767607500,4\n', 'f.csv').map((r) => r.value)).toEqual([3, 4]);
  });

  it.each([
    ['time,val\n1,2\n', /^f\.csv:1: the header must be timestamp,value/],
    ['1,2,3\n', /^f\.csv:1: expected 2 columns/],
    ['yesterday,2\n', /^f\.csv:1: timestamp 'yesterday' is neither ISO 8601 nor epoch seconds/],
    ['1,2\n2,abc\n', /^f\.csv:2: value 'abc' is not a number/],
    ['5,2\n5,3\n', /^f\.csv:2: timestamp 5 is not after the row before \(5\)/],
  ])('names the line and what is wrong: %j', (text, message) => {
    expect(() => parseCsv(text, 'f.csv')).toThrow(message);
  });
});
