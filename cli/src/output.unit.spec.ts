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

  it('escapes control characters from event data on a terminal (clear screen, window title, C1 CSI, forged lines); piped output is unchanged', () => {
    const hostile = 'x\u001b[2J\u001b]0;pwned\u0007\u009b31m\r\nforged\tend';
    const tty = Object.assign(stream(true), {});
    const out = terminalOutput(tty, stream(false));
    out.line(hostile);
    out.json({ message: hostile });
    expect(tty.text()).toBe(
      'x\\u001b[2J\\u001b]0;pwned\\u0007\\u009b31m\\u000d\\u000aforged\tend\n' +
        '{"message":"x\\u001b[2J\\u001b]0;pwned\\u0007\\u009b31m\\r\\nforged\\tend"}\n',
    );
    // eslint-disable-next-line no-control-regex -- no control character may reach the terminal
    expect(tty.text()).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
    const piped = stream(false);
    terminalOutput(piped, stream(false)).line(hostile);
    expect(piped.text()).toBe(`${hostile}\n`);
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
