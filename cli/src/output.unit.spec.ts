import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parseSince, table, terminalOutput } from './output.js';

function stream(isTTY: boolean) {
  const s = new PassThrough() as unknown as NodeJS.WriteStream & { text: () => string };
  let text = '';
  s.on('data', (d: Buffer) => (text += d.toString()));
  Object.assign(s, { isTTY, text: () => text });
  return s;
}

describe('cli output', () => {
  it('shows a spinner with the seconds waited on a terminal, and clears it; nothing when piped', () => {
    const tty = stream(true);
    const stop = terminalOutput(stream(false), tty).progress('waiting for validation.completed');
    stop();
    expect(tty.text()).toBe('\r⠋ waiting for validation.completed 0s \r\u001b[K');
    const piped = stream(false);
    terminalOutput(stream(false), piped).progress('waiting')();
    expect(piped.text()).toBe('');
  });

  it('pads table columns to the widest cell', () => {
    expect(
      table(
        ['A', 'BB'],
        [
          ['xyz', '1'],
          ['q', '22'],
        ],
      ),
    ).toEqual(['A    BB', 'xyz  1', 'q    22']);
  });

  it('reads durations and names the flag when one is wrong', () => {
    expect(parseSince('--since', '2h')).toBe(7_200_000);
    expect(parseSince('--since', '1.5d')).toBe(129_600_000);
    expect(() => parseSince('--since', '2 hours')).toThrow(
      '--since "2 hours" is not a duration like 90s, 30m, 2h or 7d',
    );
  });
});
