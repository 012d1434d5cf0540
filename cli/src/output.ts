/** Lines to stdout, progress to stderr: a spinner with the seconds waited, on a terminal only. */
export interface Output {
  line(text: string): void;
  json(value: unknown): void;
  /** Resolves once a slow reader has taken what was written (at once when it keeps up). */
  drained(): Promise<void>;
  /** Shows that the command waits; returns stop(). */
  progress(what: string): () => void;
}

/**
 * C0 and C1 control characters (tab aside) and the line and paragraph separators, as `\u001b`:
 * event data is anyone's text, and on a terminal an escape sequence in it would clear the
 * screen, retitle the window or forge lines.
 */
export function escapeControls(text: string): string {
  return text.replace(
    // eslint-disable-next-line no-control-regex -- matching control characters is the point
    /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

export function terminalOutput(
  stdout: NodeJS.WriteStream = process.stdout,
  stderr: NodeJS.WriteStream = process.stderr,
): Output {
  // Piped output stays byte for byte what the events hold (| jq reads it); a terminal gets it escaped.
  const show = stdout.isTTY ? escapeControls : (t: string) => t;
  return {
    line: (text) => stdout.write(`${show(text)}\n`),
    json: (value) => stdout.write(`${show(JSON.stringify(value))}\n`),
    drained: () =>
      stdout.writableNeedDrain && !stdout.destroyed
        ? new Promise<void>((resolve) => {
            const done = () => {
              stdout.off('drain', done);
              stdout.off('close', done);
              resolve();
            };
            stdout.on('drain', done);
            stdout.on('close', done);
          })
        : Promise.resolve(),
    progress(what) {
      // Only on a terminal: a script reading stderr wants errors there, not progress.
      if (!stderr.isTTY) return () => undefined;
      const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
      const started = Date.now();
      let i = 0;
      const draw = () =>
        stderr.write(`\r${frames[i++ % frames.length]} ${what} ${((Date.now() - started) / 1000).toFixed(0)}s `);
      draw();
      const timer = setInterval(draw, 100);
      return () => {
        clearInterval(timer);
        stderr.write('\r\x1b[K');
      };
    },
  };
}

/** A plain text table: columns padded to their widest cell. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: readonly string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [fmt(header), ...rows.map(fmt)];
}

const MAX_SINCE_MS = 3650 * 86_400_000;

/** `2h`, `30m`, `7d`, `90s` → milliseconds; the message names the flag. */
export function parseSince(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h|d|w)$/.exec(text);
  if (m === null) throw new Error(`${flag} ${JSON.stringify(text)} is not a duration like 90s, 30m, 2h or 7d`);
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[m[2] as 's'];
  const ms = Number(m[1]) * unit;
  // Far past any history (EVENTS keeps 7 days) and, at 99999999d, past what a date can hold.
  if (ms > MAX_SINCE_MS) throw new Error(`${flag} ${text} reaches too far back: at most 3650d`);
  return ms;
}

/**
 * Ends the process with `code` once stdout and stderr have handed every byte to the reader.
 * `process.exit` right away drops what a pipe has not taken yet (`vigil replay | wc -l` counted 16
 * of 568 lines): an empty write's callback runs after every write queued before it.
 */
export function exitWhenFlushed(code: number, stdout: NodeJS.WriteStream = process.stdout): void {
  process.exitCode = code;
  const flushed = (stream: NodeJS.WriteStream) =>
    new Promise<void>((resolve) => {
      if (stream.destroyed || stream.writableEnded) return resolve();
      stream.write('', () => resolve());
    });
  void Promise.all([flushed(stdout), flushed(process.stderr)]).then(() => process.exit(code));
}

/**
 * A reader that stops early (`| head`) closes the pipe: the next write fails with EPIPE. That is
 * the reader's choice, not an error, so the command ends quietly with status 0.
 */
export function exitQuietlyOnClosedPipe(stdout: NodeJS.WriteStream = process.stdout): void {
  stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}
