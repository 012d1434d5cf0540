import { VigilError } from '@vigil/events';

/** One input row of a backtest: its time as written, as epoch milliseconds, and its value. */
export interface CsvRow {
  readonly timestamp: string;
  readonly at: number;
  readonly value: number;
}

/** A backtest CSV file that cannot be read; the message names the line and column. */
export class CsvError extends VigilError {
  readonly code = 'CSV_INVALID';
}

const ISO = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * A time as ISO 8601 (a date, or a date and time; without a zone it is UTC) or as epoch seconds
 * (fractions allowed); NaN when it is neither.
 */
export function parseTime(text: string): number {
  if (NUMBER.test(text)) return Number(text) * 1000;
  if (!ISO.test(text)) return Number.NaN;
  const zoned = /(Z|[+-]\d{2}:?\d{2})$/.test(text) || text.length === 10 ? text : `${text.replace(' ', 'T')}Z`;
  return Date.parse(zoned.replace(' ', 'T'));
}

/**
 * `timestamp,value` rows, with or without that header line; blank lines are skipped. Times must
 * increase, as the service's points of one series do. Errors name the file, the line and what is
 * wrong, and stop the backtest: a row quietly skipped would shift every score after it.
 */
export function parseCsv(text: string, file: string): CsvRow[] {
  const rows: CsvRow[] = [];
  const lines = text.split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    const where = `${file}:${i + 1}`;
    if (line === '') continue;
    const cells = line.split(',').map((c) => c.trim().replace(/^"(.*)"$/, '$1'));
    if (rows.length === 0 && i === lines.findIndex((l) => l.trim() !== '') && !NUMBER.test(cells[1] ?? '')) {
      if (cells[0]?.toLowerCase() !== 'timestamp' || cells[1]?.toLowerCase() !== 'value' || cells.length !== 2) {
        throw new CsvError(`${where}: the header must be timestamp,value (found '${line.slice(0, 80)}')`);
      }
      continue;
    }
    if (cells.length !== 2) throw new CsvError(`${where}: expected 2 columns (timestamp,value), found ${cells.length}`);
    const [timestamp, valueText] = cells as [string, string];
    const at = parseTime(timestamp);
    if (Number.isNaN(at)) {
      throw new CsvError(`${where}: timestamp '${timestamp.slice(0, 60)}' is neither ISO 8601 nor epoch seconds`);
    }
    if (!NUMBER.test(valueText)) throw new CsvError(`${where}: value '${valueText.slice(0, 60)}' is not a number`);
    const value = Number(valueText);
    if (!Number.isFinite(value)) throw new CsvError(`${where}: value '${valueText.slice(0, 60)}' is not finite`);
    const prev = rows.at(-1);
    if (prev !== undefined && at <= prev.at) {
      throw new CsvError(`${where}: timestamp ${timestamp} is not after the row before (${prev.timestamp})`);
    }
    rows.push({ timestamp, at, value });
  }
  return rows;
}
