import type { Logger } from 'pino';

const MINUTE = 60_000;

/**
 * Runs `run(end)` once per minute, `graceMs` after each minute boundary `end`, so that events of
 * the minute that just ended can still arrive. Runs never overlap; a failed run is logged and the
 * next minute runs as usual. Returns stop(), which waits for a run in progress.
 */
export function everyMinute(
  run: (end: Date) => Promise<void>,
  o: { graceMs: number; clock: () => Date; logger: Logger; what: string },
): () => Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  const arm = () => {
    if (stopped) return;
    const t = o.clock().getTime();
    const next = Math.floor((t - o.graceMs) / MINUTE) * MINUTE + MINUTE;
    timer = setTimeout(
      () => {
        running = run(new Date(next))
          .catch((e: unknown) => o.logger.error({ err: e }, `${o.what} failed; the next minute tries again`))
          .finally(arm);
      },
      next + o.graceMs - t,
    );
  };
  arm();
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await running;
  };
}
